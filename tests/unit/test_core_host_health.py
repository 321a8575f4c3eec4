"""A host whose reports stop: found silent after the down time, declared down once (its
containers Unknown first), a late finding changes nothing, a report brings it back up (the count
of downs stays, so its agent knows to reconcile), and its containers settle again from what the
agent reports."""

from __future__ import annotations

from higgins import events
from higgins.events import EventType
from higgins.processors import containers, hosts
from higgins.processors.model import ContainerState, HostState, Status
from tests.unit.conftest import envelope, in_status

SUBJECT = events.host_subject("h1")
INVENTORY = {"host": "h1", "cpus": 2, "memory_mb": 4096, "runtimes": ["runc"]}


def reported(seq: int = 1) -> HostState:
    state = hosts.fold(None, envelope(EventType.HOST_REPORTED, seq, subject=SUBJECT, **INVENTORY))
    assert state is not None
    return state


def down(state: HostState, seq: int, last_reported_at: str) -> HostState:
    after = hosts.fold(state, envelope(EventType.HOST_DOWN, seq, subject=SUBJECT, host="h1",
                                       last_reported_at=last_reported_at))
    assert after is not None
    return after


def test_a_host_is_silent_once_its_last_report_is_older_than_the_down_time() -> None:
    state = reported()  # reported at 2026-11-24T00:00:01
    assert hosts.silent([state], "2026-11-24T00:01:00+00:00", 60) == []
    assert hosts.silent([state], "2026-11-24T00:01:02+00:00", 60) == [state]


def test_a_host_down_or_deleted_is_not_found_silent_again() -> None:
    state = reported()
    gone = down(state, 2, state.reported_at)
    deleted = state.evolve(deleted=True)
    assert hosts.silent([gone, deleted], "2026-11-24T01:00:00+00:00", 60) == []


def test_down_counts_once_and_a_report_brings_the_host_back_keeping_the_count() -> None:
    state = reported()
    gone = down(down(state, 2, state.reported_at), 3, state.reported_at)
    assert (gone.down_since, gone.down_count) == ("2026-11-24T00:00:02+00:00", 1)
    back = hosts.fold(gone, envelope(EventType.HOST_REPORTED, 4, subject=SUBJECT, **INVENTORY))
    assert back is not None
    assert (back.down_since, back.down_count) == (None, 1)


def test_a_finding_based_on_an_older_report_changes_nothing() -> None:
    state = hosts.fold(reported(), envelope(EventType.HOST_REPORTED, 2, subject=SUBJECT,
                                            **INVENTORY))
    assert state is not None
    late = down(state, 3, "2026-11-24T00:00:01+00:00")  # the first report, not the last
    assert (late.down_since, late.down_count, late.seq) == (None, 0, 3)


def on(host: str, status: Status) -> ContainerState:
    return in_status(status, host=host)


def test_declaring_down_makes_the_hosts_live_containers_unknown_then_the_host_down() -> None:
    state = reported()
    mine = [on("h1", Status.RUNNING), on("h1", Status.STOPPED), on("h1", Status.DELETED),
            on("h1", Status.ERROR)]
    others = [on("h2", Status.RUNNING)]
    mine = [c.evolve(uuid=f"c{i}") for i, c in enumerate(mine)]
    unreachable, host_down = hosts.down_outcome(state, [*mine, *others])
    assert [(d.type, d.subject) for d in unreachable] == [
        (EventType.UNREACHABLE, "c0"), (EventType.UNREACHABLE, "c1")]
    assert "h1 stopped reporting" in unreachable[0].data["reason"]
    assert (host_down.type, host_down.subject, host_down.data) == (
        EventType.HOST_DOWN, SUBJECT, {"host": "h1", "last_reported_at": state.reported_at})


def test_an_unreachable_container_is_unknown_with_the_reason_until_its_agent_reports() -> None:
    running = in_status(Status.RUNNING, host="h1", seq=5)
    unknown = containers.fold(running, envelope(EventType.UNREACHABLE, 6, host="h1",
                                                reason="h1 is silent"))
    assert unknown is not None
    assert (unknown.status, unknown.status_reason) == (Status.UNKNOWN, "h1 is silent")
    again = containers.fold(unknown, envelope(EventType.STARTED, 7))
    assert again is not None
    assert (again.status, again.status_reason) == (Status.RUNNING, None)


def test_an_unreachable_container_on_its_way_out_or_failed_keeps_its_status() -> None:
    for status in (Status.DELETING, Status.DELETED, Status.ERROR):
        before = in_status(status, host="h1", seq=5)
        after = containers.fold(before, envelope(EventType.UNREACHABLE, 6, host="h1",
                                                 reason="silent"))
        assert after is not None and after.status is status


def test_the_down_events_are_valid_envelopes() -> None:
    events.validate(envelope(EventType.HOST_DOWN, 1, subject=SUBJECT, host="h1",
                             last_reported_at="2026-11-24T00:00:01+00:00"))
    events.validate(envelope(EventType.UNREACHABLE, 1, host="h1", reason="silent"))
