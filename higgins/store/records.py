"""PURE: states to and from plain JSON records, for any store."""

from __future__ import annotations

import dataclasses
from typing import Any

from higgins.processors.model import ContainerState, HostState, Status, TaskState

_TUPLES = ("command", "entrypoint")


_CONTAINER_FIELDS = tuple(f.name for f in dataclasses.fields(ContainerState))


def container_record(state: ContainerState) -> dict[str, Any]:
    """Shallow on purpose (dataclasses.asdict deep-copies, and was most of a fold's cost): the
    fields are JSON values already, and the record is only ever serialised."""
    record = {name: getattr(state, name) for name in _CONTAINER_FIELDS}
    record["status"] = str(state.status)
    record["task_state"] = str(state.task_state) if state.task_state else None
    for name in _TUPLES:
        record[name] = list(record[name])
    return record


def container_state(record: dict[str, Any]) -> ContainerState:
    values = dict(record)
    values["status"] = Status(values["status"])
    values["task_state"] = TaskState(values["task_state"]) if values["task_state"] else None
    for name in _TUPLES:
        values[name] = tuple(values[name])
    return ContainerState(**values)


def host_record(state: HostState) -> dict[str, Any]:
    record = dataclasses.asdict(state)
    record["runtimes"] = list(state.runtimes)
    return record


def host_state(record: dict[str, Any]) -> HostState:
    return HostState(**{**record, "runtimes": tuple(record["runtimes"])})
