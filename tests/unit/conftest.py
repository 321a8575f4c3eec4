"""Helpers for the pure core's tests: envelopes and states built in one line."""

from __future__ import annotations

import uuid
from typing import Any

from higgins import events
from higgins.processors import containers
from higgins.processors.model import ContainerState, HostState, Status

UUID = "6dca4fc1-a457-487b-9d55-dfbe091a1756"
SPEC: dict[str, Any] = {"name": "web", "image": "busybox:local", "command": ["sleep", "9"],
                        "cpu": 0.5, "memory": 64, "environment": {"A": "b"},
                        "labels": {"team": "blue"}, "run": True}


def envelope(kind: str, seq: int, subject: str = UUID, **data: Any) -> events.Envelope:
    return events.Envelope(id=str(uuid.uuid4()), type=kind, subject=subject, seq=seq,
                           time=f"2026-11-24T00:00:{seq:02d}+00:00", project_id="p1",
                           user_id="u1", request_id="req-1", data=data)


def created(**spec: Any) -> ContainerState:
    state = containers.fold(None, envelope("container.create.requested", 1, **{**SPEC, **spec}))
    assert state is not None
    return state


def in_status(status: Status, **changes: Any) -> ContainerState:
    return created().evolve(status=status, task_state=None, **changes)


def host(name: str, cpus: float = 2.0, memory_mb: int = 4096,
         runtimes: tuple[str, ...] = ("runc",)) -> HostState:
    return HostState(name=name, seq=1, cpus=cpus, memory_mb=memory_mb, runtimes=runtimes,
                     reported_at="2026-11-24T00:00:00+00:00")
