"""WIRING: the processors as bus consumers: consume -> load current state -> pure function ->
publish the outcome (ids derived from the cause) -> the bus commits the position."""

from __future__ import annotations

import collections
import logging
import threading

from higgins import events
from higgins.bus.base import EVENTS, Bus
from higgins.processors import scheduling
from higgins.processors.model import ContainerState, HostState
from higgins.runtime import publishing, views
from higgins.store.base import Store

LOG = logging.getLogger(__name__)


def is_host_event(envelope: events.Envelope) -> bool:
    return envelope["subject"].startswith(events.HOST_SUBJECT_PREFIX)


class _FoldedUpTo:
    """The seq up to which this process has seen each subject's view folded. Views only move
    forward, so a stale entry costs a read, never a wrong answer. Bounded (least recent out)."""

    def __init__(self, size: int = 100_000) -> None:
        self._size = size
        self._seqs: collections.OrderedDict[str, int] = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, subject: str) -> int:
        with self._lock:
            return self._seqs.get(subject, 0)

    def record(self, subject: str, seq: int) -> None:
        with self._lock:
            self._seqs[subject] = max(seq, self._seqs.get(subject, 0))
            self._seqs.move_to_end(subject)
            if len(self._seqs) > self._size:
                self._seqs.popitem(last=False)


class Processors:
    """fold: every event into the views. scheduler: place creates, route actions to hosts."""

    NAMES = ("fold", "scheduler")

    def __init__(self, bus: Bus, store: Store) -> None:
        self.bus = bus
        self.store = store
        self._folded = _FoldedUpTo()

    def fold(self, envelope: events.Envelope) -> None:
        LOG.info("event %s", envelope["type"], extra={
            "uuid": envelope["subject"], "event_id": envelope["id"],
            "request_id": envelope["request_id"], "event_type": envelope["type"]})
        subject = envelope["subject"]
        if envelope["seq"] <= self._folded.get(subject):
            return  # an earlier catch-up of this subject already folded it
        state: ContainerState | HostState | None
        if is_host_event(envelope):
            name = subject.removeprefix(events.HOST_SUBJECT_PREFIX)
            state = views.current_host(self.bus, self.store, name)
        else:
            state = views.current_container(self.bus, self.store, subject)
        if state is not None:
            self._folded.record(subject, state.seq)

    def schedule(self, envelope: events.Envelope) -> None:
        if is_host_event(envelope):
            return
        state = views.current_container(self.bus, self.store, envelope["subject"])
        outcome = scheduling.schedule(state, self.store.list_hosts(), envelope)
        publishing.publish_outcome(self.bus, envelope, outcome)

    def run(self, stop: threading.Event, names: tuple[str, ...] = NAMES,
            concurrency: int = 1) -> list[threading.Thread]:
        """Consume the event stream with `concurrency` workers per processor (one container's
        events are still handled one at a time, in order)."""
        handlers = {"fold": self.fold, "scheduler": self.schedule}
        threads = [
            threading.Thread(target=self.bus.consume,
                             args=(name, EVENTS, handlers[name], stop, concurrency),
                             daemon=True, name=f"processor-{name}")
            for name in names
        ]
        for thread in threads:
            thread.start()
        return threads
