"""PURE: healing: which containers of a down host are due to be made again on another host,
and the events that ask for it (the scheduler places them; processors/scheduling.py)."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass

from higgins import events
from higgins.processors.model import ContainerState, HostState, Status


def wants_healing(state: ContainerState) -> bool:
    """A container that should run wherever its host is: a restart policy other than `no`,
    or Zun's auto_heal. A capsule's member moves only with its capsule (not healed)."""
    policy = state.restart_policy.get("Name") or "no"
    return (policy != "no" or state.auto_heal) and state.capsule_id is None


def down_long_enough(host: HostState, now: str, heal_after: float) -> bool:
    """Declared down (host.down) and either forced down by an admin (their word that it is
    dead, as Nova's evacuate takes it) or down for `heal_after` seconds (a negative
    `heal_after`: only when forced down)."""
    if host.down_since is None:
        return False
    if host.forced_down:
        return True
    if heal_after < 0:
        return False
    since = datetime.datetime.fromisoformat(now) - datetime.datetime.fromisoformat(
        host.down_since)
    return since >= datetime.timedelta(seconds=heal_after)


@dataclass(frozen=True)
class Heal:
    """A heal to ask for, and what makes it the same heal for every watcher that finds it due
    (its event id derives from `finding`): the container, the generation it ends, the host and
    the down spell (a later spell of the same host is a heal of its own)."""

    draft: events.Draft
    finding: str


def due(hosts: Sequence[HostState], containers: Sequence[ContainerState], now: str,
        heal_after: float) -> list[Heal]:
    """The heals to ask for at `now`: each container that is Unknown on a host down long
    enough and wants healing, as its next generation. None while no other host is up to take
    them (a lone host's containers wait for it, rather than fail for want of a place)."""
    down = {host.name: host for host in hosts if down_long_enough(host, now, heal_after)}
    if not any(host.down_since is None and host.schedulable for host in hosts):
        return []
    heals = []
    for state in containers:
        host = down.get(state.host or "")
        if host is not None and state.status is Status.UNKNOWN and wants_healing(state):
            finding = f"{state.uuid}/{state.generation}/{host.name}/{host.down_since}"
            heals.append(Heal(heal_requested(state, host), finding))
    return heals


def heal_requested(state: ContainerState, host: HostState) -> events.Draft:
    reason = (f"The host {host.name} is down (since {host.down_since}); the container is "
              f"made again on another host.")
    return events.Draft(events.EventType.HEAL_REQUESTED, state.uuid,
                        {"host": host.name, "generation": state.generation + 1,
                         "reason": reason})

