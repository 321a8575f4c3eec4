"""EDGE: worker threads shared by the bus adapters: envelopes handled in arrival order, except
that one subject's envelopes are handled one at a time, in order."""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from higgins.bus.base import Handler
from higgins.events import Envelope

LOG = logging.getLogger(__name__)

Token = TypeVar("Token")


class Workers(Generic[Token]):
    """`concurrency` threads taking envelopes in arrival order, except that an envelope waits
    while an earlier one of its key (its subject, unless the submitter names another) is in
    hand: a container's envelopes are handled in order, one at a time, and any idle thread
    serves any other container. `work(token, envelope)` does the handling and its
    acknowledgement; returning False stops the pool."""

    def __init__(self, work: Callable[[Token, Envelope], bool], concurrency: int) -> None:
        self._work_one = work
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

    def _take(self) -> tuple[Token, Envelope, str] | None:
        with self._ready:
            while not self._closed:
                waiting: set[str] = set()
                for index, (token, envelope, key) in enumerate(self._pending):
                    if key in self._busy or key in waiting:
                        waiting.add(key)
                        continue
                    del self._pending[index]
                    self._busy.add(key)
                    return token, envelope, key
                self._ready.wait()
            return None

    def _release(self, key: str) -> None:
        with self._ready:
            self._busy.discard(key)
            self._ready.notify_all()

    def _work(self) -> None:
        while (item := self._take()) is not None:
            token, envelope, key = item
            try:
                carry_on = self._work_one(token, envelope)
            finally:
                self._release(key)
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


def handle_until_done(handler: Handler, envelope: Envelope, stop: threading.Event,
                      gives_up: Callable[[Exception, int], bool] = lambda error, tries: False,
                      ) -> bool:
    """Retry a failing handler (a store, broker or Docker hiccup) rather than skip the envelope:
    skipping would lose an acknowledged command. False when stopped while retrying, or when
    `gives_up(error, tries)` says the envelope is poison."""
    delay = 0.1
    tries = 0
    while True:
        try:
            handler(envelope)
            return True
        except Exception as error:  # noqa: BLE001 - every failure is retried or parked
            tries += 1
            LOG.exception("handler failed; retrying", extra={"event_id": envelope["id"]})
            if gives_up(error, tries) or stop.wait(delay):
                return False
            delay = min(delay * 2, 5.0)
