"""EDGE: Zun's list paging: sort_key / sort_dir, then marker / limit, and the `next` link."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

import flask

from higgins.api import errors, parsing

QUERY = ("limit", "marker", "sort_key", "sort_dir")


class Listed(Protocol):
    @property
    def uuid(self) -> str: ...


T = TypeVar("T", bound=Listed)


def field(item: Any, key: str) -> Any:
    value = getattr(item, key)
    return value if value is not None else ""


def sort(found: list[T], keys: Sequence[str], default: str) -> list[T]:
    key = flask.request.args.get("sort_key", default)
    direction = flask.request.args.get("sort_dir", "asc")
    if key not in keys:
        raise errors.bad_request(f"Invalid sort_key {key!r}; use one of {', '.join(keys)}.")
    if direction not in ("asc", "desc"):
        raise errors.bad_request(f"Invalid sort_dir {direction!r}; use asc or desc.")
    return sorted(found, key=lambda item: str(field(item, key)), reverse=direction == "desc")


def page(found: list[T], collection: str) -> tuple[list[T], str | None]:
    """The page the marker and limit ask for, and the URL of the next one (None at the end)."""
    marker = flask.request.args.get("marker")
    if marker:
        uuids = [item.uuid for item in found]
        if marker not in uuids:
            raise errors.bad_request(f"Marker {marker} is not in this listing of {collection}.")
        found = found[uuids.index(marker) + 1:]
    limit = parsing.query_int("limit", None, minimum=1)
    if limit is None or len(found) <= limit:
        return found, None
    shown = found[:limit]
    base = flask.request.host_url.rstrip("/")
    return shown, f"{base}/v1/{collection}/?limit={limit}&marker={shown[-1].uuid}"
