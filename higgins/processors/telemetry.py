"""PURE: Telemetry notifications (the oslo messaging v2 notification Ceilometer meters) from an
event and the state it found: which `<resource>.<action>.<phase>` it is, and its payload."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from higgins import events
from higgins.events import EventType as E
from higgins.processors.model import (
    CapsuleState,
    ContainerState,
    ImageState,
    Status,
    TaskState,
)

INFO, ERROR = "INFO", "ERROR"
RUNTIME = "runc"  # Docker's default runtime: what every Higgins container runs on today


@dataclass(frozen=True)
class Notification:
    """One oslo notification: `body()` is what goes on the wire, `priority` picks the
    routing key (`<topic>.<priority lower-cased>`)."""

    message_id: str
    event_type: str
    priority: str
    payload: dict[str, Any]
    timestamp: str
    context: Mapping[str, Any]

    def body(self, publisher_id: str) -> dict[str, str]:
        message = {"message_id": self.message_id, "publisher_id": publisher_id,
                   "event_type": self.event_type, "priority": self.priority,
                   "payload": self.payload, "timestamp": self.timestamp,
                   **{f"_context_{key}": value for key, value in self.context.items()}}
        return {"oslo.version": "2.0", "oslo.message": json.dumps(message)}


def message_id(event_id: str, event_type: str) -> str:
    """Derived from the event, so a redelivered event sends the same message (receivers and
    Ceilometer's de-duplication can drop it)."""
    return str(uuid.uuid5(uuid.UUID(event_id), f"notification:{event_type}"))


def oslo_time(rfc3339: str) -> str:
    """`2026-12-01T03:20:00.123456Z` as oslo writes timestamps: `2026-12-01 03:20:00.123456`."""
    stamp = rfc3339.replace("T", " ").removesuffix("Z").split("+")[0]
    return stamp if "." in stamp else stamp + ".000000"


def context(request_id: str, project_id: str, user_id: str) -> dict[str, Any]:
    """The request context as oslo sends it (`_context_*` keys on the wire)."""
    return {"request_id": request_id, "project_id": project_id, "user_id": user_id,
            "project": project_id, "user": user_id, "tenant": project_id, "roles": [],
            "is_admin": False}


# -- containers ------------------------------------------------------------------------------

_REQUESTED: Mapping[str, str] = {
    E.CREATE_REQUESTED: "create", E.START_REQUESTED: "start", E.STOP_REQUESTED: "stop",
    E.REBOOT_REQUESTED: "reboot", E.PAUSE_REQUESTED: "pause", E.UNPAUSE_REQUESTED: "unpause",
    E.KILL_REQUESTED: "kill", E.DELETE_REQUESTED: "delete", E.UPDATE_REQUESTED: "update",
    E.REBUILD_REQUESTED: "rebuild", E.COMMIT_REQUESTED: "commit",
}
# the action a task state belongs to: what a failure in it, or a settling event, ends
_TASKS: Mapping[TaskState, str] = {
    TaskState.CREATING: "create", TaskState.STARTING: "start", TaskState.STOPPING: "stop",
    TaskState.REBOOTING: "reboot", TaskState.PAUSING: "pause", TaskState.UNPAUSING: "unpause",
    TaskState.KILLING: "kill", TaskState.DELETING: "delete", TaskState.REBUILDING: "rebuild",
}
_ENDS: Mapping[str, str] = {
    E.PAUSED: "pause", E.UNPAUSED: "unpause", E.DELETED: "delete", E.UPDATED: "update",
    E.REBUILT: "rebuild", E.COMMITTED: "commit",
}
_ERRORS: Mapping[str, str] = {E.UPDATE_FAILED: "update", E.COMMIT_FAILED: "commit"}


def container_phase(before: ContainerState | None, after: ContainerState,
                    envelope: events.Envelope) -> tuple[str, str] | None:
    """(action, phase) of a container event, phase being start, end or error; None when the
    event is no step of a user's action (a scheduling decision, a rename, a heartbeat)."""
    kind = envelope["type"]
    if kind in _REQUESTED:
        return _REQUESTED[kind], "start"
    if kind in _ENDS:
        return _ENDS[kind], "end"
    if kind in _ERRORS:
        return _ERRORS[kind], "error"
    if before is None:
        return None
    task = _TASKS.get(before.task_state) if before.task_state else None
    if kind == E.CREATED and not before.run:
        return "create", "end"
    if kind == E.STARTED and before.status is Status.RESTARTING:
        return None  # its restart policy started it again: no user's action
    if kind == E.STARTED:
        # a run=true create ends when it first runs; otherwise the start (or reboot) that was asked
        first = before.launched_at is None and before.run and task in ("start", None)
        return ("create" if first else task or "start"), "end"
    if kind == E.STOPPED and task in ("stop", "kill"):
        return task, "end"
    if kind == E.FAILED:
        first = before.status is Status.CREATING or (before.run and before.launched_at is None
                                                    and task == "start")
        return ("create" if first or task is None else task), "error"
    if kind == E.LOST and before.status in (Status.DELETING, Status.DELETED):
        return "delete", "end"
    return None


def container_payload(state: ContainerState, availability_zone: str | None = None,
                      ) -> dict[str, Any]:
    """What meters need: identity, placement, size, status and the billing times."""
    return {
        "uuid": state.uuid, "name": state.name, "project_id": state.project_id,
        "user_id": state.user_id, "host": state.host, "image": state.image,
        "status": str(state.status), "state": str(state.status).lower(),
        "state_description": state.status_reason or "",
        "task_state": str(state.task_state) if state.task_state else None,
        "cpu": state.cpu, "memory": state.memory, "disk": 0, "runtime": RUNTIME,
        "availability_zone": availability_zone, "created_at": state.created_at,
        "launched_at": state.launched_at, "deleted_at": state.deleted_at,
    }


def for_container(before: ContainerState | None, after: ContainerState | None,
                  envelope: events.Envelope, availability_zone: str | None = None,
                  ) -> list[Notification]:
    """The notification a container event makes (none for most internal steps)."""
    if after is None:
        return []
    phase = container_phase(before, after, envelope)
    if phase is None:
        return []
    payload = container_payload(after, availability_zone)
    if phase[1] == "error":
        payload["fault"] = after.status_reason or envelope["data"].get("reason")
    return [_notification(envelope, f"container.{phase[0]}.{phase[1]}", payload,
                          ERROR if phase[1] == "error" else INFO)]


def exists(state: ContainerState, beginning: str, ending: str,
           availability_zone: str | None = None) -> Notification:
    """`container.exists` for one audit period (for billing): one per container and period,
    its id derived from both, so a repeated round sends the same message."""
    payload = {**container_payload(state, availability_zone),
               "audit_period_beginning": beginning, "audit_period_ending": ending}
    message = str(uuid.uuid5(uuid.UUID(state.uuid), f"exists:{beginning}/{ending}"))
    return Notification(message, "container.exists", INFO, payload, oslo_time(ending),
                        context(f"req-{message}", state.project_id, state.user_id))


def live(state: ContainerState) -> bool:
    """A container that counts in an audit period (exists for billing)."""
    return state.status is not Status.DELETED


# -- capsules and images ---------------------------------------------------------------------

_CAPSULES: Mapping[str, tuple[str, str]] = {
    E.CAPSULE_CREATE_REQUESTED: ("capsule.create.start", INFO),
    E.CAPSULE_SCHEDULED: ("capsule.create.end", INFO),
    E.CAPSULE_FAILED: ("capsule.create.error", ERROR),
    E.CAPSULE_DELETE_REQUESTED: ("capsule.delete.start", INFO),
}
_IMAGES: Mapping[str, tuple[str, str]] = {
    E.IMAGE_PULL_REQUESTED: ("image.pull.start", INFO),
    E.IMAGE_PULLED: ("image.pull.end", INFO),
    E.IMAGE_PULL_FAILED: ("image.pull.error", ERROR),
    E.IMAGE_DELETE_REQUESTED: ("image.delete.start", INFO),
    E.IMAGE_DELETED: ("image.delete.end", INFO),
    E.IMAGE_DELETE_FAILED: ("image.delete.error", ERROR),
    E.IMAGE_COMMITTED: ("image.commit.end", INFO),
}


def for_capsule(state: CapsuleState | None, envelope: events.Envelope) -> list[Notification]:
    """capsule.create.start/.end (placed; its members follow as container events)/.error,
    capsule.delete.start."""
    if state is None or envelope["type"] not in _CAPSULES:
        return []
    event_type, priority = _CAPSULES[envelope["type"]]
    payload = {"uuid": state.uuid, "name": state.name, "project_id": state.project_id,
               "user_id": state.user_id, "host": state.host,
               "availability_zone": state.availability_zone, "created_at": state.created_at,
               "containers": len(state.containers), "fault": state.failed_reason}
    return [_notification(envelope, event_type, payload, priority)]


def for_image(state: ImageState | None, envelope: events.Envelope) -> list[Notification]:
    if state is None or envelope["type"] not in _IMAGES:
        return []
    event_type, priority = _IMAGES[envelope["type"]]
    payload = {"uuid": state.uuid, "repo": state.repo, "tag": state.tag,
               "project_id": state.project_id, "user_id": state.user_id, "host": state.host,
               "size": state.size, "status": str(state.status), "image_id": state.image_id,
               "created_at": state.created_at, "fault": state.status_reason}
    return [_notification(envelope, event_type, payload, priority)]


def _notification(envelope: events.Envelope, event_type: str, payload: dict[str, Any],
                  priority: str) -> Notification:
    return Notification(message_id(envelope["id"], event_type), event_type, priority, payload,
                        oslo_time(envelope["time"]),
                        context(envelope["request_id"], envelope["project_id"],
                                envelope["user_id"]))
