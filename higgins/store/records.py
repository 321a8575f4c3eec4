"""PURE: states to and from plain JSON records, for any store."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from higgins.processors.claims import Ledger, Resources
from higgins.processors.model import (
    CapsuleState,
    ContainerState,
    HostState,
    ImageState,
    ImageStatus,
    Status,
    TaskState,
)
from higgins.processors.quotas import Allocation

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


def image_record(state: ImageState) -> dict[str, Any]:
    record = dataclasses.asdict(state)
    record["status"] = str(state.status)
    return record


def image_state(record: dict[str, Any]) -> ImageState:
    return ImageState(**{**record, "status": ImageStatus(record["status"])})


def live_images(found: list[ImageState]) -> list[ImageState]:
    """The images a listing shows: not deleted, oldest first."""
    kept = [image for image in found if image.status is not ImageStatus.DELETED]
    return sorted(kept, key=lambda image: (image.created_at, image.uuid))


def capsule_record(state: CapsuleState) -> dict[str, Any]:
    record = dataclasses.asdict(state)
    record["containers"] = list(state.containers)
    return record


def capsule_state(record: dict[str, Any]) -> CapsuleState:
    return CapsuleState(**{**record, "containers": tuple(record["containers"])})


def oldest_first(found: list[CapsuleState]) -> list[CapsuleState]:
    return sorted(found, key=lambda capsule: (capsule.created_at, capsule.uuid))


def ledger_body(ledger: Mapping[str, Allocation]) -> str:
    return json.dumps({uuid: allocation.to_record() for uuid, allocation in ledger.items()})


def ledger_from_body(body: str | None) -> dict[str, Allocation]:
    return {uuid: Allocation.from_record(record)
            for uuid, record in json.loads(body or "{}").items()}


def host_ledger_body(ledger: Ledger) -> str:
    """A host ledger's claims as JSON (uuid -> [millicpu, memory_mb, disk_gb]); the sum and
    the version are kept beside it."""
    return json.dumps({uuid: [held.millicpu, held.memory_mb, held.disk_gb]
                       for uuid, held in ledger.claims.items()})


def host_ledger(host: str, version: int, body: str | None) -> Ledger:
    """The ledger stored for `host` at `version` (the sum is recomputed from the claims)."""
    held = {uuid: Resources(*amounts) for uuid, amounts in json.loads(body or "{}").items()}
    used = Resources()
    for amount in held.values():
        used = used + amount
    return Ledger(host, held, used, version)
