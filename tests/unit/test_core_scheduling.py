"""Placement (filters and weighers) and the scheduler processor's reactions."""

from __future__ import annotations

import pytest

from higgins.events import CommandType, EventType
from higgins.processors import placement, scheduling
from higgins.processors.model import Status
from tests.unit.conftest import created, envelope, host, in_status


@pytest.mark.parametrize(
    ("hosts", "needle"),
    [
        pytest.param([], "no hosts", id="no-hosts"),
        pytest.param([host("h1", cpus=0.25)], "CPUFilter", id="too-few-cpus"),
        pytest.param([host("h1", memory_mb=32)], "RamFilter", id="too-little-memory"),
        pytest.param([host("h1", runtimes=("kata",))], "RuntimeFilter", id="no-runc"),
    ],
)
def test_no_valid_host_says_why(hosts: list, needle: str) -> None:  # type: ignore[type-arg]
    choice = placement.select_host(created(), hosts)
    assert isinstance(choice, placement.NoValidHost)
    assert needle in choice.reason


def test_the_host_with_most_memory_wins() -> None:
    hosts = [host("a", memory_mb=1024), host("b", memory_mb=8192), host("c", memory_mb=2048)]
    assert placement.select_host(created(), hosts) == placement.Placement("b")


def test_ties_are_broken_by_name_whatever_the_order() -> None:
    hosts = [host("zeta"), host("alpha"), host("mid")]
    assert placement.select_host(created(), hosts).host == "alpha"  # type: ignore[union-attr]
    assert placement.select_host(created(), hosts[::-1]).host == "alpha"  # type: ignore[union-attr]


def test_a_new_container_is_scheduled_and_its_host_told_to_create_it() -> None:
    outcome = scheduling.schedule(created(), [host("h1")],
                                  envelope("container.create.requested", 1))
    (scheduled,) = outcome.events
    (command,) = outcome.commands
    assert (scheduled.type, scheduled.data) == (EventType.SCHEDULED, {"host": "h1"})
    assert (command.type, command.host) == (CommandType.CREATE, "h1")
    assert command.data["image"] == "busybox:local" and command.data["run"] is True


def test_scheduling_again_keeps_the_host_and_only_repeats_the_command() -> None:
    placed = created().evolve(host="h1")
    outcome = scheduling.schedule(placed, [host("h2", memory_mb=10**6)],
                                  envelope("container.create.requested", 1))
    assert outcome.events == ()
    assert [(c.type, c.host) for c in outcome.commands] == [(CommandType.CREATE, "h1")]


@pytest.mark.parametrize("status", [Status.DELETING, Status.DELETED])
def test_a_container_on_its_way_out_is_not_scheduled(status: Status) -> None:
    outcome = scheduling.schedule(in_status(status), [host("h1")],
                                  envelope("container.create.requested", 1))
    assert outcome.events == () and outcome.commands == ()


def test_no_host_fails_the_container_with_the_reason() -> None:
    outcome = scheduling.schedule(created(), [], envelope("container.create.requested", 1))
    (failed,) = outcome.events
    assert failed.type is EventType.FAILED and "no hosts" in failed.data["reason"]
    assert outcome.commands == ()


@pytest.mark.parametrize(
    ("kind", "data", "command"),
    [
        ("container.start.requested", {}, CommandType.START),
        ("container.stop.requested", {"timeout": 3}, CommandType.STOP),
        ("container.reboot.requested", {"timeout": 3}, CommandType.REBOOT),
        ("container.pause.requested", {}, CommandType.PAUSE),
        ("container.unpause.requested", {}, CommandType.UNPAUSE),
        ("container.kill.requested", {"signal": "SIGKILL"}, CommandType.KILL),
        ("container.delete.requested", {"force": True, "stop": True}, CommandType.DELETE),
    ],
)
def test_requests_are_routed_to_the_containers_host(kind: str, data: dict[str, object],
                                                    command: CommandType) -> None:
    placed = in_status(Status.RUNNING, host="h7", container_id="abc")
    outcome = scheduling.schedule(placed, [], envelope(kind, 5, **data))
    (sent,) = outcome.commands
    assert (sent.type, sent.host) == (command, "h7")
    assert {k: sent.data[k] for k in data} == data


def test_deleting_a_never_placed_container_is_immediate() -> None:
    outcome = scheduling.schedule(in_status(Status.DELETING), [],
                                  envelope("container.delete.requested", 2, force=True, stop=True))
    assert [e.type for e in outcome.events] == [EventType.DELETED] and outcome.commands == ()


def test_status_events_need_no_reaction() -> None:
    outcome = scheduling.schedule(in_status(Status.RUNNING, host="h1"), [],
                                  envelope("container.started", 3))
    assert outcome.events == () and outcome.commands == ()


def test_a_requested_host_is_the_only_candidate() -> None:
    asked = created(requested_host="small")
    assert placement.select_host(asked, [host("big", memory_mb=8192), host("small")]) == \
        placement.Placement("small")
    assert placement.select_host(created(requested_host="gone"), [host("small")]) == \
        placement.NoValidHost("No valid host was found. Filter RequestedHostFilter returned "
                              "0 hosts.")
