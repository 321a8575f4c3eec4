"""Restart policies as Higgins enforces them: which exits are restarted under each policy, never
one a user asked for, at most N under on-failure:N, after a backoff that doubles up to its cap
and starts over after a long run; the fold counts each restart once and a user's start resets
the count; the scheduler turns an exit into the event and a delayed start command."""

from __future__ import annotations

from typing import Any

import pytest

from higgins import events
from higgins.events import CommandType, EventType
from higgins.processors import containers, restarts, scheduling, telemetry
from higgins.processors.model import Action, ContainerState, Outcome, Status, TaskState
from higgins.processors.restarts import Backoff
from tests.unit.conftest import envelope, in_status


def exited(policy: str = "", retries: int = 0, exit_code: int | None = 1,
           **changes: Any) -> ContainerState:
    restart_policy = {"Name": policy, "MaximumRetryCount": str(retries)} if policy else {}
    state = in_status(Status.STOPPED, host="h1", container_id="c1", exit_code=exit_code,
                      restart_policy=restart_policy)
    return state.evolve(**changes)


@pytest.mark.parametrize(
    ("policy", "exit_code", "restarted"),
    [
        pytest.param("", 1, False, id="none-given"),
        pytest.param("no", 1, False, id="no"),
        pytest.param("on-failure", 1, True, id="on-failure-after-failure"),
        pytest.param("on-failure", 137, True, id="on-failure-after-kill-behind-its-back"),
        pytest.param("on-failure", 0, False, id="on-failure-after-success"),
        pytest.param("on-failure", None, False, id="on-failure-exit-unknown"),
        pytest.param("always", 0, True, id="always-after-success"),
        pytest.param("always", 2, True, id="always-after-failure"),
        pytest.param("unless-stopped", 0, True, id="unless-stopped-after-success"),
        pytest.param("unless-stopped", 3, True, id="unless-stopped-after-failure"),
    ],
)
def test_each_policy_restarts_the_exits_it_names(policy: str, exit_code: int | None,
                                                  restarted: bool) -> None:
    assert restarts.calls_for_restart(exited(policy, exit_code=exit_code)) is restarted


@pytest.mark.parametrize("policy", ["on-failure", "always", "unless-stopped"])
def test_a_container_a_user_stopped_or_killed_is_not_restarted(policy: str) -> None:
    assert restarts.decide(exited(policy, manually_stopped=True)) is None


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"task_state": TaskState.STARTING}, id="a-start-in-flight"),
        pytest.param({"status": Status.DELETING}, id="being-deleted"),
        pytest.param({"status": Status.RUNNING}, id="running-again"),
        pytest.param({"status": Status.RESTARTING, "restart_count": 1},
                     id="restart-already-scheduled"),
        pytest.param({"host": None}, id="on-no-host"),
    ],
)
def test_no_restart_unless_it_is_stopped_by_itself_and_idle(changes: dict[str, Any]) -> None:
    assert restarts.decide(exited("always", **changes)) is None


@pytest.mark.parametrize(("count", "restarted"), [(0, True), (1, True), (2, False), (5, False)])
def test_on_failure_with_a_maximum_restarts_at_most_that_many_times(count: int,
                                                                    restarted: bool) -> None:
    state = exited("on-failure", retries=2, restart_count=count)
    assert restarts.calls_for_restart(state) is restarted


def test_on_failure_without_a_maximum_restarts_forever() -> None:
    assert restarts.calls_for_restart(exited("on-failure", restart_count=1000))


