"""The container actions history read off the events."""

from __future__ import annotations

from typing import Any

from higgins.processors import actions
from tests.unit.conftest import SPEC, envelope


def event(kind: str, seq: int, request_id: str, **data: Any) -> dict[str, Any]:
    return {**envelope(kind, seq, **data), "request_id": request_id}


HISTORY = [
    event("container.create.requested", 1, "req-a", **SPEC),
    event("container.scheduled", 2, "req-a", host="h1"),
    event("container.created", 3, "req-a", container_id="abc"),
    event("container.started", 4, "req-a"),
    event("container.stopped", 5, "req-watch", exit_code=0),
    event("container.start.requested", 6, "req-b"),
    event("container.failed", 7, "req-b", reason="Docker said no"),
    event("container.stop.requested", 8, "req-c", timeout=1),
]


def test_each_request_is_one_action_finished_by_its_result() -> None:
    found = actions.history(HISTORY)  # type: ignore[arg-type]
    assert [(a.action, a.request_id) for a in found] == [
        ("create", "req-a"), ("start", "req-b"), ("stop", "req-c")]
    create, start, stop = found
    assert (create.finish_time, create.message) == (HISTORY[2]["time"], None)
    assert [s.result for s in create.events] == ["Success"]
    assert (start.message, start.events[0].result, start.events[0].traceback) == (
        "Error", "Error", "Docker said no")
    assert (stop.finish_time, stop.events) == (None, ())


def test_observations_are_not_actions() -> None:
    only_watch = [event("container.create.requested", 1, "req-a", **SPEC),
                  event("container.stopped", 2, "req-watch", exit_code=0)]
    assert [a.request_id for a in actions.history(only_watch)] == ["req-a"]  # type: ignore[arg-type]
