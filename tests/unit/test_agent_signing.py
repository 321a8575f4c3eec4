"""The signature on the API's calls to an agent, the pure part: a call signed with the shared
key is accepted once, within the window; anything else is refused with the reason."""

from __future__ import annotations

import dataclasses

import pytest

from higgins.processors import signing
from higgins.processors.signing import Call, Nonces

KEY = "k" * 32
NOW = 1_795_000_000.0
NONCE = "0123456789abcdef0123456789abcdef"
CALL = Call("POST", "node-1", "/containers/c1/logs", b'{"tail": "10"}')


def signed(call: Call = CALL, key: str = KEY, at: float = NOW,
           nonce: str = NONCE) -> dict[str, str]:
    return signing.headers(key, call, at, nonce)


def test_a_call_signed_with_the_key_is_accepted() -> None:
    assert signing.refusal(KEY, CALL, signed(), NOW, Nonces()) is None


@pytest.mark.parametrize(("given", "checked", "at", "reason"), [
    (signed(key="x" * 32), CALL, NOW, "bad signature"),
    (signed(), dataclasses.replace(CALL, body=b'{"tail": "all"}'), NOW, "bad signature"),
    (signed(), dataclasses.replace(CALL, path="/containers/c2/logs"), NOW, "bad signature"),
    (signed(), dataclasses.replace(CALL, method="GET"), NOW, "bad signature"),
    (signed(), dataclasses.replace(CALL, host="node-2"), NOW, "bad signature"),
    (signed(at=NOW - 61), CALL, NOW, "timestamp expired"),
    (signed(at=NOW + 61), CALL, NOW, "timestamp in the future"),
    ({}, CALL, NOW, "unsigned call"),
    ({k: v for k, v in signed().items() if k != signing.SIGNATURE}, CALL, NOW,
     "unsigned call"),
    ({**signed(), signing.TIMESTAMP: "soon"}, CALL, NOW, "malformed timestamp"),
    ({**signed(), signing.TIMESTAMP: "\u00b2"}, CALL, NOW, "malformed timestamp"),
    (signed(nonce="short"), CALL, NOW, "malformed nonce"),
    (signed(nonce="n" * 16 + "/.."), CALL, NOW, "malformed nonce"),
    ({**signed(), signing.SIGNATURE: "v1=" + "0" * 64}, CALL, NOW, "bad signature"),
], ids=["wrong-key", "altered-body", "altered-path", "altered-method", "other-host",
        "expired", "future", "no-headers", "no-signature", "malformed-timestamp",
        "unicode-digit-timestamp", "short-nonce", "nonce-with-slashes", "forged-signature"])
def test_a_call_not_signed_as_the_agent_expects_is_refused(
        given: dict[str, str], checked: Call, at: float, reason: str) -> None:
    assert signing.refusal(KEY, checked, given, at, Nonces()) == reason


@pytest.mark.parametrize("skew", [-60, 0, 60], ids=["window-start", "now", "window-end"])
def test_a_timestamp_within_the_window_either_way_is_accepted(skew: float) -> None:
    assert signing.refusal(KEY, CALL, signed(at=NOW + skew), NOW, Nonces()) is None


def test_a_replayed_call_is_refused() -> None:
    nonces = Nonces()
    assert signing.refusal(KEY, CALL, signed(), NOW, nonces) is None
    assert signing.refusal(KEY, CALL, signed(), NOW + 1, nonces) == "nonce already used"


def test_a_replay_after_the_window_is_refused_for_its_timestamp() -> None:
    nonces = Nonces()
    assert signing.refusal(KEY, CALL, signed(), NOW, nonces) is None
    assert signing.refusal(KEY, CALL, signed(), NOW + 61, nonces) == "timestamp expired"


def test_a_forged_call_does_not_use_up_its_nonce() -> None:
    nonces = Nonces()
    assert signing.refusal(KEY, CALL, signed(key="x" * 32), NOW, nonces) == "bad signature"
    assert signing.refusal(KEY, CALL, signed(), NOW, nonces) is None


def test_nonces_are_forgotten_once_their_timestamp_leaves_the_window() -> None:
    nonces = Nonces()
    for n in range(10):
        assert nonces.admit(f"{n:016d}", int(NOW), NOW) is None
    assert nonces.admit("a" * 16, int(NOW) + 60, NOW + 61) is None
    assert len(nonces) == 1


def test_a_full_nonce_cache_refuses_new_calls_rather_than_forget_live_nonces() -> None:
    nonces = Nonces(limit=2)
    assert nonces.admit("a" * 16, int(NOW), NOW) is None
    assert nonces.admit("b" * 16, int(NOW), NOW) is None
    assert nonces.admit("c" * 16, int(NOW), NOW) == "too many calls in the window"
    assert nonces.admit("a" * 16, int(NOW), NOW + 1) == "nonce already used"
    assert nonces.admit("c" * 16, int(NOW), NOW + 61) is None


def test_the_signature_covers_the_exact_body_bytes() -> None:
    spaced = dataclasses.replace(CALL, body=b'{"tail":  "10"}')
    assert signing.refusal(KEY, spaced, signed(), NOW, Nonces()) == "bad signature"
