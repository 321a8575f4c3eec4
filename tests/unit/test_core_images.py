"""Images on hosts and commits: the image fold, routing of pulls and deletes, and the commit
action of a container (pure core, no services)."""

from __future__ import annotations

from typing import Any

import pytest

from higgins import events
from higgins.events import CommandType, EventType
from higgins.processors import actions, containers, images
from higgins.processors.model import Action, ImageState, ImageStatus, Refusal, Status, folded
from tests.unit.conftest import UUID, envelope, in_status

IMAGE = "0b7a3f4e-52d5-4a55-9c39-05d4e62ff2b1"
SUBJECT = events.image_subject(IMAGE)
PULL = {"repo": "127.0.0.1:5050/busybox", "tag": "v1", "host": "node-1",
        "image_pull_policy": None}


def image_event(kind: str, seq: int, **data: Any) -> events.Envelope:
    return envelope(kind, seq, subject=SUBJECT, **data)


def pulling() -> ImageState:
    state = images.fold(None, image_event(EventType.IMAGE_PULL_REQUESTED, 1, **PULL))
    assert state is not None
    return state


def test_a_pull_request_begins_an_image_pulling_on_its_host() -> None:
    state = pulling()
    assert (state.uuid, state.repo, state.tag, state.host, state.status) == \
        (IMAGE, "127.0.0.1:5050/busybox", "v1", "node-1", ImageStatus.PULLING)
    assert state.image_id is None and state.size is None


def test_only_a_pull_request_or_a_commit_can_begin_an_image() -> None:
    assert images.fold(None, image_event(EventType.IMAGE_PULLED, 1, image_id="sha256:a",
                                         size=1)) is None


@pytest.mark.parametrize(
    ("kind", "data", "status", "image_id", "reason"),
    [
        pytest.param(EventType.IMAGE_PULLED, {"image_id": "sha256:a", "size": 5},
                     ImageStatus.PRESENT, "sha256:a", None, id="pulled"),
        pytest.param(EventType.IMAGE_PULL_FAILED, {"reason": "no such repo"},
                     ImageStatus.FAILED, None, "no such repo", id="failed"),
        pytest.param(EventType.IMAGE_DELETE_REQUESTED, {}, ImageStatus.DELETING, None, None,
                     id="delete-requested"),
    ],
)
def test_what_the_agent_reports_folds_into_the_image(kind: str, data: dict[str, Any],
                                                     status: ImageStatus, image_id: str | None,
                                                     reason: str | None) -> None:
    state = images.fold(pulling(), image_event(kind, 2, **data))
    assert state is not None
    assert (state.status, state.image_id, state.status_reason, state.seq) == \
        (status, image_id, reason, 2)


def test_a_redelivered_event_changes_nothing() -> None:
    pulled = images.fold(pulling(), image_event(EventType.IMAGE_PULLED, 2, image_id="x", size=1))
    again = images.fold(pulled, image_event(EventType.IMAGE_PULL_FAILED, 2, reason="late"))
    assert again is pulled


def test_a_refused_delete_leaves_the_image_present_with_the_reason() -> None:
    state = folded(images.fold, [
        image_event(EventType.IMAGE_PULL_REQUESTED, 1, **PULL),
        image_event(EventType.IMAGE_PULLED, 2, image_id="sha256:a", size=5),
        image_event(EventType.IMAGE_DELETE_REQUESTED, 3),
        image_event(EventType.IMAGE_DELETE_FAILED, 4, reason="in use"),
    ])
    assert state is not None
    assert (state.status, state.status_reason, state.image_id) == \
        (ImageStatus.PRESENT, "in use", "sha256:a")


def test_a_pull_request_becomes_a_pull_command_for_the_images_host() -> None:
    request = image_event(EventType.IMAGE_PULL_REQUESTED, 1, **PULL)
    (command,) = images.route(images.fold(None, request), request).commands
    assert (command.type, command.host, command.subject) == \
        (CommandType.IMAGE_PULL, "node-1", SUBJECT)
    assert command.data == {"repo": PULL["repo"], "tag": "v1", "image_pull_policy": None}


