"""PURE: compare what Docker shows with what the agent last reported, and name the event."""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Mapping
from dataclasses import dataclass

from higgins import events
from higgins.events import CommandType, EventType
from higgins.processors.model import ContainerState, Status

LOST_REASON = "The Docker container was removed outside Higgins."

DOCKER_STATES: Mapping[str, Status] = {
    "created": Status.CREATED,
    "running": Status.RUNNING,
    "paused": Status.PAUSED,
    "restarting": Status.RESTARTING,
    "exited": Status.STOPPED,
    "dead": Status.DEAD,
    "removing": Status.DELETING,
}


@dataclass(frozen=True)
class Observed:
    """One Docker container as inspected."""

    uuid: str
    container_id: str
    state: str
    exit_code: int | None = None
    error: str = ""
    started_at: str = ""  # Docker's State.StartedAt (RFC 3339, nanoseconds); "" if never
    generation: int = 0  # the incarnation it was made for (its higgins.generation label)


@dataclass(frozen=True)
class Tracked:
    """What the agent last told the bus about a container it runs."""

    status: Status
    auto_remove: bool = False
    generation: int = 0  # of the Docker container on this host: stamped on what it reports


def superseded(state: ContainerState, host: str, observed: Observed) -> bool:
    """Whether a Docker container on `host` is a stale copy to remove before anything is
    reported about it: its container was healed since (lives on another host, or none yet,
    or is a newer generation than the one this copy was made for)."""
    return state.host != host or state.generation > observed.generation


# what an agent reports about a container (their schemas take a generation)
REPORTS = frozenset({
    EventType.CREATED, EventType.STARTED, EventType.STOPPED, EventType.PAUSED,
    EventType.UNPAUSED, EventType.FAILED, EventType.LOST, EventType.DELETED, EventType.REBUILT,
    EventType.UPDATED, EventType.UPDATE_FAILED, EventType.COMMITTED, EventType.COMMIT_FAILED})


def stamped(draft: events.Draft, generation: int) -> events.Draft:
    """A report of the agent with the generation it is about (the fold ignores one about an
    older generation than the container's: late news from a host it was healed away from)."""
    if draft.type not in REPORTS:
        return draft
    return events.Draft(draft.type, draft.subject, {**draft.data, "generation": generation})


_QUIET = (Status.CREATING, Status.DELETING, Status.DELETED)


def observe(uuid: str, tracked: Tracked, observed: Observed | None) -> events.Draft | None:
    """The event that brings the views to Docker's truth, or None when they already agree."""
    if tracked.status in _QUIET:
        return None  # a command for it is in flight; its result will speak
    if observed is None:
        if tracked.auto_remove:
            return events.Draft(EventType.DELETED, uuid, {})
        return events.Draft(EventType.LOST, uuid, {"reason": LOST_REASON})
    status = DOCKER_STATES.get(observed.state, Status.UNKNOWN)
    if status == tracked.status:
        return None
    if status is Status.RUNNING:
        return events.Draft(EventType.STARTED, uuid, {})
    if status is Status.STOPPED:
        return events.Draft(EventType.STOPPED, uuid, {"exit_code": observed.exit_code})
    if status is Status.PAUSED:
        return events.Draft(EventType.PAUSED, uuid, {})
    if status is Status.DEAD:
        reason = observed.error or "Docker reports the container dead."
        return events.Draft(EventType.FAILED, uuid, {"reason": reason})
    return None  # created, restarting, removing: transitional, the next event settles it


def tracked_after(draft: events.Draft, before: Tracked) -> Tracked:
    """What the agent tracks once `draft` is published."""
    after: Mapping[str, Status] = {
        EventType.CREATED: Status.CREATED,
        EventType.STARTED: Status.RUNNING,
        EventType.STOPPED: Status.STOPPED,
        EventType.PAUSED: Status.PAUSED,
        EventType.UNPAUSED: Status.RUNNING,
        EventType.FAILED: Status.ERROR,
        EventType.LOST: Status.ERROR,
        EventType.DELETED: Status.DELETED,
    }
    if draft.type == EventType.REBUILT:
        running = bool(draft.data.get("running"))
        return Tracked(Status.RUNNING if running else Status.CREATED, before.auto_remove,
                       before.generation)
    return Tracked(after.get(draft.type, before.status), before.auto_remove, before.generation)


# What Docker shows once a command is done, and the event that reports it.
_DONE: Mapping[str, tuple[str, EventType]] = {
    CommandType.START: ("running", EventType.STARTED),
    CommandType.UNPAUSE: ("running", EventType.UNPAUSED),
    CommandType.PAUSE: ("paused", EventType.PAUSED),
    CommandType.STOP: ("exited", EventType.STOPPED),
    CommandType.KILL: ("exited", EventType.STOPPED),
}
SETTLING_COMMANDS = frozenset(_DONE) | {CommandType.REBOOT}


def already_done(command: str, uuid: str, observed: Observed | None,
                 issued_at: str = "") -> list[events.Draft] | None:
    """The results to report without acting, when Docker already shows the command done: a
    command delivered again after a crash must not fail on its own earlier success, and a
    start must not run a container again that it already ran (started after `issued_at`)."""
    if observed is None:
        return None
    if command in _STARTS and started_since(observed, issued_at):
        return reported_start(uuid, observed)
    done = _DONE.get(command)
    if done is None or observed.state != done[0]:
        return None
    data = {"exit_code": observed.exit_code} if done[1] is EventType.STOPPED else {}
    return [events.Draft(done[1], uuid, data)]


_STARTS = frozenset({CommandType.START, CommandType.REBOOT})


def reported_start(uuid: str, observed: Observed) -> list[events.Draft]:
    """A start that already happened, and whatever Docker shows happened since (an exit)."""
    started = events.Draft(EventType.STARTED, uuid, {})
    since = observe(uuid, Tracked(Status.RUNNING), observed)
    return [started, since] if since is not None else [started]


def started_since(observed: Observed, issued_at: str) -> bool:
    """Whether Docker started the container at or after `issued_at` (both RFC 3339, UTC)."""
    if not issued_at or not observed.started_at or observed.started_at.startswith("0001-"):
        return False
    return _instant(observed.started_at) >= _instant(issued_at)


def _instant(text: str) -> datetime.datetime:
    """RFC 3339 with up to nanoseconds (Docker) or microseconds (Higgins) to a datetime."""
    head, _, fraction = text.replace("Z", "+00:00").partition(".")
    digits = "".join(itertools.takewhile(str.isdigit, fraction))
    zone = fraction[len(digits):] if fraction else head[19:]
    return datetime.datetime.fromisoformat(f"{head[:19]}.{(digits + '000000')[:6]}{zone}")
