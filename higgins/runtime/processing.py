"""WIRING: the processors as bus consumers: consume -> load current state -> pure function ->
publish the outcome (ids derived from the cause) -> the bus commits the position."""

from __future__ import annotations

import logging
import threading

from higgins import events
from higgins.bus.base import EVENTS, Bus
from higgins.processors import scheduling
from higgins.runtime import publishing, views
from higgins.store.base import Store

LOG = logging.getLogger(__name__)


def is_host_event(envelope: events.Envelope) -> bool:
    return envelope["subject"].startswith(events.HOST_SUBJECT_PREFIX)


class Processors:
    """fold: every event into the views. scheduler: place creates, route actions to hosts."""

    NAMES = ("fold", "scheduler")

    def __init__(self, bus: Bus, store: Store) -> None:
        self.bus = bus
        self.store = store

    def fold(self, envelope: events.Envelope) -> None:
        LOG.info("event %s", envelope["type"], extra={
            "uuid": envelope["subject"], "event_id": envelope["id"],
            "request_id": envelope["request_id"], "event_type": envelope["type"]})
        if is_host_event(envelope):
            views.current_host(self.bus, self.store,
                               envelope["subject"].removeprefix(events.HOST_SUBJECT_PREFIX))
        else:
            views.current_container(self.bus, self.store, envelope["subject"])

    def schedule(self, envelope: events.Envelope) -> None:
        if is_host_event(envelope):
            return
        state = views.current_container(self.bus, self.store, envelope["subject"])
        outcome = scheduling.schedule(state, self.store.list_hosts(), envelope)
        publishing.publish_outcome(self.bus, envelope, outcome)

    def run(self, stop: threading.Event, names: tuple[str, ...] = NAMES) -> list[threading.Thread]:
        handlers = {"fold": self.fold, "scheduler": self.schedule}
        threads = [
            threading.Thread(target=self.bus.consume, args=(name, EVENTS, handlers[name], stop),
                             daemon=True, name=f"processor-{name}")
            for name in names
        ]
        for thread in threads:
            thread.start()
        return threads
