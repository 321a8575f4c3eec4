"""PURE: the signature on the API's calls to a host's agent (logs, exec, top, stats, archives,
resizes): an HMAC-SHA256 with the key both share (`[agent] auth_key`) over the method, the
host, the path, a digest of the body, a timestamp and a nonce; and the agent's check of it,
which refuses stale or future timestamps and nonces it has seen. The clock and the nonce are
passed in; the cache of seen nonces is memory, not I/O."""

from __future__ import annotations

import hashlib
import heapq
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass

VERSION = "v1"
TIMESTAMP = "X-Higgins-Timestamp"
NONCE = "X-Higgins-Nonce"
SIGNATURE = "X-Higgins-Signature"
WINDOW_SECONDS = 60.0  # a call is refused when its timestamp is further than this from now
NONCE_LIMIT = 100_000  # nonces remembered at once (about 800 calls a second for 2 windows)
_NONCE = re.compile(r"[0-9A-Za-z_-]{16,64}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


@dataclass(frozen=True)
class Call:
    """What a signature covers: a request to the agent of `host`."""

    method: str
    host: str
    path: str  # with the query string, if any
    body: bytes


def message(call: Call, timestamp: int, nonce: str) -> bytes:
    digest = hashlib.sha256(call.body).hexdigest()
    return "\n".join((VERSION, call.method.upper(), call.host, call.path, str(timestamp),
                      nonce, digest)).encode()


def signature(key: str, call: Call, timestamp: int, nonce: str) -> str:
    mac = hmac.new(key.encode(), message(call, timestamp, nonce), hashlib.sha256)
    return f"{VERSION}={mac.hexdigest()}"


def headers(key: str, call: Call, now: float, nonce: str) -> dict[str, str]:
    """The headers that sign `call` at `now` with a fresh `nonce` (random, 16-64 characters of
    [0-9A-Za-z_-])."""
    timestamp = int(now)
    return {TIMESTAMP: str(timestamp), NONCE: nonce,
            SIGNATURE: signature(key, call, timestamp, nonce)}


class Nonces:
    """The nonces of the calls accepted within the window, each kept until its timestamp leaves
    the window (a replay after that is refused for its timestamp). Not thread-safe: the caller
    holds a lock around `refusal`."""

    def __init__(self, window: float = WINDOW_SECONDS, limit: int = NONCE_LIMIT) -> None:
        self.window = window
        self.limit = limit
        self._seen: set[str] = set()
        self._expiries: list[tuple[float, str]] = []  # a heap: the first to forget on top

    def __len__(self) -> int:
        return len(self._seen)

    def admit(self, nonce: str, timestamp: int, now: float) -> str | None:
        """None, and the nonce remembered; or why it is refused."""
        while self._expiries and self._expiries[0][0] < now:
            self._seen.discard(heapq.heappop(self._expiries)[1])
        if nonce in self._seen:
            return "nonce already used"
        if len(self._seen) >= self.limit:
            return "too many calls in the window"
        self._seen.add(nonce)
        heapq.heappush(self._expiries, (timestamp + self.window, nonce))
        return None


def refusal(key: str, call: Call, given: Mapping[str, str], now: float,
            nonces: Nonces) -> str | None:
    """None when `given` (the request's headers) signs `call` with `key` within the window
    and with a nonce not seen before (then remembered); otherwise the reason to refuse it."""
    timestamp, nonce, claimed = (given.get(TIMESTAMP), given.get(NONCE), given.get(SIGNATURE))
    if timestamp is None or nonce is None or claimed is None:
        return "unsigned call"
    if not _TIMESTAMP.fullmatch(timestamp):
        return "malformed timestamp"
    if not _NONCE.fullmatch(nonce):
        return "malformed nonce"
    skew = int(timestamp) - now
    if skew < -nonces.window:
        return "timestamp expired"
    if skew > nonces.window:
        return "timestamp in the future"
    expected = signature(key, call, int(timestamp), nonce)
    if not hmac.compare_digest(expected.encode(), claimed.encode()):
        return "bad signature"
    return nonces.admit(nonce, int(timestamp), now)
