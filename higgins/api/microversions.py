"""EDGE: OpenStack-API-Version negotiation for the `container` service type (Zun's rules)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from higgins.api import errors

SERVICE = "container"
HEADER = "OpenStack-API-Version"
MIN = (1, 1)
MAX = (1, 40)
_VERSION = re.compile(r"^([1-9][0-9]*)\.([0-9]+)$")


@dataclass(frozen=True, order=True)
class Version:
    major: int
    minor: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    def at_least(self, minor: int) -> bool:
        return (self.major, self.minor) >= (1, minor)


MIN_VERSION = Version(*MIN)
MAX_VERSION = Version(*MAX)


def negotiate(header: str | None) -> Version:
    """The version a request asked for; the minimum when it asked for none (as Zun does)."""
    if not header:
        return MIN_VERSION
    requested = _for_service(header)
    if requested is None:
        return MIN_VERSION
    if requested.lower() == "latest":
        return MAX_VERSION
    match = _VERSION.match(requested)
    if not match:
        raise errors.ApiError(406, "container.invalid_version",
                              f"Invalid API version format: {requested!r}; use MAJOR.MINOR.")
    version = Version(int(match.group(1)), int(match.group(2)))
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise errors.ApiError(
            406, "container.unsupported_version",
            f"Version {version} was requested but the minor version is not supported by this "
            f"service. The supported version range is: [{MIN_VERSION}, {MAX_VERSION}].",
        )
    return version


def _for_service(header: str) -> str | None:
    for part in header.split(","):
        words = part.split()
        if len(words) == 2 and words[0].lower() == SERVICE:
            return words[1]
    return None


def response_headers(version: Version | None) -> dict[str, str]:
    headers = {
        "OpenStack-API-Minimum-Version": f"{SERVICE} {MIN_VERSION}",
        "OpenStack-API-Maximum-Version": f"{SERVICE} {MAX_VERSION}",
        "Vary": HEADER,
    }
    if version is not None:
        headers[HEADER] = f"{SERVICE} {version}"
    return headers
