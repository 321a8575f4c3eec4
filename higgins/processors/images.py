"""PURE: images on hosts (Zun's /v1/images): fold an image's events into its state, and route
an admin's pull or delete to the agent on the image's host."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from higgins import events
from higgins.events import CommandType, EventType
from higgins.processors.model import ImageState, ImageStatus, Outcome

_GONE = (ImageStatus.DELETING, ImageStatus.DELETED)


def uuid_of(subject: str) -> str:
    return subject.removeprefix(events.IMAGE_SUBJECT_PREFIX)


def _first(envelope: events.Envelope) -> ImageState | None:
    """An image begins with a pull request, or with the commit that made it."""
    data, kind = envelope["data"], envelope["type"]
    if kind not in (EventType.IMAGE_PULL_REQUESTED, EventType.IMAGE_COMMITTED):
        return None
    committed = kind == EventType.IMAGE_COMMITTED
    return ImageState(
        uuid=uuid_of(envelope["subject"]), seq=envelope["seq"],
        project_id=envelope["project_id"], user_id=envelope["user_id"],
        repo=data["repo"], tag=data["tag"], host=data["host"],
        status=ImageStatus.PRESENT if committed else ImageStatus.PULLING,
        created_at=envelope["time"],
        image_pull_policy=data.get("image_pull_policy"),
        image_id=data.get("image_id"), size=data.get("size"),
        container_uuid=data.get("container_uuid"),
    )


Folder = Callable[[ImageState, Mapping[str, Any]], ImageState]


def _pulled(state: ImageState, data: Mapping[str, Any]) -> ImageState:
    if state.status in _GONE:
        return state
    return state.evolve(status=ImageStatus.PRESENT, image_id=data["image_id"],
                        size=data["size"], status_reason=None)


def _pull_failed(state: ImageState, data: Mapping[str, Any]) -> ImageState:
    if state.status in _GONE:
        return state
    return state.evolve(status=ImageStatus.FAILED, status_reason=data["reason"])


def _delete_requested(state: ImageState, data: Mapping[str, Any]) -> ImageState:
    return state.evolve(status=ImageStatus.DELETING)


def _delete_failed(state: ImageState, data: Mapping[str, Any]) -> ImageState:
    return state.evolve(status=ImageStatus.PRESENT, status_reason=data["reason"])


def _deleted(state: ImageState, data: Mapping[str, Any]) -> ImageState:
    return state.evolve(status=ImageStatus.DELETED)


_FOLDERS: Mapping[str, Folder] = {
    EventType.IMAGE_PULLED: _pulled,
    EventType.IMAGE_PULL_FAILED: _pull_failed,
    EventType.IMAGE_DELETE_REQUESTED: _delete_requested,
    EventType.IMAGE_DELETED: _deleted,
    EventType.IMAGE_DELETE_FAILED: _delete_failed,
}


def fold(state: ImageState | None, envelope: events.Envelope) -> ImageState | None:
    """Apply one event; idempotent (an event at or below state.seq is ignored)."""
    if state is None:
        return _first(envelope)
    if envelope["seq"] <= state.seq:
        return state
    folder = _FOLDERS.get(envelope["type"])
    new = folder(state, envelope["data"]) if folder else state
    return new.evolve(seq=envelope["seq"], updated_at=envelope["time"])



def route(state: ImageState | None, envelope: events.Envelope) -> Outcome:
    """A pull or delete request becomes a command for the agent on the image's host; deleting
    an image whose pull failed has nothing to remove. (A delete during a pull goes to the agent
    too: its commands run in order, so the delete follows the pull.)"""
    if state is None:
        return Outcome()
    subject = envelope["subject"]
    if envelope["type"] == EventType.IMAGE_PULL_REQUESTED and state.status is \
            ImageStatus.PULLING:
        data = {"repo": state.repo, "tag": state.tag,
                "image_pull_policy": state.image_pull_policy}
        return Outcome(commands=(events.CommandDraft(CommandType.IMAGE_PULL, state.host,
                                                     subject, data),))
    if envelope["type"] == EventType.IMAGE_DELETE_REQUESTED:
        if state.image_id is None and state.status_reason is not None:
            return Outcome(events=(events.Draft(EventType.IMAGE_DELETED, subject, {}),))
        data = {"image_id": state.image_id, "repo": state.repo, "tag": state.tag}
        return Outcome(commands=(events.CommandDraft(CommandType.IMAGE_DELETE, state.host,
                                                     subject, data),))
    return Outcome()
