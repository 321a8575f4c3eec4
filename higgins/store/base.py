"""EDGE: the Store port: materialised views (folds of the event log), written last-seq-wins.

A view at seq N is the fold of its subject's first N events, and the log never changes, so two
writers at the same seq write the same thing and a higher seq is always the newer truth: saves
commute, and no read, lock or compare-and-set is needed to keep a view right."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from higgins.faults import ServiceUnavailable
from higgins.processors.audit import Entry, Query
from higgins.processors.claims import Ledger
from higgins.processors.model import CapsuleState, ContainerState, HostState, ImageState
from higgins.processors.quotas import Allocation, Change, Usage
from higgins.processors.webhooks import Attempt, Delivery, Subscription


class StoreUnavailable(ServiceUnavailable):
    """The views could not be read or written now (their database is away); try again."""


class QuotaUnavailable(ServiceUnavailable):
    """A project's quota kept changing under a reservation (other processes won every
    compare-and-set round): nothing was reserved; try again."""


class QuotaBook(Protocol):
    """Quota limits (configuration an admin sets) and what each project holds: usage counters
    and one allocation per container, changed together atomically (processors/quotas.admit)
    across API processes. Every operation costs the same whatever the project holds, except
    `allocations`, which the background reconciliation reads."""

    def quota_limits(self, scope: str) -> dict[str, int]:
        """The limits set for `scope` ("project:<id>" or "class:<name>"), resource -> limit."""

    def set_quota_limits(self, scope: str, limits: Mapping[str, int]) -> None: ...

    def clear_quota_limits(self, scope: str) -> None: ...

    def quota_usage(self, project_id: str) -> Usage: ...

    def allocation(self, project_id: str, uuid: str) -> Allocation | None: ...

    def change_allocations(self, project_id: str,
                           changes: Sequence[Change]) -> list[list[str]]:
        """Apply `changes` in order as one atomic step (processors/quotas.admit); per change,
        the resources that refused it ([] = applied). QuotaUnavailable if other writers kept
        winning."""

    def allocations(self, project_id: str) -> dict[str, Allocation]:
        """Every allocation of the project (for reconciliation, off the request path)."""

    def quota_projects(self) -> list[str]:
        """Projects holding any allocation."""


class WebhookBook(Protocol):
    """Webhook subscriptions (configuration their owners change through the API; kept out of
    the retained log because they hold secrets) and the state of every delivery, which
    survives restarts: each pending one is due at `next_at`, and one dispatcher claims it."""

    def save_subscription(self, subscription: Subscription) -> None: ...

    def load_subscription(self, uuid: str) -> Subscription | None: ...

    def find_subscriptions(self, project_id: str | None = None) -> list[Subscription]:
        """Of one project (all when None), oldest first."""

    def delete_subscription(self, uuid: str) -> None:
        """The subscription, its deliveries and its attempts."""

    def save_delivery(self, delivery: Delivery) -> None:
        """Keep the delivery; a pending one is due at its next_at, others are due never."""

    def load_delivery(self, subscription: str, event_id: str) -> Delivery | None: ...

    def due_deliveries(self, now: float, limit: int) -> list[Delivery]:
        """Pending deliveries whose next_at has come, soonest first."""

    def claim_delivery(self, delivery: Delivery, until: float) -> bool:
        """Move a due delivery's next_at to `until` if no one else did since it was read:
        the one claimer that wins tries it (a claimer that dies leaves it due at `until`)."""

    def record_attempt(self, attempt: Attempt) -> None: ...

    def attempts(self, subscription: str, limit: int = 100) -> list[Attempt]:
        """The subscription's delivery log, newest first."""


class AuditLog(Protocol):
    """The audit record (processors/audit.py): one entry per audited event, appended by the
    audit processor (higgins/auditing.py), listed by GET /v1/events. Order: by time, then
    event id; newest first unless asked otherwise."""

    def record_audit(self, entries: Sequence[Entry]) -> None:
        """Keep each entry under its event id: recording it again (a redelivered batch) writes
        the same rows."""

    def audit_entry(self, event_id: str) -> Entry | None: ...

    def audit_entries(self, query: Query, marker: str | None = None, limit: int = 100,
                      oldest_first: bool = False) -> list[Entry]:
        """Up to `limit` entries matching `query`, newest first (or oldest first), after the
        entry `marker` (an event id) in that order. audit.UnknownMarker if `marker` is no
        entry of the query's project."""


class HostLedgers(Protocol):
    """What the scheduler has claimed on each host (processors/claims.py): one ledger per
    host, changed only by a conditional write over the version it was read at, so that two
    schedulers placing at once never both take the last room on a host: one write wins, the
    other reads again and places again (runtime/claiming.py)."""

    def load_ledger(self, host: str) -> Ledger:
        """The host's ledger; an empty one at version 0 when nothing was ever claimed."""

    def load_ledgers(self, hosts: Sequence[str]) -> dict[str, Ledger]:
        """The ledger of each of `hosts` (empty at version 0 where none is stored)."""

    def claim_ledger(self, host: str, ledger: Ledger, expected_version: int) -> bool:
        """Store `ledger` as the host's if its stored version is still `expected_version`
        (0: none stored yet); False, and nothing written, when another writer got there
        first."""


class Store(QuotaBook, WebhookBook, AuditLog, HostLedgers, Protocol):
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

    def load_image(self, uuid: str) -> ImageState | None: ...

    def save_image(self, state: ImageState) -> None:
        """Keep `state` unless the stored view is at a higher seq."""

    def list_images(self) -> list[ImageState]:
        """Images not yet Deleted, oldest first (created_at, then uuid)."""

    def load_capsule(self, uuid: str) -> CapsuleState | None: ...

    def save_capsule(self, state: CapsuleState) -> None:
        """Keep `state` unless the stored view is at a higher seq."""

    def find_capsules(self, project_id: str | None = None) -> list[CapsuleState]:
        """Capsules (of one project, or all when None), oldest first (created_at, then uuid)."""

    def save_all(self, states: Sequence[ContainerState | HostState | ImageState | CapsuleState],
                 ) -> None:
        """Save each as its save_* would (highest seq wins), all at once: one transaction, or
        every write sent before any is awaited."""

    def close(self) -> None: ...
