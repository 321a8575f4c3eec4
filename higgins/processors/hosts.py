"""PURE: fold host reports and the admin's service switches into host states."""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from higgins import events
from higgins.processors.model import ContainerState, HostState, Status

# a container in these has nothing (left) running on its host to lose sight of
_GONE = frozenset({Status.DELETING, Status.DELETED, Status.ERROR})


def fold(state: HostState | None, envelope: events.Envelope) -> HostState | None:
    if state is not None and envelope["seq"] <= state.seq:
        return state
    kind = envelope["type"]
    if kind == events.EventType.HOST_REPORTED:
        return _reported(state, envelope)
    if state is None:
        return None
    if kind == events.EventType.SERVICE_UPDATED:
        data = envelope["data"]
        switches = {name: data[name] for name in ("disabled", "disabled_reason", "forced_down")
                    if name in data}
        return state.evolve(seq=envelope["seq"], **switches)
    if kind == events.EventType.SERVICE_DELETED:
        return state.evolve(seq=envelope["seq"], deleted=True)
    if kind == events.EventType.HOST_DOWN:
        return _down(state, envelope)
    return state.evolve(seq=envelope["seq"])


def _reported(state: HostState | None, envelope: events.Envelope) -> HostState:
    """A report (at agent start, then every report interval): capacity as reported now; the
    admin's switches stay, unless the service record was deleted (it registers anew)."""
    data = envelope["data"]
    kept = state if state is not None and not state.deleted else None
    reported = HostState(
        name=data["host"],
        seq=envelope["seq"],
        cpus=float(data["cpus"]),
        memory_mb=int(data["memory_mb"]),
        runtimes=tuple(data["runtimes"]),
        reported_at=envelope["time"],
        driver_version=data.get("driver_version", ""),
        architecture=data.get("architecture", ""),
        os_type=data.get("os_type", ""),
        os=data.get("os", ""),
        kernel_version=data.get("kernel_version", ""),
        disk_total_gb=int(data.get("disk_total_gb", 0)),
        availability_zone=data.get("availability_zone", "nova"),
        agent_url=data.get("agent_url", ""),
        labels=dict(data.get("labels") or {}),
        tunnel_ip=data.get("tunnel_ip"),
        report_count=(kept.report_count if kept else 0) + 1,
        created_at=kept.created_at if kept else envelope["time"],
    )
    if kept is None:
        return reported
    return reported.evolve(disabled=kept.disabled, disabled_reason=kept.disabled_reason,
                           forced_down=kept.forced_down, down_count=kept.down_count)


def _down(state: HostState, envelope: events.Envelope) -> HostState:
    """Found silent: down since the event, unless it reported again after the report the
    finding was based on (a late finding changes nothing) or is down already."""
    late = envelope["data"]["last_reported_at"] != state.reported_at
    if late or state.down_since is not None:
        return state.evolve(seq=envelope["seq"])
    return state.evolve(seq=envelope["seq"], down_since=envelope["time"],
                        down_count=state.down_count + 1)


def silent(hosts: Sequence[HostState], now: str, down_after: float) -> list[HostState]:
    """The hosts to declare down at `now`: registered, not down yet, and whose last report is
    more than `down_after` seconds old (Zun's service_down_time)."""
    moment = datetime.datetime.fromisoformat(now)
    horizon = datetime.timedelta(seconds=down_after)
    return [host for host in hosts
            if not host.deleted and host.down_since is None
            and moment - datetime.datetime.fromisoformat(host.reported_at) > horizon]


def down_outcome(host: HostState, on_it: Sequence[ContainerState]) -> tuple[
        list[events.Draft], events.Draft]:
    """What declaring `host` down publishes: each of its containers that may still run there
    becomes Unknown (first), then the host is down (its agent, back, reconciles)."""
    reason = (f"The host {host.name} stopped reporting (last report {host.reported_at}); the "
              f"container's state is unknown until it reports again.")
    unreachable = [events.Draft(events.EventType.UNREACHABLE, state.uuid,
                                {"host": host.name, "reason": reason})
                   for state in on_it if state.host == host.name and state.status not in _GONE]
    down = events.Draft(events.EventType.HOST_DOWN, events.host_subject(host.name),
                        {"host": host.name, "last_reported_at": host.reported_at})
    return unreachable, down
