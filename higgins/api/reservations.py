"""EDGE: quota changes of one project, combined: concurrent requests of a project in this
process share one atomic store step (one transaction, or one compare-and-set round on
Cassandra) instead of queueing for one each. Side effects: the store's quota calls."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from higgins.processors.quotas import Change


class QuotaSteps(Protocol):
    """The one store call this needs (store.base.QuotaBook.change_allocations)."""

    def change_allocations(self, project_id: str,
                           changes: Sequence[Change]) -> list[list[str]]: ...


@dataclass
class _Request:
    change: Change
    done: threading.Event = field(default_factory=threading.Event)
    leads: bool = False  # handed the lead: apply what is queued, then hand it on
    refusal: list[str] | None = None
    error: BaseException | None = None


class Reservations:
    """A request whose project has no step in flight leads: it applies everything queued for
    the project (its own request first), answers each, and hands the lead to the oldest
    request that queued meanwhile. Nobody waits for more than the step in flight and its own;
    a lone request goes straight through (no timer, no linger)."""

    def __init__(self, book: QuotaSteps) -> None:
        self._book = book
        self._lock = threading.Lock()
        self._queued: dict[str, list[_Request]] = {}
        self._leading: set[str] = set()

    def change(self, project_id: str, change: Change) -> list[str]:
        """Apply `change` to the project's quota; the resources that refused it ([]: done)."""
        request = _Request(change)
        with self._lock:
            self._queued.setdefault(project_id, []).append(request)
            if project_id not in self._leading:
                self._leading.add(project_id)
                request.leads = True
        if not request.leads:
            request.done.wait()
        if request.leads and request.refusal is None and request.error is None:
            self._lead(project_id)
        if request.error is not None:
            raise request.error
        assert request.refusal is not None
        return request.refusal

    def _lead(self, project_id: str) -> None:
        with self._lock:
            batch = self._queued.pop(project_id, [])
        try:
            refusals = self._book.change_allocations(project_id, [r.change for r in batch])
            for request, refusal in zip(batch, refusals, strict=True):
                request.refusal = refusal
        except BaseException as error:  # noqa: BLE001 - every waiter gets the failure
            for request in batch:
                request.error = error
        with self._lock:
            waiting = self._queued.get(project_id)
            if waiting:
                waiting[0].leads = True
                waiting[0].done.set()
            else:
                self._leading.discard(project_id)
        for request in batch:
            request.done.set()
