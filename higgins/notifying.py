"""SHARED (below the wiring): the notifier, a consumer of the event log that sends Telemetry
notifications (processors/telemetry.py) for each lifecycle step, and a `container.exists` for
every live container each audit period. Side effects: reads the log and the views; sends
through the publisher it is handed (bus/notifications.py)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from higgins import events, folding
from higgins.bus.base import Bus
from higgins.faults import ServiceUnavailable
from higgins.processors import capsules, containers, images, telemetry
from higgins.store.base import Store

LOG = logging.getLogger(__name__)
Send = Callable[[Sequence[telemetry.Notification]], None]


class Notifier:
    """At-least-once: a batch is acknowledged after its notifications were confirmed, and a
    redelivered event sends the same message ids (derived from the event id)."""

    def __init__(self, bus: Bus, store: Store, send: Send) -> None:
        self._store = store
        self._send = send
        self._trail = folding.Trail(bus)
        self._zones: dict[str, str] = {}

    def handle(self, batch: Sequence[events.Envelope]) -> None:
        out: list[telemetry.Notification] = []
        for envelope in batch:
            kind = events.subject_kind(envelope["subject"])
            if kind == "container":
                before, after = self._trail.step(envelope, containers.fold)
                zone = self._zone(after.host) if after is not None else None
                out += telemetry.for_container(before, after, envelope, zone)
            elif kind == "capsule":
                out += telemetry.for_capsule(self._trail.step(envelope, capsules.fold)[1],
                                             envelope)
            elif kind == "image":
                out += telemetry.for_image(self._trail.step(envelope, images.fold)[1], envelope)
        self._send(out)

    def _zone(self, host: str | None) -> str | None:
        """The availability zone of a host (its view; remembered: zones rarely change)."""
        if host is None:
            return None
        if host not in self._zones:
            view = self._store.load_host(host)
            if view is None:
                return None
            self._zones[host] = view.availability_zone
        return self._zones[host]

    def audit(self, beginning: float, ending: float) -> int:
        """container.exists for the period, for every container not deleted; how many."""
        start, end = _rfc3339(beginning), _rfc3339(ending)
        live = [state for state in self._store.find_containers() if telemetry.live(state)]
        self._send([telemetry.exists(state, start, end, self._zone(state.host))
                    for state in live])
        return len(live)

    def audit_periods(self, stop: threading.Event, interval: float) -> None:
        """At the end of each period (aligned to the epoch), its exists notifications."""
        while not stop.wait(interval - time.time() % interval):
            ending = time.time() // interval * interval
            try:
                sent = self.audit(ending - interval, ending)
                LOG.info("audit period ended: %d container.exists sent", sent)
            except ServiceUnavailable as error:
                LOG.warning("cannot send this period's container.exists (%s)", error)


def _rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
