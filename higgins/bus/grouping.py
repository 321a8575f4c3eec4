"""EDGE: group commit: concurrent writers share one leader's write (for the embedded log: one
transaction and one fsync). Side effects: none of its own; runs the write it is given on the
calling threads."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

Job = TypeVar("Job")
Result = TypeVar("Result")

# A group write: every job's result or the exception that job alone failed with, in job order.
GroupWrite = Callable[[list[Job]], list[Result | Exception]]


class _Waiter(Generic[Job, Result]):
    __slots__ = ("job", "ready", "leads", "result", "error")

    def __init__(self, job: Job) -> None:
        self.job = job
        self.ready = threading.Event()  # set once done, or once made the leader
        self.leads = False
        self.result: Result | None = None
        self.error: BaseException | None = None


class GroupCommit(Generic[Job, Result]):
    """Callers queue a job and wait. Whoever finds no write in flight leads: it takes every job
    queued, writes them in one go, passes the lead to the first job queued meanwhile, then gives
    each waiter its own result or exception. A lone caller leads at once (no timer, no linger);
    under load a group is whatever queued while the previous write was in flight. `limit=1`
    writes one job at a time (the baseline the benchmark compares with)."""

    def __init__(self, write: GroupWrite[Job, Result], limit: int | None = None) -> None:
        self._write = write
        self._limit = limit
        self._lock = threading.Lock()
        self._queue: list[_Waiter[Job, Result]] = []
        self._leading = False
        self.largest = 0  # the most jobs one write has carried, for observability

    def submit(self, job: Job) -> Result:
        """The job's result once its group is written; its exception if it failed."""
        waiter: _Waiter[Job, Result] = _Waiter(job)
        with self._lock:
            self._queue.append(waiter)
            waiter.leads = not self._leading
            self._leading = True
        if not waiter.leads:
            waiter.ready.wait()
        if waiter.leads:
            self._lead()
        if waiter.error is not None:
            raise waiter.error
        return waiter.result  # type: ignore[return-value]  # set whenever error is not

    def queued(self) -> int:
        """Jobs waiting for the write in flight to finish (observability, tests)."""
        with self._lock:
            return len(self._queue)

    def _lead(self) -> None:
        with self._lock:
            cut = len(self._queue) if self._limit is None else self._limit
            group, self._queue = self._queue[:cut], self._queue[cut:]
        self.largest = max(self.largest, len(group))
        outcomes: list[Result | BaseException]
        try:
            outcomes = list(self._write([waiter.job for waiter in group]))
            if len(outcomes) != len(group):
                raise RuntimeError(f"a group write of {len(group)} answered {len(outcomes)}")
        except BaseException as error:  # every waiter must hear of it: none may hang
            outcomes = [error] * len(group)
        self._pass_lead()
        for waiter, outcome in zip(group, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                waiter.error = outcome
            else:
                waiter.result = outcome
            waiter.ready.set()

    def _pass_lead(self) -> None:
        with self._lock:
            if self._queue:
                successor = self._queue[0]
                successor.leads = True
                successor.ready.set()
            else:
                self._leading = False