def test_backoff_doubles_from_its_base_up_to_its_cap() -> None:
    backoff = Backoff(base=0.1, cap=1.0)
    assert [backoff.delay(step) for step in range(6)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert backoff.delay(10_000) == 1.0


def test_restarts_in_quick_succession_back_off_further_each_time() -> None:
    backoff = Backoff(base=0.1, cap=300.0, reset_after=10.0)
    first = restarts.decide(exited("always"), backoff)
    assert first == restarts.Restart(count=1, step=0, delay=0.1)
    quick = exited("always", restart_count=3, restart_step=2,
                   started_at="2026-11-24T00:00:00+00:00",
                   finished_at="2026-11-24T00:00:01+00:00")
    assert restarts.decide(quick, backoff) == restarts.Restart(count=4, step=3, delay=0.8)


def test_a_container_that_ran_long_enough_backs_off_from_the_start_again() -> None:
    ran_long = exited("always", restart_count=7, restart_step=6,
                      started_at="2026-11-24T00:00:00+00:00",
                      finished_at="2026-11-24T00:00:10.5+00:00")
    assert restarts.decide(ran_long, Backoff(reset_after=10.0)) == \
        restarts.Restart(count=8, step=0, delay=0.1)


def test_an_unknown_policy_name_restarts_nothing() -> None:
    assert restarts.decide(exited("sometimes")) is None


# -- the scheduler and the fold ----------------------------------------------------------------


def stopped_event(seq: int, exit_code: int | None = 1) -> events.Envelope:
    return envelope(EventType.STOPPED, seq, exit_code=exit_code)


def test_the_scheduler_answers_an_exit_with_the_restart_and_a_delayed_start() -> None:
    state = exited("on-failure", retries=2)
    outcome = scheduling.schedule(state, (), stopped_event(state.seq + 1),
                                  backoff=Backoff(base=0.5))
    (event,) = outcome.events
    assert (event.type, event.data) == (EventType.RESTART_SCHEDULED, {
        "restart_count": 1, "backoff_step": 0, "delay": 0.5, "exit_code": 1})
    (command,) = outcome.commands
    assert (command.type, command.host, command.data) == (
        CommandType.START, "h1", {"restart_count": 1, "delay": 0.5})


def test_the_restart_of_a_healed_container_names_its_generation() -> None:
    (command,) = restarts.after_exit(exited("always", generation=2)).commands
    assert command.data["generation"] == 2


def test_the_scheduler_answers_an_exit_with_nothing_under_policy_no() -> None:
    state = exited("no")
    assert scheduling.schedule(state, (), stopped_event(state.seq + 1)) == Outcome()


def fold(state: ContainerState, kind: str, **data: Any) -> ContainerState:
    after = containers.fold(state, envelope(kind, state.seq + 1, **data))
    assert after is not None
    return after


def scheduled(count: int, step: int = 0) -> dict[str, Any]:
    return {"restart_count": count, "backoff_step": step, "delay": 0.1, "exit_code": 1}


def test_the_fold_counts_a_restart_and_shows_restarting_until_it_runs() -> None:
    restarting = fold(exited("always"), EventType.RESTART_SCHEDULED, **scheduled(1))
    assert (restarting.status, restarting.restart_count) == (Status.RESTARTING, 1)
    running = fold(restarting, EventType.STARTED)
    assert (running.status, running.restart_count) == (Status.RUNNING, 1)
    assert running.started_at == running.updated_at


def test_the_fold_ignores_a_restart_of_a_count_already_counted() -> None:
    once = fold(exited("always"), EventType.RESTART_SCHEDULED, **scheduled(1))
    stopped_again = fold(fold(once, EventType.STARTED), EventType.STOPPED, exit_code=1)
    again = fold(stopped_again, EventType.RESTART_SCHEDULED, **scheduled(1))
    assert (again.status, again.restart_count) == (Status.STOPPED, 1)


def test_the_fold_ignores_a_restart_after_a_user_stopped_it() -> None:
    stopping = fold(exited("always").evolve(status=Status.RUNNING), EventType.STOP_REQUESTED)
    stopped = fold(stopping, EventType.STOPPED, exit_code=0)
    assert stopped.manually_stopped
    after = fold(stopped, EventType.RESTART_SCHEDULED, **scheduled(1))
    assert (after.status, after.restart_count) == (Status.STOPPED, 0)


def test_a_user_start_resets_the_count_and_the_manual_stop() -> None:
    state = exited("on-failure", retries=2, restart_count=2, restart_step=1,
                   manually_stopped=True)
    starting = fold(state, EventType.START_REQUESTED)
    assert (starting.restart_count, starting.restart_step, starting.manually_stopped) == \
        (0, 0, False)


def test_stopping_a_restarting_container_is_allowed_and_ends_its_restarts() -> None:
    restarting = fold(exited("always"), EventType.RESTART_SCHEDULED, **scheduled(1))
    assert containers.check(restarting, Action.STOP) is None
    stopping = fold(restarting, EventType.STOP_REQUESTED)
    assert not restarts.still_due(stopping, 1)
    stopped = fold(stopping, EventType.STOPPED, exit_code=137)
    assert restarts.decide(stopped) is None


def test_a_delayed_restart_is_due_only_while_its_view_shows_it_pending() -> None:
    restarting = fold(exited("always"), EventType.RESTART_SCHEDULED, **scheduled(1))
    assert restarts.still_due(restarting, 1)
    assert not restarts.still_due(restarting, 2)
    assert not restarts.still_due(fold(restarting, EventType.STARTED), 1)
    assert not restarts.still_due(fold(restarting, EventType.DELETE_REQUESTED, force=True,
                                       stop=True), 1)
    assert not restarts.still_due(None, 1)


def test_the_exit_time_is_kept_for_the_backoff() -> None:
    running = fold(exited("always").evolve(status=Status.RUNNING), EventType.STARTED)
    stopped = fold(running, EventType.STOPPED, exit_code=1)
    assert stopped.finished_at == stopped.updated_at


def test_restart_events_and_commands_match_their_schemas() -> None:
    state = exited("always")
    outcome = restarts.after_exit(state)
    (event,), (command,) = outcome.events, outcome.commands
    events.validate(envelope(event.type, 2, **event.data))
    events.validate(envelope(command.type, 2, **command.data))


def test_a_restart_by_policy_is_no_users_action_for_telemetry() -> None:
    restarting = fold(exited("always"), EventType.RESTART_SCHEDULED, **scheduled(1))
    started = envelope(EventType.STARTED, restarting.seq + 1)
    after = containers.fold(restarting, started)
    assert after is not None
    assert telemetry.for_container(restarting, after, started) == []
