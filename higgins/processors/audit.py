"""PURE: the audit record: one CADF-like entry per event (initiator, action, target, outcome),
the order entries are listed in, and which entries a query asks for. No I/O."""

from __future__ import annotations

import datetime
import enum
import fnmatch
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

from higgins import events
from higgins.events import EventType

# Liveness, not change: one per host every report_interval. The log keeps them (replay); the
# audit record would be mostly heartbeats with them.
UNAUDITED = frozenset({str(EventType.HOST_REPORTED)})

# The same namespace as api/hosts.py, so a host's target uuid is the one /v1/hosts shows.
HOST_NAMESPACE = uuid.UUID("5b0e0e4c-2d0c-4d3e-9a59-6f1c0f6b9a10")


class Outcome(enum.StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    PENDING = "pending"


class Initiator(TypedDict):
    user_id: str
    project_id: str


class Target(TypedDict):
    kind: str  # container | capsule | image | host
    uuid: str
    name: NotRequired[str]  # hosts: their name (their subject)


class Entry(TypedDict):
    id: str
    type: str
    time: str
    initiator: Initiator
    action: str
    target: Target
    outcome: str
    request_id: str
    data: dict[str, Any]


# event type -> the verb it records (a CADF action); a type not here takes the verb its name
# is built on (see action_of)
ACTIONS: Mapping[str, str] = {
    EventType.CREATE_REQUESTED: "create", EventType.SCHEDULED: "schedule",
    EventType.CREATED: "create", EventType.STARTED: "start", EventType.STOPPED: "stop",
    EventType.PAUSED: "pause", EventType.UNPAUSED: "unpause", EventType.FAILED: "fail",
    EventType.DELETED: "delete", EventType.LOST: "lose", EventType.UNREACHABLE: "monitor",
    EventType.HEAL_REQUESTED: "heal",
    EventType.START_REQUESTED: "start", EventType.STOP_REQUESTED: "stop",
    EventType.REBOOT_REQUESTED: "reboot", EventType.PAUSE_REQUESTED: "pause",
    EventType.UNPAUSE_REQUESTED: "unpause", EventType.KILL_REQUESTED: "kill",
    EventType.DELETE_REQUESTED: "delete", EventType.RENAMED: "rename",
    EventType.UPDATE_REQUESTED: "update", EventType.UPDATED: "update",
    EventType.UPDATE_FAILED: "update", EventType.REBUILD_REQUESTED: "rebuild",
    EventType.REBUILT: "rebuild", EventType.COMMIT_REQUESTED: "commit",
    EventType.COMMITTED: "commit", EventType.COMMIT_FAILED: "commit",
    EventType.RESTART_SCHEDULED: "restart",
    EventType.NETWORK_ATTACH_REQUESTED: "attach", EventType.NETWORK_DETACH_REQUESTED: "detach",
    EventType.SECURITY_GROUP_ADD_REQUESTED: "update",
    EventType.SECURITY_GROUP_REMOVE_REQUESTED: "update",
    EventType.NETWORK_CHANGED: "update", EventType.NETWORK_CHANGE_FAILED: "update",
    EventType.HOST_REPORTED: "report", EventType.SERVICE_UPDATED: "update",
    EventType.SERVICE_DELETED: "delete", EventType.HOST_DOWN: "monitor",
    EventType.IMAGE_PULL_REQUESTED: "pull",
    EventType.IMAGE_PULLED: "pull", EventType.IMAGE_PULL_FAILED: "pull",
    EventType.IMAGE_COMMITTED: "commit", EventType.IMAGE_DELETE_REQUESTED: "delete",
    EventType.IMAGE_DELETED: "delete", EventType.IMAGE_DELETE_FAILED: "delete",
    EventType.CAPSULE_CREATE_REQUESTED: "create", EventType.CAPSULE_SCHEDULED: "schedule",
    EventType.CAPSULE_FAILED: "fail", EventType.CAPSULE_DELETE_REQUESTED: "delete",
}
_FAILURE_LAST_WORDS = frozenset({"failed", "error", "lost", "unreachable", "down"})


def action_of(kind: str) -> str:
    """The verb of an event type: from ACTIONS, else the word before .requested/.failed or the
    last word (`volume.attach.requested` -> attach)."""
    if kind in ACTIONS:
        return ACTIONS[kind]
    words = kind.split(".")
    if len(words) > 2 and words[-1] in ("requested", *_FAILURE_LAST_WORDS):
        return words[-2]
    return words[-1]


def outcome_of(kind: str) -> Outcome:
    last = kind.rsplit(".", 1)[-1]
    if last == "requested":
        return Outcome.PENDING
    if last in _FAILURE_LAST_WORDS:
        return Outcome.FAILURE
    return Outcome.SUCCESS


def target_of(subject: str) -> Target:
    kind = events.subject_kind(subject)
    if kind == "container":
        return Target(kind=kind, uuid=subject)
    name = subject.split(":", 1)[1]
    if kind == "host":
        return Target(kind=kind, uuid=str(uuid.uuid5(HOST_NAMESPACE, name)), name=name)
    return Target(kind=kind, uuid=name)


def subject_of(target: Target) -> str:
    """The log subject a target is (the inverse of target_of)."""
    if target["kind"] == "host":
        return events.host_subject(target.get("name", ""))
    if target["kind"] == "capsule":
        return events.capsule_subject(target["uuid"])
    if target["kind"] == "image":
        return events.image_subject(target["uuid"])
    return target["uuid"]


def audited(envelope: events.Envelope) -> bool:
    return envelope["type"] not in UNAUDITED


def entry(envelope: events.Envelope) -> Entry:
    kind = envelope["type"]
    return Entry(
        id=envelope["id"], type=kind, time=envelope["time"],
        initiator=Initiator(user_id=envelope["user_id"], project_id=envelope["project_id"]),
        action=action_of(kind), target=target_of(envelope["subject"]),
        outcome=str(outcome_of(kind)), request_id=envelope["request_id"],
        data=dict(envelope["data"]))


def project_of(found: Entry) -> str:
    """The project whose members may read the entry: the initiator's (for a container's
    events, its owner's: the agent's observations carry the owner's project)."""
    return found["initiator"]["project_id"]


# -- order: (time, id) with times as fixed-width UTC keys, so text order is time order --------

_KEY_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
MIN_KEY = ""
MAX_KEY = "~"  # after every key (keys start with a digit)


def _moment(text: str) -> datetime.datetime:
    moment = datetime.datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)  # RFC 3339 says UTC when in doubt
    return moment.astimezone(datetime.UTC)


