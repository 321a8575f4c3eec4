"""EDGE: worker threads shared by the bus adapters: envelopes handled in arrival order and in
batches, except that one subject's envelopes are handled in order, never two at once."""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from higgins.bus.base import BatchHandler
from higgins.events import Envelope

LOG = logging.getLogger(__name__)

Token = TypeVar("Token")


Item = tuple[Token, Envelope]


class Workers(Generic[Token]):
    """`concurrency` threads taking envelopes in arrival order, except that an envelope waits
    while an earlier one of its key (its subject, unless the submitter names another) is in
    hand: a container's envelopes are handled in order, and any idle thread serves any other
    container. A thread takes up to `max_batch` envelopes at once (whatever is queued and free:
    no waiting for more; of one key only with `one_key`), so under load work comes in batches
    and a lone envelope is a batch of one. `work(batch)` does the handling and the
    acknowledgements; returning False stops the pool."""

    def __init__(self, work: Callable[[list[Item[Token]]], bool], concurrency: int,
                 max_batch: int = 1, one_key: bool = False) -> None:
        self._work_batch = work
        self._max_batch = max(1, max_batch)
        self._one_key = one_key  # a batch holds one key's envelopes only (keys run in parallel)
        self.failed = False
        self._ready = threading.Condition()
        self._pending: collections.deque[tuple[Token, Envelope, str]] = collections.deque()
        self._busy: set[str] = set()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._work, daemon=True, name=f"worker-{i}")
            for i in range(max(1, concurrency))
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, token: Token, envelope: Envelope, key: str | None = None) -> None:
        with self._ready:
            self._pending.append((token, envelope, envelope["subject"] if key is None else key))
            self._ready.notify()

    def discard(self, keep: Callable[[Token], bool]) -> list[Token]:
        """Drop queued (not yet taken) envelopes whose token fails `keep`; their tokens."""
        with self._ready:
            dropped = [token for token, _, _ in self._pending if not keep(token)]
            self._pending = collections.deque(i for i in self._pending if keep(i[0]))
            return dropped

    def queued(self) -> int:
        with self._ready:
            return len(self._pending) + len(self._busy)

    def _take(self) -> list[tuple[Token, Envelope, str]] | None:
        """The next batch: queued envelopes in order whose key nobody holds, none after one of
        its key that stays behind (so each key's order holds), up to max_batch."""
        with self._ready:
            while not self._closed:
                taken: list[tuple[Token, Envelope, str]] = []
                behind: set[str] = set()
                kept: collections.deque[tuple[Token, Envelope, str]] = collections.deque()
                for item in self._pending:
                    key = item[2]
                    other = self._one_key and bool(taken) and key != taken[0][2]
                    if key in self._busy or key in behind or len(taken) >= self._max_batch \
                            or other:
                        behind.add(key)
                        kept.append(item)
                    else:
                        taken.append(item)
                if taken:
                    self._pending = kept
                    self._busy.update(key for _, _, key in taken)
                    return taken
                self._ready.wait()
            return None

    def _release(self, keys: set[str]) -> None:
        with self._ready:
            self._busy.difference_update(keys)
            self._ready.notify_all()

    def _work(self) -> None:
        while (taken := self._take()) is not None:
            try:
                carry_on = self._work_batch([(token, envelope) for token, envelope, _ in taken])
            finally:
                self._release({key for _, _, key in taken})
            if not carry_on:
                self.failed = True
                return

    def close(self) -> None:
        """Stop taking work; what was not taken stays unacknowledged and is delivered again."""
        with self._ready:
            self._closed = True
            self._ready.notify_all()
        for thread in self._threads:
            thread.join(timeout=30)


def handle_until_done(handler: BatchHandler, batch: Sequence[Envelope], stop: threading.Event,
                      gives_up: Callable[[Exception, int], bool] = lambda error, tries: False,
                      ) -> bool:
    """Retry a failing handler (a store, broker or Docker hiccup) rather than skip the batch:
    skipping would lose an acknowledged command. False when stopped while retrying, or when
    `gives_up(error, tries)` says the batch is poison."""
    delay = 0.1
    tries = 0
    while True:
        try:
            handler(batch)
            return True
        except Exception as error:  # noqa: BLE001 - every failure is retried or parked
            tries += 1
            LOG.exception("handler failed; retrying", extra={
                "event_id": batch[0]["id"], "batch": len(batch)})
            if gives_up(error, tries) or stop.wait(delay):
                return False
            delay = min(delay * 2, 5.0)
