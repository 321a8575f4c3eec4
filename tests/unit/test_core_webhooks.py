"""Webhooks, the pure part: who gets an event, the Standard Webhooks message and signature (as
the reference library verifies it), rotation, the retry schedule, and where a hook may go."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from higgins.processors import webhooks
from higgins.processors.webhooks import Attempt, Delivery, DeliveryState, Secret, Subscription
from tests.unit.conftest import UUID, created, envelope

SECRET = webhooks.secret_from(b"0123456789abcdef0123456789abcdef")


def subscription(**changes: Any) -> Subscription:
    base = Subscription(uuid="s1", project_id="p1", user_id="u1", url="https://hooks.example",
                        event_types=("container.*",), secrets=(Secret(SECRET),),
                        created_at="2026-11-24T00:00:00Z")
    return base.evolve(**changes)


@pytest.mark.parametrize(("changes", "kind", "wanted"), [
    ({}, "container.started", True),
    ({"event_types": ("container.started",)}, "container.started", True),
    ({"event_types": ("container.started",)}, "container.stopped", False),
    ({"event_types": ("container.*.requested",)}, "container.start.requested", True),
    ({"event_types": ("image.*",)}, "container.started", False),
    ({"project_id": "p2"}, "container.started", False),
    ({"enabled": False}, "container.started", False),
    ({"containers": (UUID,)}, "container.started", True),
    ({"containers": ("f" * 8 + "-0000-0000-0000-" + "0" * 12,)}, "container.started", False),
], ids=["pattern", "exact", "other-type", "inner-glob", "other-kind", "other-project",
        "disabled", "by-uuid", "other-uuid"])
def test_an_event_goes_to_its_projects_subscriptions_that_want_it(
        changes: dict[str, Any], kind: str, wanted: bool) -> None:
    assert webhooks.wants(subscription(**changes), envelope(kind, 2)) is wanted


def test_name_and_label_filters_read_the_container() -> None:
    by_name = subscription(containers=("web",))
    by_label = subscription(labels={"team": "blue"})
    event = envelope("container.started", 2)
    assert webhooks.needs_container(by_name) and webhooks.needs_container(by_label)
    assert webhooks.wants(by_name, event, created()) and webhooks.wants(by_label, event, created())
    assert not webhooks.wants(subscription(labels={"team": "red"}), event, created())
    assert not webhooks.wants(by_name, event, None)


@pytest.mark.parametrize(("pattern", "valid"), [
    ("container.started", True), ("container.*", True), ("*", True), ("", False),
    ("container..x", False), ("Container.Started", False), ("a/b", False)])
def test_event_type_patterns_are_dotted_globs(pattern: str, valid: bool) -> None:
    assert webhooks.valid_pattern(pattern) is valid


def test_a_delivery_verifies_with_the_standard_webhooks_library() -> None:
    event = envelope("container.started", 2)
    payload = webhooks.body(event)
    now = time.time()  # the library refuses timestamps more than 5 minutes off its clock
    headers = webhooks.headers(subscription(), event, now, payload)
    assert headers["webhook-id"] == event["id"]
    assert headers["webhook-timestamp"] == str(int(now))
    receiver = Webhook(SECRET)
    found = receiver.verify(payload, headers)
    assert found == json.loads(payload)
    assert found["type"] == "container.started" and found["data"]["id"] == event["id"]
    with pytest.raises(WebhookVerificationError):
        receiver.verify(payload + b" ", headers)


def test_during_a_rotations_grace_both_secrets_sign_and_after_it_only_the_new() -> None:
    new = webhooks.secret_from(b"x" * 32)
    rotated = webhooks.rotated(subscription(), new, now=100.0, grace=60.0)
    assert [s.value for s in webhooks.signing_secrets(rotated, 150.0)] == [new, SECRET]
    assert [s.value for s in webhooks.signing_secrets(rotated, 161.0)] == [new]
    signature = webhooks.signature(webhooks.signing_secrets(rotated, 150.0), "m", 1, b"{}")
    assert len(signature.split(" ")) == 2 and all(p.startswith("v1,") for p in
                                                   signature.split(" "))
    at_once = webhooks.rotated(subscription(), new, now=100.0, grace=0)
    assert [s.value for s in at_once.secrets] == [new]


def _attempt(status: int | None, at: float = 1000.0) -> Attempt:
    return Attempt("s1", "e1", "container.started", 1, at, 3.0, status,
                   None if status else "ConnectionError: refused")


def test_a_failure_waits_for_the_next_step_with_jitter_and_success_ends_it() -> None:
    delivery = Delivery("s1", envelope("container.started", 2))
    failed = webhooks.after(delivery, _attempt(500), schedule=(5, 60), jitter=0.5)
    assert failed.state is DeliveryState.PENDING and failed.attempts == 1
    assert failed.next_at == 1005.0 and failed.last_error == "HTTP 500"
    early = webhooks.after(delivery, _attempt(500), schedule=(5, 60), jitter=0.0)
    late = webhooks.after(delivery, _attempt(500), schedule=(5, 60), jitter=0.999)
    assert 1004.4 < early.next_at < failed.next_at < late.next_at < 1005.6
    done = webhooks.after(failed, _attempt(204), schedule=(5, 60), jitter=0.5)
    assert done.state is DeliveryState.DELIVERED and done.attempts == 2


def test_when_the_schedule_is_spent_the_delivery_fails_with_a_readable_reason() -> None:
    delivery = Delivery("s1", envelope("container.started", 2))
    for _ in range(3):
        delivery = webhooks.after(delivery, _attempt(None), schedule=(1, 1), jitter=0.5)
    assert delivery.state is DeliveryState.FAILED and delivery.attempts == 3
    assert "3 failed attempts" in webhooks.give_up_reason(delivery)
    assert "refused" in webhooks.give_up_reason(delivery)


@pytest.mark.parametrize(("address", "allowed", "refused"), [
    ("93.184.216.34", (), None),
    ("127.0.0.1", (), "a loopback address"),
    ("10.1.2.3", (), "a private address"),
    ("192.168.0.1", (), "a private address"),
    ("169.254.169.254", (), "the metadata service"),
    ("169.254.1.1", (), "a link-local address"),
    ("fd00:ec2::254", (), "the metadata service"),
    ("224.0.0.1", (), "a multicast address"),
    ("::1", (), "a loopback address"),
    ("0.0.0.0", (), "a private address"),
    ("127.0.0.1", ("127.0.0.0/8",), None),
    ("169.254.169.254", ("127.0.0.0/8",), "the metadata service"),
])
def test_webhooks_may_not_reach_internal_addresses_unless_allowed(
        address: str, allowed: tuple[str, ...], refused: str | None) -> None:
    assert webhooks.refused_address(address, allowed) == refused
