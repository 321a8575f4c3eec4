"""The webhook dispatcher on every store adapter: what a batch of the real event stream (host
reports mixed with containers' events) makes it send."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from higgins import dispatching, events
from higgins.processors.webhooks import DeliveryState, Secret, Subscription
from higgins.settings import WebhookSettings
from higgins.store.base import Store
from tests.contract.conftest import STORES, each_store


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    yield from each_store(request, tmp_path)


def _event(kind: str, subject: str, project: str) -> events.Envelope:
    return events.Envelope(id=str(uuid.uuid4()), type=kind, subject=subject, seq=1,
                           time="2026-12-01T00:00:00Z", project_id=project,
                           user_id="u1" if project else "", request_id="req-1", data={})


def test_a_batch_with_a_host_report_delivers_its_containers_events(store: Store) -> None:
    project = f"p-{uuid.uuid4().hex[:8]}"
    subscription = Subscription(str(uuid.uuid4()), project, "u1", "http://hooks.test/x", ("*",),
                                (Secret("whsec_AAAA", None),), "2026-12-01T00:00:00Z")
    store.save_subscription(subscription)
    container = str(uuid.uuid4())
    batch = [_event("container.create.requested", container, project),
             _event("host.reported", events.host_subject("h1"), ""),  # a host's: no project
             _event("container.created", container, project)]
    sent: list[str] = []

    def post(url: str, payload: bytes, headers: Mapping[str, str], timeout: float,
             allowed: Sequence[str]) -> tuple[int | None, str | None]:
        sent.append(headers["webhook-id"])
        return 204, None

    dispatcher = dispatching.Dispatcher(store, WebhookSettings(), post)
    try:
        dispatcher.handle(batch)
    finally:
        dispatcher.close()
    assert sorted(sent) == sorted([batch[0]["id"], batch[2]["id"]])
    for event in (batch[0], batch[2]):
        delivered = store.load_delivery(subscription.uuid, event["id"])
        assert delivered is not None and delivered.state is DeliveryState.DELIVERED
