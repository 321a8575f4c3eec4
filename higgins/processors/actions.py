"""PURE: Zun's container actions history, read off a container's events: a *.requested event
starts an action, the result with the same request id finishes it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from higgins import events
from higgins.events import EventType

STARTS: Mapping[str, str] = {
    EventType.CREATE_REQUESTED: "create",
    EventType.START_REQUESTED: "start",
    EventType.STOP_REQUESTED: "stop",
    EventType.REBOOT_REQUESTED: "reboot",
    EventType.PAUSE_REQUESTED: "pause",
    EventType.UNPAUSE_REQUESTED: "unpause",
    EventType.KILL_REQUESTED: "kill",
    EventType.DELETE_REQUESTED: "delete",
    EventType.UPDATE_REQUESTED: "update",
    EventType.RENAMED: "rename",
    EventType.REBUILD_REQUESTED: "rebuild",
    EventType.COMMIT_REQUESTED: "commit",
    EventType.NETWORK_ATTACH_REQUESTED: "network_attach",
    EventType.NETWORK_DETACH_REQUESTED: "network_detach",
    EventType.SECURITY_GROUP_ADD_REQUESTED: "add_security_group",
    EventType.SECURITY_GROUP_REMOVE_REQUESTED: "remove_security_group",
}
# The event that finishes each action when it succeeds (a create with run=true ends started).
FINISHES: Mapping[str, frozenset[str]] = {
    "create": frozenset({EventType.CREATED}),
    "start": frozenset({EventType.STARTED}),
    "stop": frozenset({EventType.STOPPED}),
    "reboot": frozenset({EventType.STARTED}),
    "pause": frozenset({EventType.PAUSED}),
    "unpause": frozenset({EventType.UNPAUSED}),
    "kill": frozenset({EventType.STOPPED}),
    "delete": frozenset({EventType.DELETED}),
    "update": frozenset({EventType.UPDATED}),
    "rename": frozenset({EventType.RENAMED}),
    "rebuild": frozenset({EventType.REBUILT}),
    "commit": frozenset({EventType.COMMITTED}),
    **{action: frozenset({EventType.NETWORK_CHANGED}) for action in (
        "network_attach", "network_detach", "add_security_group", "remove_security_group")},
}
FAILURES = frozenset({EventType.FAILED, EventType.UPDATE_FAILED, EventType.COMMIT_FAILED,
                      EventType.NETWORK_CHANGE_FAILED})


@dataclass(frozen=True)
class Step:
    event: str
    start_time: str
    finish_time: str
    result: str
    traceback: str | None = None


@dataclass(frozen=True)
class Action:
    action: str
    container_uuid: str
    request_id: str
    project_id: str
    user_id: str
    start_time: str
    finish_time: str | None = None
    message: str | None = None
    events: tuple[Step, ...] = ()


def history(envelopes: Sequence[events.Envelope]) -> list[Action]:
    """Every action on the container, oldest first."""
    actions: dict[str, Action] = {}
    for envelope in envelopes:
        name = STARTS.get(envelope["type"])
        if name is not None and envelope["request_id"] not in actions:
            actions[envelope["request_id"]] = Action(
                action=name, container_uuid=envelope["subject"],
                request_id=envelope["request_id"], project_id=envelope["project_id"],
                user_id=envelope["user_id"], start_time=envelope["time"])
        started = actions.get(envelope["request_id"])
        if started is not None and started.finish_time is None:
            actions[envelope["request_id"]] = _finish(started, envelope)
    return list(actions.values())


def _finish(action: Action, envelope: events.Envelope) -> Action:
    failed = envelope["type"] in FAILURES
    if not failed and envelope["type"] not in FINISHES[action.action]:
        return action
    step = Step(event=f"compute__do_container_{action.action}", start_time=action.start_time,
                finish_time=envelope["time"], result="Error" if failed else "Success",
                traceback=envelope["data"].get("reason") if failed else None)
    return replace(action, finish_time=envelope["time"], message="Error" if failed else None,
                   events=(*action.events, step))
