"""PURE: fold host reports and the admin's service switches into host states."""

from __future__ import annotations

from higgins import events
from higgins.processors.model import HostState


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
        report_count=(kept.report_count if kept else 0) + 1,
        created_at=kept.created_at if kept else envelope["time"],
    )
    if kept is None:
        return reported
    return reported.evolve(disabled=kept.disabled, disabled_reason=kept.disabled_reason,
                           forced_down=kept.forced_down)
