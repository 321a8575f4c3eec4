"""WIRING: the processors as bus consumers: consume -> load current state -> pure function ->
publish the outcome (ids derived from the cause) -> the bus commits the position."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

from higgins import events, folding, publishing, settling
from higgins.bus.base import EVENTS, BatchHandler, Bus, each
from higgins.faults import ServiceUnavailable
from higgins.processors import capsules, images, quotas, scheduling
from higgins.store.base import Store

LOG = logging.getLogger(__name__)
_ROUTINE = frozenset({str(events.EventType.HOST_REPORTED)})
FOLD_BATCH = 256  # events the fold takes at once when they are queued (no waiting for more)


class Processors:
    """fold: every event into the views. scheduler: place creates, route actions to hosts.
    quotas: settle quota allocations against the views every `settle_interval` seconds.
    log: what the bus needs done by a processor (RabbitMQ: number and record what publishers
    sent; nothing on the embedded bus). Some process must run it: `all` does."""

    GROUPS = ("fold", "scheduler")  # event consumers (each a consumer group on the bus)
    NAMES = (*GROUPS, "quotas", "log")

    def __init__(self, bus: Bus, store: Store, service_down_time: float = 60.0,
                 quota: quotas.Defaults | None = None,
                 settle_interval: float = 60.0) -> None:
        self.bus = bus
        self.store = store
        self.service_down_time = service_down_time  # a host silent this long gets nothing new
        self.quota = quota or quotas.Defaults()
        self.settle_interval = settle_interval
        self._folds = folding.Folds(bus, store)

    def fold(self, batch: Sequence[events.Envelope]) -> None:
        """A batch into the views: folded in memory, each subject's view written once."""
        for envelope in batch:
            # an agent's heartbeat every report_interval is routine: not for the console
            level = logging.DEBUG if envelope["type"] in _ROUTINE else logging.INFO
            LOG.log(level, "event %s", envelope["type"], extra={
                "uuid": envelope["subject"], "event_id": envelope["id"],
                "request_id": envelope["request_id"], "event_type": envelope["type"]})
        self._folds.batch(batch)

    def schedule(self, envelope: events.Envelope) -> None:
        kind = events.subject_kind(envelope["subject"])
        if kind == "host":
            return
        if kind == "image":
            outcome = images.route(self._folds.image(envelope), envelope)
        elif kind == "capsule":
            outcome = capsules.schedule(self._folds.capsule(envelope), self.store.list_hosts(),
                                        envelope, self.service_down_time)
        else:
            state = self._folds.container(envelope)
            outcome = scheduling.schedule(state, self.store.list_hosts(), envelope,
                                          self.service_down_time)
        publishing.publish_outcome(self.bus, envelope, outcome)

    def settle_quotas(self, stop: threading.Event) -> None:
        """Every settle_interval: expire reservations whose create never reached the log and
        settle the rest against the views (higgins/settling.py), until `stop`."""
        while not stop.wait(self.settle_interval):
            try:
                settling.settle_all(self.store, self.quota, time.time())
            except ServiceUnavailable as error:
                LOG.warning("cannot settle quotas now (%s); next round", error)

    def run(self, stop: threading.Event, names: tuple[str, ...] = NAMES,
            concurrency: int = 1) -> list[threading.Thread]:
        """Consume the event stream with `concurrency` workers per processor (one container's
        events are still handled one at a time, in order)."""
        handlers: dict[str, tuple[BatchHandler, int]] = {
            "fold": (self.fold, FOLD_BATCH), "scheduler": (each(self.schedule), 1)}
        threads = [
            threading.Thread(target=self.bus.consume,
                             args=(name, EVENTS, handlers[name][0], stop, concurrency,
                                   handlers[name][1]),
                             daemon=True, name=f"processor-{name}")
            for name in names if name in handlers
        ]
        if "quotas" in names:
            threads.append(threading.Thread(target=self.settle_quotas, args=(stop,),
                                            daemon=True, name="processor-quotas"))
        for thread in threads:
            thread.start()
        if "log" in names:
            threads += self.bus.serve(stop, max(concurrency, 8))  # started by the bus
        return threads
