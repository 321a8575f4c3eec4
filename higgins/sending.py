"""EDGE: webhook requests: where a URL may lead (resolved now: DNS can change between create
and delivery) and one POST with a timeout, redirects not followed. Side effects: DNS, HTTP."""

from __future__ import annotations

import socket
import threading
import urllib.parse
from collections.abc import Mapping, Sequence

import requests

from higgins.processors import webhooks

_local = threading.local()


def refused(url: str, allowed: Sequence[str]) -> str | None:
    """Why a webhook may not go to `url` (None: it may): not http(s), no host, a name that
    does not resolve, or any address it resolves to is refused (processors/webhooks.py)."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https"):
        return "only http and https URLs are allowed"
    if not parsed.hostname:
        return "the URL has no host"
    try:
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        found = socket.getaddrinfo(parsed.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, ValueError) as error:
        return f"{parsed.hostname} does not resolve ({error})"
    for address in sorted({str(info[4][0]) for info in found}):
        reason = webhooks.refused_address(address.split("%")[0], allowed)
        if reason:
            return f"{parsed.hostname} resolves to {address}, {reason}"
    return None


def post(url: str, payload: bytes, headers: Mapping[str, str], timeout: float,
         allowed: Sequence[str]) -> tuple[int | None, str | None]:
    """(HTTP status, error): a 2xx status is a delivery; anything else says why not."""
    reason = refused(url, allowed)
    if reason:
        return None, f"refused: {reason}"
    try:
        answer = _session().post(url, data=payload, headers=dict(headers), timeout=timeout,
                                 allow_redirects=False)
    except requests.RequestException as error:
        return None, f"{type(error).__name__}: {error}"[:500]
    answer.close()
    if 200 <= answer.status_code < 300:
        return answer.status_code, None
    if 300 <= answer.status_code < 400:
        return answer.status_code, f"HTTP {answer.status_code}: redirects are not followed"
    return answer.status_code, f"HTTP {answer.status_code}"


def _session() -> requests.Session:
    """One per thread (keep-alive to busy receivers); no proxies from the environment."""
    session: requests.Session | None = getattr(_local, "session", None)
    if session is None:
        session = requests.Session()
        session.trust_env = False
        _local.session = session
    return session
