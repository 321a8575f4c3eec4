"""A host's compute service: reports keep it current, the admin's switches survive reports, a
deleted service registers anew, and the scheduler skips hosts that are disabled or forced down."""

from __future__ import annotations

from higgins import events
from higgins.events import EventType
from higgins.processors import hosts, placement, scheduling
from higgins.processors.model import HostState
from higgins.processors.placement import NoValidHost
from tests.unit.conftest import created, envelope, host

SUBJECT = events.host_subject("h1")
INVENTORY = {"host": "h1", "cpus": 2, "memory_mb": 4096, "runtimes": ["runc"]}


def fold_all(*steps: tuple[str, dict[str, object]]) -> HostState | None:
    state: HostState | None = None
    for seq, (kind, data) in enumerate(steps, start=1):
        state = hosts.fold(state, envelope(kind, seq, subject=SUBJECT, **data))
    return state


def test_every_report_counts_and_the_first_one_is_when_the_service_was_created() -> None:
    state = fold_all((EventType.HOST_REPORTED, INVENTORY), (EventType.HOST_REPORTED, INVENTORY))
    assert state is not None
    assert state.report_count == 2
    assert state.created_at == "2026-11-24T00:00:01+00:00"
    assert state.reported_at == "2026-11-24T00:00:02+00:00"


def test_the_admins_switches_survive_later_reports() -> None:
    state = fold_all(
        (EventType.HOST_REPORTED, INVENTORY),
        (EventType.SERVICE_UPDATED, {"host": "h1", "disabled": True, "disabled_reason": "fw"}),
        (EventType.SERVICE_UPDATED, {"host": "h1", "forced_down": True}),
        (EventType.HOST_REPORTED, INVENTORY))
    assert state is not None
    assert (state.disabled, state.disabled_reason, state.forced_down) == (True, "fw", True)
    assert not state.schedulable


def test_a_deleted_service_registers_anew_at_its_next_report() -> None:
    state = fold_all(
        (EventType.HOST_REPORTED, INVENTORY),
        (EventType.SERVICE_UPDATED, {"host": "h1", "disabled": True}),
        (EventType.SERVICE_DELETED, {"host": "h1"}))
    assert state is not None and state.deleted and not state.schedulable
    state = hosts.fold(state, envelope(EventType.HOST_REPORTED, 4, subject=SUBJECT, **INVENTORY))
    assert state is not None
    assert (state.deleted, state.disabled, state.report_count) == (False, False, 1)


def test_a_switch_for_a_host_never_reported_is_ignored() -> None:
    assert fold_all((EventType.SERVICE_UPDATED, {"host": "h1", "disabled": True})) is None


def test_the_scheduler_skips_disabled_and_forced_down_hosts() -> None:
    bigger = host("big", memory_mb=8192)
    chosen = placement.select_host(created(), [bigger.evolve(disabled=True), host("small")])
    assert chosen == placement.Placement("small")
    refused = placement.select_host(created(), [bigger.evolve(forced_down=True)])
    assert refused == NoValidHost("No valid host was found. Filter ComputeFilter returned 0 hosts.")


def test_a_host_silent_longer_than_the_down_time_gets_no_new_container() -> None:
    silent = host("big", memory_mb=8192).evolve(reported_at="2026-11-23T23:58:00+00:00")
    fresh = host("small")  # reported at 2026-11-24T00:00:00
    request = envelope(EventType.CREATE_REQUESTED, 1, name="x", image="busybox:local")
    outcome = scheduling.schedule(created(), [silent, fresh], request, down_after=60)
    assert outcome.events[0].data == {"host": "small"}
    (failed,) = scheduling.schedule(created(), [silent], request, down_after=60).events
    assert failed.type == EventType.FAILED and "ComputeFilter" in failed.data["reason"]


def test_a_report_after_the_request_counts_and_without_a_down_time_nobody_is_down() -> None:
    later = host("a").evolve(reported_at="2026-11-24T01:00:00+00:00")
    seen = placement.as_seen_at([later], "2026-11-24T00:00:01+00:00", 60)
    assert not seen[0].forced_down
    old = host("a").evolve(reported_at="2020-01-01T00:00:00+00:00")
    request = envelope(EventType.CREATE_REQUESTED, 1, name="x", image="busybox:local")
    assert scheduling.schedule(created(), [old], request).events[0].data == {"host": "a"}
