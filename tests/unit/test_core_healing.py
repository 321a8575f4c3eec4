"""Healing: a container with a restart policy (or auto_heal) that is Unknown on a host down
for the grace period (or forced down) is asked to be made again as its next generation; the
scheduler places it off the down host, claims there and gives the old claim back; the fold voids
a heal the old host's agent beat, and ignores every later event about an older generation."""

from __future__ import annotations

from typing import Any

import pytest

from higgins import events
from higgins.agents import reconcile
from higgins.events import CommandType, EventType
from higgins.processors import containers, healing, placement, scheduling
from higgins.processors.model import ContainerState, HostState, Status
from tests.unit.conftest import UUID, envelope, host, in_status

ALWAYS = {"Name": "always", "MaximumRetryCount": "0"}
DOWN_SINCE = "2026-11-24T00:01:00+00:00"
GRACE = 60.0


def down_host(name: str = "h1", **changes: Any) -> HostState:
    return host(name).evolve(down_since=DOWN_SINCE, down_count=1, **changes)


def unknown(**changes: Any) -> ContainerState:
    """Unknown on h1 (found down), with restart policy always; `changes` on top."""
    state = in_status(Status.UNKNOWN, host="h1", container_id="d1", seq=5,
                      restart_policy=ALWAYS)
    return state.evolve(**changes)


def due_at(now: str, hosts: list[HostState], states: list[ContainerState]) -> list[str]:
    """The uuids due at `now` among `states`, on `hosts` and a host h2 that is up."""
    return [heal.draft.subject for heal in healing.due([*hosts, host("h2")], states, now, GRACE)]


def test_an_unknown_container_with_a_restart_policy_is_due_after_the_grace_period() -> None:
    state = unknown()
    assert due_at("2026-11-24T00:01:59+00:00", [down_host()], [state]) == []
    assert due_at("2026-11-24T00:02:00+00:00", [down_host()], [state]) == [UUID]


def test_a_forced_down_host_heals_at_once() -> None:
    assert due_at(DOWN_SINCE, [down_host(forced_down=True)], [unknown()]) == [UUID]


@pytest.mark.parametrize(("changes", "expected"), [
    ({}, [UUID]),
    ({"restart_policy": {"Name": "no"}}, []),
    ({"restart_policy": {}}, []),
    ({"restart_policy": {}, "auto_heal": True}, [UUID]),
    ({"restart_policy": {"Name": "on-failure", "MaximumRetryCount": "3"}}, [UUID]),
    ({"capsule_id": "5b8e3c55-6a63-4d4e-8d0a-9a4a8f2d3a11"}, []),
    ({"status": Status.DELETING}, []),
    ({"status": Status.RUNNING}, []),
    ({"host": "h2"}, []),
], ids=["always", "policy-no", "no-policy", "auto-heal", "on-failure", "capsule-member",
        "deleting", "running", "on-another-host"])
def test_which_containers_of_a_down_host_are_due(changes: dict[str, Any],
                                                 expected: list[str]) -> None:
    later = "2026-11-24T01:00:00+00:00"
    assert due_at(later, [down_host()], [unknown(**changes)]) == expected


def test_a_host_that_reported_again_heals_nothing() -> None:
    assert due_at("2026-11-24T01:00:00+00:00", [host("h1")], [unknown()]) == []


@pytest.mark.parametrize("others", [[], [down_host("h2")], [host("h2").evolve(disabled=True)]],
                         ids=["lone-host", "other-down", "other-disabled"])
def test_nothing_is_due_while_no_other_host_is_up(others: list[HostState]) -> None:
    assert healing.due([down_host(), *others], [unknown()], "2026-11-24T01:00:00+00:00",
                       GRACE) == []


def test_a_negative_grace_heals_only_hosts_forced_down() -> None:
    later = "2026-11-24T01:00:00+00:00"
    up = host("h2")
    assert healing.due([down_host(), up], [unknown()], later, -1) == []
    assert len(healing.due([down_host(forced_down=True), up], [unknown()], later, -1)) == 1


def test_a_heal_asks_for_the_next_generation_and_its_finding_names_the_down_spell() -> None:
    (heal,) = healing.due([down_host(), host("h2")], [unknown(generation=2)],
                          "2026-11-24T01:00:00+00:00", GRACE)
    assert heal.draft.type is EventType.HEAL_REQUESTED
    assert (heal.draft.data["host"], heal.draft.data["generation"]) == ("h1", 3)
    assert heal.finding == f"{UUID}/2/h1/{DOWN_SINCE}"
    events.validate(envelope(heal.draft.type, 6, **heal.draft.data))


def heal(state: ContainerState, seq: int = 6, generation: int = 1,
         on: str = "h1") -> events.Envelope:
    return envelope(EventType.HEAL_REQUESTED, seq, host=on, generation=generation,
                    reason="h1 is down")


def test_the_fold_makes_a_healed_container_creating_with_no_host_as_its_next_generation(
        ) -> None:
    after = containers.fold(unknown(), heal(unknown()))
    assert after is not None
    assert (after.status, after.host, after.container_id, after.generation) == (
        Status.CREATING, None, None, 1)
    assert after.status_reason == "h1 is down"


