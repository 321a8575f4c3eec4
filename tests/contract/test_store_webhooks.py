"""The WebhookBook port's contract (store/base.py), run against every store adapter: each test
uses subscriptions of its own (fresh uuids), so the Cassandra keyspace is shared safely."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from higgins import events
from higgins.processors.webhooks import Attempt, Delivery, DeliveryState, Secret, Subscription
from higgins.store.base import WebhookBook
from tests.contract.conftest import STORES, each_store


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[WebhookBook]:
    yield from each_store(request, tmp_path)


def _subscription(project: str, created_at: str = "2026-11-24T00:00:00Z") -> Subscription:
    return Subscription(str(uuid.uuid4()), project, "u1", "https://hooks.example/x",
                        ("container.*",), (Secret("whsec_AAAA", None), Secret("whsec_BBBB", 9.5)),
                        created_at, labels={"a": "b"}, containers=("web",))


def _event() -> events.Envelope:
    return events.Envelope(id=str(uuid.uuid4()), type="container.started",
                           subject=str(uuid.uuid4()), seq=3, time="2026-11-24T00:00:03Z",
                           project_id="p1", user_id="u1", request_id="req-1", data={"x": 1})


def test_subscriptions_round_trip_and_list_by_project_oldest_first(store: WebhookBook) -> None:
    project = f"p-{uuid.uuid4().hex[:8]}"
    later = _subscription(project, "2026-11-24T00:00:09Z")
    first = _subscription(project)
    for made in (later, first, _subscription("someone-else")):
        store.save_subscription(made)
    assert store.load_subscription(first.uuid) == first
    assert store.find_subscriptions(project) == [first, later]
    changed = first.evolve(enabled=False, disabled_reason="gave up")
    store.save_subscription(changed)
    assert store.find_subscriptions(project)[0] == changed
    assert {s.uuid for s in store.find_subscriptions()} >= {first.uuid, later.uuid}


def test_no_subscription_is_of_no_project(store: WebhookBook) -> None:
    """A host's own report carries no project: asking for its subscriptions finds none (and
    is not an error: Cassandra refuses an empty partition key)."""
    store.save_subscription(_subscription(f"p-{uuid.uuid4().hex[:8]}"))
    assert store.find_subscriptions("") == []


def test_deleting_a_subscription_takes_its_deliveries_and_attempts(store: WebhookBook) -> None:
    made = _subscription(f"p-{uuid.uuid4().hex[:8]}")
    store.save_subscription(made)
    pending = Delivery(made.uuid, _event(), next_at=1.0)
    store.save_delivery(pending)
    store.record_attempt(Attempt(made.uuid, pending.event_id, "container.started", 1, 1.0, 2.0,
                                 500, "HTTP 500"))
    store.delete_subscription(made.uuid)
    assert store.load_subscription(made.uuid) is None
    assert store.find_subscriptions(made.project_id) == []
    assert store.load_delivery(made.uuid, pending.event_id) is None
    assert store.attempts(made.uuid) == []
    assert all(d.subscription != made.uuid for d in store.due_deliveries(10.0, 1000))


def test_pending_deliveries_are_due_at_next_at_and_others_never(store: WebhookBook) -> None:
    owner = str(uuid.uuid4())
    soon, later = Delivery(owner, _event(), next_at=100.0), Delivery(owner, _event(),
                                                                      next_at=200.0)
    done = Delivery(owner, _event(), state=DeliveryState.DELIVERED, attempts=1, next_at=50.0)
    for delivery in (later, soon, done):
        store.save_delivery(delivery)
    mine = [d for d in store.due_deliveries(150.0, 1000) if d.subscription == owner]
    assert mine == [soon]
    both = [d.event_id for d in store.due_deliveries(250.0, 1000) if d.subscription == owner]
    assert both == [soon.event_id, later.event_id]
    store.save_delivery(replace(soon, state=DeliveryState.DELIVERED, attempts=1))
    assert soon.event_id not in [d.event_id for d in store.due_deliveries(250.0, 1000)]
    assert store.load_delivery(owner, soon.event_id) == replace(
        soon, state=DeliveryState.DELIVERED, attempts=1)


def test_one_claimer_of_a_due_delivery_wins(store: WebhookBook) -> None:
    owner = str(uuid.uuid4())
    due = Delivery(owner, _event(), next_at=100.0)
    store.save_delivery(due)
    assert store.claim_delivery(due, 160.0) is True
    assert store.claim_delivery(due, 170.0) is False  # read before the first claim: too late
    assert due.event_id not in [d.event_id for d in store.due_deliveries(150.0, 1000)]
    claimed = store.load_delivery(owner, due.event_id)
    assert claimed is not None and claimed.next_at == 160.0  # due again if its claimer dies
    assert due.event_id in [d.event_id for d in store.due_deliveries(161.0, 1000)]


def test_attempts_are_listed_newest_first(store: WebhookBook) -> None:
    owner, event = str(uuid.uuid4()), str(uuid.uuid4())
    tries = [Attempt(owner, event, "container.started", n, 10.0 * n, 1.5, 500 if n < 3 else 204,
                     None if n == 3 else "HTTP 500") for n in (1, 2, 3)]
    for attempt in tries:
        store.record_attempt(attempt)
    assert store.attempts(owner) == list(reversed(tries))
    assert store.attempts(owner, limit=1) == [tries[2]]
