"""PURE: the scheduler processor: place new containers, route requested actions to hosts."""

from __future__ import annotations

from collections.abc import Sequence

from higgins import events
from higgins.events import EventType
from higgins.processors import containers, placement
from higgins.processors.model import ContainerState, HostState, Outcome, Status

_GONE = (Status.DELETING, Status.DELETED)


def schedule(
    state: ContainerState | None, hosts: Sequence[HostState], envelope: events.Envelope,
    down_after: float | None = None,
) -> Outcome:
    """React to one container event, given the container's latest state and the hosts (those
    silent for `down_after` seconds before the event are down). Safe to run again on the same
    event: a placed container keeps its host."""
    if envelope["type"] != EventType.CREATE_REQUESTED:
        return containers.route(state, envelope)
    if state is None or state.status in _GONE:
        return Outcome()
    if state.host is not None:
        return Outcome(commands=(containers.create_command(state, state.host),))
    if down_after is not None:
        hosts = placement.as_seen_at(hosts, envelope["time"], down_after)
    choice = placement.select_host(state, hosts)
    if isinstance(choice, placement.NoValidHost):
        failed = events.Draft(EventType.FAILED, state.uuid, {"reason": choice.reason})
        return Outcome(events=(failed,))
    scheduled = events.Draft(EventType.SCHEDULED, state.uuid, {"host": choice.host})
    return Outcome(
        events=(scheduled,), commands=(containers.create_command(state, choice.host),)
    )
