"""Replay's fold of the whole log (runtime/replay.fold_log): every subject's view from its
events in any interleaving, and as the views stood at a moment (`higgins replay --as-of`)."""

from __future__ import annotations

from typing import Any

import pytest

from higgins import events
from higgins.processors import containers
from higgins.processors.model import Status
from higgins.runtime import replay
from tests.unit.conftest import SPEC, UUID, envelope

OTHER = "0b7a3c55-93a3-4bd1-a7ae-1b8b8f0c2a10"


def at(second: int, event: events.Envelope) -> events.Envelope:
    return {**event, "time": f"2026-11-24T00:01:{second:02d}.000000+00:00"}


def life(subject: str) -> list[events.Envelope]:
    """Created, running, then stopped: seq 1-5, stamped at seconds 1-5."""
    steps: list[tuple[str, dict[str, Any]]] = [
        ("container.create.requested", SPEC), ("container.scheduled", {"host": "h1"}),
        ("container.created", {"container_id": "c1", "host": "h1"}),
        ("container.started", {}), ("container.stopped", {"exit_code": 0})]
    return [at(seq, envelope(kind, seq, subject, **data))
            for seq, (kind, data) in enumerate(steps, start=1)]


def status_of(states: dict[str, Any], subject: str) -> Status | None:
    state = states.get(subject)
    return state.status if state is not None else None


def test_subjects_interleaved_fold_as_each_alone() -> None:
    a, b = life(UUID), life(OTHER)
    interleaved = [e for pair in zip(a, b, strict=True) for e in pair]
    folded = replay.fold_log(interleaved)
    assert folded[UUID] == containers.fold_all(None, a)
    assert folded[OTHER] == containers.fold_all(None, b)


def test_a_host_subject_folds_into_a_host_view() -> None:
    report = envelope("host.reported", 1, events.host_subject("h1"), host="h1", cpus=2,
                      memory_mb=1024, runtimes=["runc"])
    assert replay.fold_log([report])[events.host_subject("h1")].name == "h1"


@pytest.mark.parametrize(("as_of", "status"), [
    ("2026-11-24T00:00:59Z", None),  # before the create: no view
    ("2026-11-24T00:01:01Z", Status.CREATING),
    ("2026-11-24T00:01:03.5Z", Status.CREATED),  # between two events
    ("2026-11-24T00:01:04Z", Status.RUNNING),  # an event stamped at TIME belongs
    ("2026-11-24T01:01:04+01:00", Status.RUNNING),  # the same moment, another offset
    ("2026-11-24T00:01:04", Status.RUNNING),  # no offset: UTC
    ("2026-11-24T00:02:00Z", Status.STOPPED),
], ids=["before", "created-requested", "between", "at", "offset", "naive-utc", "after"])
def test_as_of_folds_the_events_stamped_up_to_then(as_of: str, status: Status | None) -> None:
    assert status_of(replay.fold_log(life(UUID), replay.moment(as_of)), UUID) == status


def test_as_of_ends_a_subject_at_its_first_later_event() -> None:
    """A later seq stamped earlier (another process's clock) is not folded without the event
    before it: a view is only ever the fold of a prefix of its events."""
    a = life(UUID)
    skewed = [*a[:3], at(9, a[3]), at(2, a[4])]  # started at :09, then stopped "at :02"
    folded = replay.fold_log(skewed, replay.moment("2026-11-24T00:01:05Z"))
    assert folded[UUID] == containers.fold_all(None, a[:3])
    assert folded[UUID].status is Status.CREATED
