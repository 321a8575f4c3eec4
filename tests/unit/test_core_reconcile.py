"""The agent's pure comparison of Docker's truth with what it last reported."""

from __future__ import annotations

import pytest

from higgins.agents import reconcile
from higgins.agents.reconcile import Observed, Tracked
from higgins.events import EventType
from higgins.processors.model import Status

U = "u1"


def seen(state: str, exit_code: int | None = None) -> Observed:
    return Observed(uuid=U, container_id="abc", state=state, exit_code=exit_code)


@pytest.mark.parametrize(
    ("tracked", "observed", "expected"),
    [
        pytest.param(Tracked(Status.RUNNING), seen("running"), None, id="agree-running"),
        pytest.param(Tracked(Status.RUNNING), seen("exited", 3), EventType.STOPPED,
                     id="exited-by-itself"),
        pytest.param(Tracked(Status.STOPPED), seen("running"), EventType.STARTED,
                     id="restarted-by-policy"),
        pytest.param(Tracked(Status.RUNNING), seen("paused"), EventType.PAUSED,
                     id="paused-outside"),
        pytest.param(Tracked(Status.RUNNING), seen("dead"), EventType.FAILED, id="dead"),
        pytest.param(Tracked(Status.RUNNING), seen("restarting"), None, id="transitional"),
        pytest.param(Tracked(Status.RUNNING), None, EventType.LOST, id="removed-outside"),
        pytest.param(Tracked(Status.RUNNING, auto_remove=True), None, EventType.DELETED,
                     id="auto-removed"),
        pytest.param(Tracked(Status.CREATING), None, None, id="quiet-while-creating"),
        pytest.param(Tracked(Status.DELETING), None, None, id="quiet-while-deleting"),
        pytest.param(Tracked(Status.DELETED), seen("running"), None, id="quiet-when-deleted"),
    ],
)
def test_observation_names_the_event_that_brings_views_to_dockers_truth(
        tracked: Tracked, observed: Observed | None, expected: EventType | None) -> None:
    draft = reconcile.observe(U, tracked, observed)
    assert (draft.type if draft else None) == expected


def test_an_exit_carries_its_code() -> None:
    draft = reconcile.observe(U, Tracked(Status.RUNNING), seen("exited", 137))
    assert draft is not None and draft.data == {"exit_code": 137}


def test_a_lost_container_says_it_was_removed_outside() -> None:
    draft = reconcile.observe(U, Tracked(Status.STOPPED), None)
    assert draft is not None and "outside Higgins" in draft.data["reason"]


@pytest.mark.parametrize(
    ("kind", "status"),
    [(EventType.STARTED, Status.RUNNING), (EventType.STOPPED, Status.STOPPED),
     (EventType.DELETED, Status.DELETED), (EventType.SCHEDULED, Status.PAUSED)],
)
def test_tracking_follows_what_was_published(kind: EventType, status: Status) -> None:
    from higgins.events import Draft

    after = reconcile.tracked_after(Draft(kind, U, {}), Tracked(Status.PAUSED, True))
    assert after == Tracked(status, True)


@pytest.mark.parametrize(
    ("command", "state", "expected"),
    [
        pytest.param("agent.container.pause", "paused", EventType.PAUSED, id="pause-again"),
        pytest.param("agent.container.unpause", "running", EventType.UNPAUSED,
                     id="unpause-again"),
        pytest.param("agent.container.start", "running", EventType.STARTED, id="start-again"),
        pytest.param("agent.container.stop", "exited", EventType.STOPPED, id="stop-again"),
        pytest.param("agent.container.kill", "exited", EventType.STOPPED, id="kill-again"),
        pytest.param("agent.container.pause", "running", None, id="pause-to-do"),
        pytest.param("agent.container.reboot", "running", None, id="reboot-before-it-ran"),
    ],
)
def test_a_command_docker_already_shows_done_is_reported_not_repeated(
        command: str, state: str, expected: EventType | None) -> None:
    drafts = reconcile.already_done(command, U, seen(state, 0))
    assert (drafts[0].type if drafts else None) == expected


ISSUED = "2026-11-24T10:00:00.500000+00:00"


@pytest.mark.parametrize(
    ("started_at", "state", "expected"),
    [
        pytest.param("2026-11-24T10:00:00.700000123Z", "exited",
                     [EventType.STARTED, EventType.STOPPED], id="ran-and-exited-since"),
        pytest.param("2026-11-24T10:00:01Z", "running", [EventType.STARTED],
                     id="running-since"),
        pytest.param("2026-11-24T10:00:00.2Z", "exited", None, id="started-before-the-command"),
        pytest.param("0001-01-01T00:00:00Z", "created", None, id="never-started"),
    ],
)
def test_a_start_delivered_again_never_runs_the_container_twice(
        started_at: str, state: str, expected: list[EventType] | None) -> None:
    observed = Observed(uuid=U, container_id="abc", state=state, exit_code=0,
                        started_at=started_at)
    drafts = reconcile.already_done("agent.container.start", U, observed, ISSUED)
    assert ([d.type for d in drafts] if drafts else None) == expected
