"""PURE: the scheduler processor: place new containers, route requested actions to hosts."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from higgins import events
from higgins.events import EventType
from higgins.processors import claims, containers, placement, restarts
from higgins.processors.model import ContainerState, HostState, Outcome, Status

_GONE = (Status.DELETING, Status.DELETED)


def schedule(
    state: ContainerState | None, hosts: Sequence[HostState], envelope: events.Envelope,
    down_after: float | None = None, config: placement.Config = placement.DEFAULT,
    ledgers: Mapping[str, claims.Ledger] | None = None,
    backoff: restarts.Backoff = restarts.DEFAULT,
) -> Outcome:
    """React to one container event, given the container's latest state and the hosts (those
    silent for `down_after` seconds before the event are down). Safe to run again on the same
    event: a placed container keeps its host. Given the hosts' `ledgers`, placement sees what
    is claimed on them and the outcome carries the chosen host's ledger with the new claim
    (Outcome.claims); without them every host is as empty as it reports. An exit the
    container's restart policy calls for is restarted after `backoff` (restarts.after_exit)."""
    if envelope["type"] == EventType.STOPPED:
        return restarts.after_exit(state, backoff)
    if envelope["type"] not in (EventType.CREATE_REQUESTED, EventType.HEAL_REQUESTED):
        return containers.route(state, envelope)
    if state is None or state.status in _GONE:
        return Outcome()
    request = placement.container_request(state)
    if envelope["type"] == EventType.HEAL_REQUESTED:
        if state.generation != envelope["data"]["generation"]:
            return Outcome()  # void (reported again first) or superseded by a later heal
        # placed anew as Nova evacuates: off the down host, the boot-time host choice dropped
        hosts = [host for host in hosts if host.name != envelope["data"]["host"]]
        request = dataclasses.replace(request, requested_host=None)
    if state.host is not None:
        return Outcome(commands=(containers.create_command(state, state.host),))
    if down_after is not None:
        hosts = placement.as_seen_at(hosts, envelope["time"], down_after)
    held = ledgers if ledgers is not None else {}
    choice = placement.place(request, placement.views_of(hosts, held, config.ratios), held,
                             config)
    if isinstance(choice, placement.NoValidHost):
        reason = choice.reason if envelope["type"] == EventType.CREATE_REQUESTED else \
            f"{envelope['data']['reason']} It could not be made again elsewhere: {choice.reason}"
        failed = events.Draft(EventType.FAILED, state.uuid, {"reason": reason})
        return Outcome(events=(failed,))
    scheduled = events.Draft(EventType.SCHEDULED, state.uuid, {"host": choice.host})
    return Outcome(
        events=(scheduled,), commands=(containers.create_command(state, choice.host),),
        claims=placement.new_claims(choice, held) if ledgers is not None else (),
    )


def release_of(state: ContainerState | None, envelope: events.Envelope
               ) -> placement.Release | None:
    """The claim a container event gives back: the container is gone (deleted, or lost while
    being deleted), or its creation failed for good (failed before it was ever made on its
    host, as Zun aborts the claim and unsets the host). A capsule's member holds none of its
    own: its capsule's claim goes when the capsule is deleted (capsules.release_of)."""
    kind = envelope["type"]
    if state is not None and kind == EventType.HEAL_REQUESTED \
            and state.generation == envelope["data"]["generation"] and state.capsule_id is None:
        return placement.Release(envelope["data"]["host"], state.uuid)  # its claim on the old host
    if state is None or state.host is None or state.capsule_id is not None:
        return None
    gone = kind == EventType.DELETED or (kind == EventType.LOST
                                         and state.status is Status.DELETED)
    never_made = kind == EventType.FAILED and state.container_id is None
    return placement.Release(state.host, state.uuid) if gone or never_made else None


def resize_of(state: ContainerState | None, envelope: events.Envelope
              ) -> tuple[str, claims.Resources] | None:
    """After the agent applied new limits (container.updated): the host and what the
    container's claim becomes (counted as applied: the limits are in Docker already)."""
    if state is None or state.host is None or state.capsule_id is not None \
            or envelope["type"] != EventType.UPDATED:
        return None
    return state.host, placement.container_request(state).resources