@pytest.mark.parametrize("before", [
    unknown(status=Status.RUNNING), unknown(status=Status.DELETING), unknown(host="h2"),
    unknown(generation=1)], ids=["reported-again-first", "deleting", "moved", "healed-already"])
def test_a_heal_that_came_too_late_changes_nothing(before: ContainerState) -> None:
    after = containers.fold(before, heal(before))
    assert after is not None
    assert (after.status, after.host, after.container_id, after.generation, after.seq) == (
        before.status, before.host, before.container_id, before.generation, 6)


def test_late_events_of_an_older_generation_are_ignored() -> None:
    healed = unknown().evolve(status=Status.RUNNING, host="h2", generation=1, seq=8)
    late: list[tuple[EventType, dict[str, Any]]] = [
        (EventType.STARTED, {}), (EventType.STOPPED, {"exit_code": 137}),
        (EventType.LOST, {"reason": "gone"}), (EventType.DELETED, {}),
        (EventType.CREATED, {"container_id": "old", "host": "h1"})]
    for kind, data in late:
        after = containers.fold(healed, envelope(kind, 9, generation=0, **data))
        assert after == healed.evolve(seq=9), kind


def test_events_of_the_current_generation_or_without_one_apply() -> None:
    healed = unknown().evolve(status=Status.RUNNING, host="h2", generation=1, seq=8)
    stopped = containers.fold(healed, envelope(EventType.STOPPED, 9, generation=1, exit_code=0))
    assert stopped is not None and stopped.status is Status.STOPPED
    asked = containers.fold(healed, envelope(EventType.STOP_REQUESTED, 9))
    assert asked is not None and asked.task_state is not None


def scheduled(state: ContainerState, hosts: list[HostState], **kwargs: Any) -> Any:
    healing_event = heal(state)
    after = containers.fold(state, healing_event)
    return after, healing_event, scheduling.schedule(after, hosts, healing_event, **kwargs)


def test_the_scheduler_places_a_heal_off_the_down_host_ignoring_its_requested_host() -> None:
    state = unknown(requested_host="h1")
    after, _, outcome = scheduled(state, [down_host(), host("h2")], ledgers={})
    (placed,) = outcome.events
    (command,) = outcome.commands
    assert (placed.type, placed.data) == (EventType.SCHEDULED, {"host": "h2"})
    assert (command.type, command.host, command.data["generation"]) == (
        CommandType.CREATE, "h2", 1)
    assert [ledger.host for ledger in outcome.claims] == ["h2"]
    events.validate(envelope(command.type, 1, **command.data))


def test_a_heal_with_no_other_host_fails_with_both_reasons() -> None:
    _, _, outcome = scheduled(unknown(), [down_host()], ledgers={})
    (failed,) = outcome.events
    assert failed.type is EventType.FAILED
    assert failed.data["reason"].startswith("h1 is down It could not be made again")
    assert placement.NO_HOSTS in failed.data["reason"]


def test_a_heal_gives_the_old_hosts_claim_back_once_it_took_effect() -> None:
    state = unknown()
    after, event, _ = scheduled(state, [host("h2")])
    assert scheduling.release_of(after, event) == placement.Release("h1", UUID)
    assert scheduling.release_of(state.evolve(status=Status.RUNNING), event) is None  # void


def test_a_void_heal_places_nothing() -> None:
    running = unknown(status=Status.RUNNING)
    event = heal(running)
    after = containers.fold(running, event)
    assert scheduling.schedule(after, [host("h2")], event, ledgers={}).commands == ()


def test_commands_to_a_healed_container_carry_its_generation() -> None:
    healed = unknown().evolve(status=Status.RUNNING, host="h2", generation=2)
    outcome = containers.route(healed, envelope(EventType.STOP_REQUESTED, 9))
    (command,) = outcome.commands
    assert (command.host, command.data["generation"]) == ("h2", 2)
    events.validate(envelope(command.type, 1, **command.data))


@pytest.mark.parametrize(("changes", "copy_generation", "expected"), [
    ({}, 0, False),
    ({"status": Status.RUNNING}, 0, False),
    ({"host": "h2", "generation": 1}, 0, True),
    ({"host": None, "generation": 1, "status": Status.CREATING}, 0, True),
    ({"generation": 1}, 0, True),
    ({"generation": 1}, 1, False),
], ids=["still-here", "reported-here", "healed-elsewhere", "being-placed", "newer-here",
        "current-here"])
def test_which_docker_copies_an_agent_back_removes_before_reporting(
        changes: dict[str, Any], copy_generation: int, expected: bool) -> None:
    copy = reconcile.Observed(UUID, "d1", "running", generation=copy_generation)
    assert reconcile.superseded(unknown(**changes), "h1", copy) is expected


def test_an_agents_report_carries_the_generation_it_is_about() -> None:
    draft = reconcile.stamped(events.Draft(EventType.STOPPED, UUID, {"exit_code": 0}), 2)
    assert draft.data == {"exit_code": 0, "generation": 2}
    events.validate(envelope(draft.type, 1, **draft.data))