def test_a_redelivered_pull_request_after_the_pull_sends_nothing() -> None:
    pulled = images.fold(pulling(), image_event(EventType.IMAGE_PULLED, 2, image_id="x", size=1))
    request = image_event(EventType.IMAGE_PULL_REQUESTED, 1, **PULL)
    assert images.route(pulled, request).commands == ()


def test_deleting_a_present_image_commands_its_host() -> None:
    request = image_event(EventType.IMAGE_DELETE_REQUESTED, 3)
    state = folded(images.fold, [image_event(EventType.IMAGE_PULL_REQUESTED, 1, **PULL),
                                   image_event(EventType.IMAGE_PULLED, 2, image_id="x", size=1),
                                   request])
    (command,) = images.route(state, request).commands
    assert (command.type, command.host, command.data["image_id"]) == \
        (CommandType.IMAGE_DELETE, "node-1", "x")


def test_deleting_an_image_whose_pull_failed_is_immediate() -> None:
    request = image_event(EventType.IMAGE_DELETE_REQUESTED, 3)
    state = folded(images.fold, [image_event(EventType.IMAGE_PULL_REQUESTED, 1, **PULL),
                                   image_event(EventType.IMAGE_PULL_FAILED, 2, reason="gone"),
                                   request])
    outcome = images.route(state, request)
    assert outcome.commands == ()
    assert [d.type for d in outcome.events] == [EventType.IMAGE_DELETED]


def test_a_commit_begins_a_present_image() -> None:
    state = images.fold(None, image_event(
        EventType.IMAGE_COMMITTED, 1, repo="snap", tag="latest", host="node-1",
        image_id="sha256:b", size=9, container_uuid=UUID))
    assert state is not None
    assert (state.status, state.image_id, state.container_uuid) == \
        (ImageStatus.PRESENT, "sha256:b", UUID)


COMMIT = {"image_uuid": IMAGE, "repository": "snap", "tag": "latest"}


@pytest.mark.parametrize("status", [Status.RUNNING, Status.STOPPED, Status.PAUSED])
def test_commit_is_allowed_as_zun_allows_it(status: Status) -> None:
    draft = containers.decide(in_status(status, host="node-1"), Action.COMMIT, COMMIT)
    assert isinstance(draft, events.Draft)
    assert (draft.type, draft.data) == (EventType.COMMIT_REQUESTED, COMMIT)


@pytest.mark.parametrize("status", [Status.CREATING, Status.CREATED, Status.ERROR])
def test_commit_in_other_states_is_refused(status: Status) -> None:
    assert isinstance(containers.decide(in_status(status), Action.COMMIT, COMMIT), Refusal)


def test_a_commit_request_goes_to_the_containers_host_with_its_runtime_id() -> None:
    state = in_status(Status.RUNNING, host="node-1", container_id="abc")
    request = envelope(EventType.COMMIT_REQUESTED, 5, **COMMIT)
    (command,) = containers.route(state, request).commands
    assert (command.type, command.host) == (CommandType.COMMIT, "node-1")
    assert command.data == {**COMMIT, "container_id": "abc"}


def test_a_commit_is_an_action_finished_by_committed_or_commit_failed() -> None:
    history = [envelope(EventType.COMMIT_REQUESTED, 5, **COMMIT),
               envelope(EventType.COMMITTED, 6, image_uuid=IMAGE, image_id="sha256:b")]
    (done,) = actions.history(history)
    assert (done.action, done.finish_time, done.message) == \
        ("commit", history[1]["time"], None)
    failed = [history[0], envelope(EventType.COMMIT_FAILED, 6, image_uuid=IMAGE, reason="no")]
    (refused,) = actions.history(failed)
    assert refused.events[0].result == "Error" and refused.events[0].traceback == "no"


def test_a_commit_leaves_the_containers_status_alone() -> None:
    state = in_status(Status.RUNNING, host="node-1", container_id="abc")
    after = containers.fold_all(state, [envelope(EventType.COMMIT_REQUESTED, 5, **COMMIT),
                                        envelope(EventType.COMMITTED, 6, image_uuid=IMAGE,
                                                 image_id="sha256:b")])
    assert after is not None and after.status is Status.RUNNING and after.task_state is None