def time_key(text: str) -> str:
    """`text` (RFC 3339) as a key that sorts as time does; ValueError if it is no time."""
    return _moment(text).strftime(_KEY_FORMAT)


def shifted(key: str, seconds: float) -> str:
    """The key `seconds` later (earlier when negative)."""
    return (_moment(key) + datetime.timedelta(seconds=seconds)).strftime(_KEY_FORMAT)


def sort_key(found: Entry) -> str:
    """The entry's place in time; an unparseable time (no producer of ours writes one) keeps
    its text rather than failing the record."""
    try:
        return time_key(found["time"])
    except ValueError:
        return found["time"]


def position(found: Entry) -> tuple[str, str]:
    """Where the entry is in the record's order: (time key, event id)."""
    return sort_key(found), found["id"]


def bucket_day(key: str) -> str:
    return key[:10]


def bucket_hour(key: str) -> str:
    return key[:13]


# -- queries -----------------------------------------------------------------------------------


class UnknownMarker(LookupError):
    """The marker (an event id) is not an entry the query could list."""


class InvalidFilter(ValueError):
    """A filter's value is malformed; the message is for the user."""


@dataclass(frozen=True)
class Query:
    """Which entries: every field None (or empty) means "any"."""

    project_id: str | None = None
    target_kind: str | None = None
    target: str | None = None  # a target's uuid
    types: tuple[str, ...] = ()  # exact types or patterns (container.*); any of them
    request_id: str | None = None
    since: str | None = None  # time key, inclusive
    until: str | None = None  # time key, inclusive

    def upper(self) -> str:
        """The exclusive upper time key: just after `until`."""
        return shifted(self.until, 0.000001) if self.until is not None else MAX_KEY

    def lower(self) -> str:
        return self.since if self.since is not None else MIN_KEY


def matches(query: Query, found: Entry) -> bool:
    key = sort_key(found)
    return all((
        query.project_id is None or project_of(found) == query.project_id,
        query.target_kind is None or found["target"]["kind"] == query.target_kind,
        query.target is None or found["target"]["uuid"] == query.target,
        not query.types or any(fnmatch.fnmatchcase(found["type"], t) for t in query.types),
        query.request_id is None or found["request_id"] == query.request_id,
        query.since is None or key >= query.since,
        query.until is None or key <= query.until,
    ))


_TYPE_PATTERN = re.compile(r"^[a-z_*]+(\.[a-z_*]+)*$")
KNOWN_TYPES = tuple(str(kind) for kind in EventType if str(kind) not in UNAUDITED)


def parse_types(text: str) -> tuple[str, ...]:
    """`type=`: comma-separated event types or patterns (`container.*`, `*.failed`), each
    naming at least one audited type."""
    wanted = tuple(part.strip() for part in text.split(",") if part.strip())
    if not wanted:
        raise InvalidFilter("type must name an event type or a pattern such as container.*")
    for pattern in wanted:
        if not _TYPE_PATTERN.match(pattern):
            raise InvalidFilter(f"type {pattern!r} is not an event type or a pattern of one "
                                "(lower-case words separated by dots, * for any part)")
        if not any(fnmatch.fnmatchcase(kind, pattern) for kind in KNOWN_TYPES):
            raise InvalidFilter(f"type {pattern!r} matches no audited event type")
    return wanted


_UNENCODED_PLUS = re.compile(r"(T[0-9:.]+) ([0-9]{2}:[0-9]{2})$")


def parse_time(name: str, text: str) -> str:
    """`since=` / `until=`; a `+` of an offset left unencoded in the URL arrives as a space."""
    try:
        return time_key(_UNENCODED_PLUS.sub(r"\1+\2", text))
    except ValueError as error:
        raise InvalidFilter(f"{name} {text!r} is not an RFC 3339 time "
                            "(such as 2026-11-24T10:00:00Z)") from error
