"""PURE: the event envelope, event and command types, and validation against schemas/."""

from __future__ import annotations

import enum
import functools
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

import jsonschema

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"


class EventType(enum.StrEnum):
    """Every fact Higgins records: past tense, dotted, a JSON Schema each in schemas/events/."""

    CREATE_REQUESTED = "container.create.requested"
    SCHEDULED = "container.scheduled"
    CREATED = "container.created"
    STARTED = "container.started"
    STOPPED = "container.stopped"
    PAUSED = "container.paused"
    UNPAUSED = "container.unpaused"
    FAILED = "container.failed"
    DELETED = "container.deleted"
    LOST = "container.lost"
    UNREACHABLE = "container.unreachable"
    HEAL_REQUESTED = "container.heal.requested"
    START_REQUESTED = "container.start.requested"
    STOP_REQUESTED = "container.stop.requested"
    REBOOT_REQUESTED = "container.reboot.requested"
    PAUSE_REQUESTED = "container.pause.requested"
    UNPAUSE_REQUESTED = "container.unpause.requested"
    KILL_REQUESTED = "container.kill.requested"
    DELETE_REQUESTED = "container.delete.requested"
    RENAMED = "container.renamed"
    UPDATE_REQUESTED = "container.update.requested"
    UPDATED = "container.updated"
    UPDATE_FAILED = "container.update.failed"
    REBUILD_REQUESTED = "container.rebuild.requested"
    REBUILT = "container.rebuilt"
    COMMIT_REQUESTED = "container.commit.requested"
    COMMITTED = "container.committed"
    COMMIT_FAILED = "container.commit.failed"
    RESTART_SCHEDULED = "container.restart.scheduled"
    NETWORK_ATTACH_REQUESTED = "container.network.attach.requested"
    NETWORK_DETACH_REQUESTED = "container.network.detach.requested"
    SECURITY_GROUP_ADD_REQUESTED = "container.security_group.add.requested"
    SECURITY_GROUP_REMOVE_REQUESTED = "container.security_group.remove.requested"
    NETWORK_CHANGED = "container.network.changed"
    NETWORK_CHANGE_FAILED = "container.network.change.failed"
    HOST_REPORTED = "host.reported"
    SERVICE_UPDATED = "host.service.updated"
    SERVICE_DELETED = "host.service.deleted"
    HOST_DOWN = "host.down"
    IMAGE_PULL_REQUESTED = "image.pull.requested"
    IMAGE_PULLED = "image.pulled"
    IMAGE_PULL_FAILED = "image.pull.failed"
    IMAGE_COMMITTED = "image.committed"
    IMAGE_DELETE_REQUESTED = "image.delete.requested"
    IMAGE_DELETED = "image.deleted"
    IMAGE_DELETE_FAILED = "image.delete.failed"
    CAPSULE_CREATE_REQUESTED = "capsule.create.requested"
    CAPSULE_SCHEDULED = "capsule.scheduled"
    CAPSULE_FAILED = "capsule.failed"
    CAPSULE_DELETE_REQUESTED = "capsule.delete.requested"


class CommandType(enum.StrEnum):
    """Imperative instructions to one host's agent; schemas under schemas/commands/."""

    CREATE = "agent.container.create"
    START = "agent.container.start"
    STOP = "agent.container.stop"
    REBOOT = "agent.container.reboot"
    PAUSE = "agent.container.pause"
    UNPAUSE = "agent.container.unpause"
    KILL = "agent.container.kill"
    DELETE = "agent.container.delete"
    UPDATE = "agent.container.update"
    REBUILD = "agent.container.rebuild"
    COMMIT = "agent.container.commit"
    NETWORK = "agent.container.network"
    IMAGE_PULL = "agent.image.pull"
    IMAGE_DELETE = "agent.image.delete"


class Envelope(TypedDict):
    """One event or command as it crosses the bus (CloudEvents-style attribute names)."""

    id: str
    type: str
    subject: str
    seq: int
    time: str
    project_id: str
    user_id: str
    request_id: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Draft:
    """An event a processor wants recorded; the runtime gives it an id, a time and a seq."""

    type: EventType
    subject: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CommandDraft:
    """A command for the agent on `host`; delivered on that host's stream."""

    type: CommandType
    host: str
    subject: str
    data: dict[str, Any] = field(default_factory=dict)


HOST_SUBJECT_PREFIX = "host:"


def host_subject(name: str) -> str:
    return HOST_SUBJECT_PREFIX + name


IMAGE_SUBJECT_PREFIX = "image:"


def image_subject(uuid: str) -> str:
    return IMAGE_SUBJECT_PREFIX + uuid


CAPSULE_SUBJECT_PREFIX = "capsule:"


def capsule_subject(uuid: str) -> str:
    return CAPSULE_SUBJECT_PREFIX + uuid


def subject_kind(subject: str) -> str:
    """"host", "image", "capsule" or "container": which view a subject's events fold into."""
    for kind, prefix in (("host", HOST_SUBJECT_PREFIX), ("image", IMAGE_SUBJECT_PREFIX),
                         ("capsule", CAPSULE_SUBJECT_PREFIX)):
        if subject.startswith(prefix):
            return kind
    return "container"


def derived_id(cause_id: str, index: int, kind: str) -> str:
    """Deterministic id of the index-th effect of an event, so a redelivery publishes duplicates
    the log recognises and drops (at-least-once in, effectively-once out)."""
    return str(uuid.uuid5(uuid.UUID(cause_id), f"{index}:{kind}"))


def seal(draft: Draft | CommandDraft, *, event_id: str, time: str, cause: Envelope) -> Envelope:
    """Turn a draft into an envelope carrying the cause's identity and request id."""
    return Envelope(
        id=event_id,
        type=str(draft.type),
        subject=draft.subject,
        seq=0,
        time=time,
        project_id=cause["project_id"],
        user_id=cause["user_id"],
        request_id=cause["request_id"],
        data=dict(draft.data),
    )


@functools.cache
def _validator(kind: str, name: str) -> jsonschema.protocols.Validator:
    schema = json.loads((SCHEMA_DIR / kind / f"{name}.json").read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def schema_errors(kind: str, name: str, document: Any) -> list[str]:
    """Messages of every way `document` breaks schemas/<kind>/<name>.json (empty when valid)."""
    validator = _validator(kind, name)
    return [_describe(e) for e in sorted(validator.iter_errors(document), key=str)]


def _describe(error: jsonschema.ValidationError) -> str:
    where = "/".join(str(p) for p in error.absolute_path)
    return f"{where}: {error.message}" if where else error.message


class InvalidEvent(ValueError):
    """An envelope or its data does not match its schema: a bug in the producer."""


def validate(envelope: Envelope) -> None:
    problems = schema_errors("events", "envelope", envelope)
    kind = "commands" if envelope.get("type", "").startswith("agent.") else "events"
    if not problems:
        problems = schema_errors(kind, envelope["type"], envelope["data"])
    if problems:
        raise InvalidEvent(f"{envelope.get('type')}: {'; '.join(problems)}")
