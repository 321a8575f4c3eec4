"""PURE: fold host reports into host states."""

from __future__ import annotations

from higgins import events
from higgins.processors.model import HostState


def fold(state: HostState | None, envelope: events.Envelope) -> HostState | None:
    if envelope["type"] != events.EventType.HOST_REPORTED:
        return state
    if state is not None and envelope["seq"] <= state.seq:
        return state
    data = envelope["data"]
    return HostState(
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
    )
