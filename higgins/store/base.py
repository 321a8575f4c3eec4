"""EDGE: the Store port: materialised views (folds of the event log) with compare-and-set writes."""

from __future__ import annotations

from typing import Protocol

from higgins.faults import ServiceUnavailable
from higgins.processors.model import ContainerState, HostState


class StoreUnavailable(ServiceUnavailable):
    """The views could not be read or written now (their database is away); try again."""


class Store(Protocol):
    def load_container(self, uuid: str) -> ContainerState | None: ...

    def save_container(self, state: ContainerState, expected_seq: int | None) -> bool:
        """Write `state` only if the stored one is at `expected_seq` (None: absent).
        False when another writer got there first: reload and fold again."""

    def find_containers(
        self, project_id: str | None = None, name: str | None = None
    ) -> list[ContainerState]:
        """Containers not yet Deleted, oldest first (created_at, then uuid); all projects when
        project_id is None."""

    def load_host(self, name: str) -> HostState | None: ...

    def save_host(self, state: HostState, expected_seq: int | None) -> bool: ...

    def list_hosts(self) -> list[HostState]: ...

    def close(self) -> None: ...
