"""EDGE: the Store port: materialised views (folds of the event log), written last-seq-wins.

A view at seq N is the fold of its subject's first N events, and the log never changes, so two
writers at the same seq write the same thing and a higher seq is always the newer truth: saves
commute, and no read, lock or compare-and-set is needed to keep a view right."""

from __future__ import annotations

from typing import Protocol

from higgins.faults import ServiceUnavailable
from higgins.processors.model import ContainerState, HostState


class StoreUnavailable(ServiceUnavailable):
    """The views could not be read or written now (their database is away); try again."""


class Store(Protocol):
    def load_container(self, uuid: str) -> ContainerState | None: ...

    def save_container(self, state: ContainerState) -> None:
        """Keep `state` unless the stored view is at a higher seq."""

    def find_containers(
        self, project_id: str | None = None, name: str | None = None
    ) -> list[ContainerState]:
        """Containers not yet Deleted, oldest first (created_at, then uuid); all projects when
        project_id is None."""

    def load_host(self, name: str) -> HostState | None: ...

    def save_host(self, state: HostState) -> None:
        """Keep `state` unless the stored view is at a higher seq."""

    def list_hosts(self) -> list[HostState]: ...

    def close(self) -> None: ...
