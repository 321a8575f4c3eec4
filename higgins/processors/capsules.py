"""PURE: capsules (Zun's pods): several containers on one host sharing one network namespace.
A capsule is placed once; each member then becomes an ordinary container, requested on that
host, whose agent joins it to the capsule's sandbox. Deleting the capsule deletes its members."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from higgins import events
from higgins.events import EventType
from higgins.processors import claims, placement
from higgins.processors.model import (
    CapsuleState,
    ContainerState,
    HostState,
    Outcome,
    Status,
)

S = Status


def uuid_of(subject: str) -> str:
    return subject.removeprefix(events.CAPSULE_SUBJECT_PREFIX)


def created_state(envelope: events.Envelope) -> CapsuleState:
    data = envelope["data"]
    return CapsuleState(
        uuid=uuid_of(envelope["subject"]), seq=envelope["seq"],
        project_id=envelope["project_id"], user_id=envelope["user_id"],
        name=data.get("name"), created_at=envelope["time"],
        containers=tuple(dict(member) for member in data["containers"]),
        restart_policy=dict(data["restart_policy"]),
        labels=dict(data.get("labels") or {}),
        annotations=dict(data.get("annotations") or {}),
        availability_zone=data.get("availability_zone"),
    )


def fold(state: CapsuleState | None, envelope: events.Envelope) -> CapsuleState | None:
    """Apply one event; idempotent (an event at or below state.seq is ignored)."""
    kind = envelope["type"]
    if kind == EventType.CAPSULE_CREATE_REQUESTED:
        return state if state is not None else created_state(envelope)
    if state is None or envelope["seq"] <= state.seq:
        return state
    data = envelope["data"]
    if kind == EventType.CAPSULE_SCHEDULED:
        state = state.evolve(host=data["host"])
    elif kind == EventType.CAPSULE_FAILED:
        state = state.evolve(failed_reason=data["reason"])
    elif kind == EventType.CAPSULE_DELETE_REQUESTED:
        state = state.evolve(deleting=True)
    return state.evolve(seq=envelope["seq"], updated_at=envelope["time"])



def member_request(capsule: CapsuleState, member: Mapping[str, Any], host: str) -> events.Draft:
    """A member's container.create.requested: on the capsule's host, in its sandbox."""
    spec = {key: value for key, value in member.items() if key != "uuid" and value is not None}
    spec.update(run=True, requested_host=host, capsule_id=capsule.uuid,
                restart_policy=dict(capsule.restart_policy))
    if capsule.labels:
        spec["labels"] = dict(capsule.labels)
    return events.Draft(EventType.CREATE_REQUESTED, str(member["uuid"]), spec)


def schedule(capsule: CapsuleState | None, hosts: Sequence[HostState],
             envelope: events.Envelope, down_after: float | None = None,
             config: placement.Config = placement.DEFAULT,
             ledgers: Mapping[str, claims.Ledger] | None = None) -> Outcome:
    """Place a new capsule (its members summed, as one unit) and request its members there;
    delete the members of a capsule asked to go. Safe to run again: a placed capsule keeps
    its host, and the events it asks for get the same ids as before. With the hosts'
    `ledgers`, the capsule's claim is in the outcome (Outcome.claims), as scheduling's."""
    if capsule is None:
        return Outcome()
    if envelope["type"] == EventType.CAPSULE_DELETE_REQUESTED:
        force = {"force": True, "stop": True}
        return Outcome(events=tuple(events.Draft(EventType.DELETE_REQUESTED, uuid, force)
                                    for uuid in capsule.member_uuids))
    if envelope["type"] != EventType.CAPSULE_CREATE_REQUESTED or capsule.deleting:
        return Outcome()
    host = capsule.host
    drafts: list[events.Draft] = []
    claimed: tuple[claims.Ledger, ...] = ()
    if host is None:
        if down_after is not None:
            hosts = placement.as_seen_at(hosts, envelope["time"], down_after)
        held = ledgers if ledgers is not None else {}
        choice = placement.place(placement.capsule_request(capsule),
                                 placement.views_of(hosts, held, config.ratios), held, config)
        if isinstance(choice, placement.NoValidHost):
            reason = {"reason": choice.reason}
            return Outcome(events=(events.Draft(EventType.CAPSULE_FAILED, envelope["subject"],
                                                reason),))
        host = choice.host
        claimed = placement.new_claims(choice, held) if ledgers is not None else ()
        drafts.append(events.Draft(EventType.CAPSULE_SCHEDULED, envelope["subject"],
                                   {"host": host}))
    drafts += [member_request(capsule, member, host) for member in capsule.containers]
    return Outcome(events=tuple(drafts), claims=claimed)


def release_of(capsule: CapsuleState | None, envelope: events.Envelope
               ) -> placement.Release | None:
    """The host and uuid whose claim a capsule gives back: when it is asked to go (its
    members are deleted with it; the room is free for the next placement from then on)."""
    if capsule is None or capsule.host is None \
            or envelope["type"] != EventType.CAPSULE_DELETE_REQUESTED:
        return None
    return placement.Release(capsule.host, capsule.uuid)


def status(capsule: CapsuleState, members: Sequence[ContainerState | None]) -> str | None:
    """The capsule's status from its members' (Zun shows its sandbox's): None once deleted."""
    known = [m for m in members if m is not None]
    if capsule.deleting:
        gone = len(known) == len(members) and all(m.status is S.DELETED for m in known)
        return None if gone else str(S.DELETING)
    if capsule.failed_reason is not None or any(m.status is S.ERROR for m in known):
        return str(S.ERROR)
    if len(known) < len(members) or any(m.status is S.CREATING or m.task_state is not None
                                        for m in known):
        return str(S.CREATING)
    statuses = {m.status for m in known}
    if statuses == {S.STOPPED}:
        return str(S.STOPPED)
    return str(S.RUNNING) if S.RUNNING in statuses else str(known[0].status)
