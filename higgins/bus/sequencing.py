"""EDGE: the log's sequencer on the RabbitMQ bus: the one active consumer of a partition's intake
queue numbers what publishers sent, appends it to the Cassandra log, hands each recorded
envelope to the event consumers and answers the publisher, then acknowledges.
Side effects: Cassandra reads and writes (the log, the partition leases), AMQP publishes."""

from __future__ import annotations

import json
import logging
import os
import socket
import uuid
from collections.abc import Callable
from typing import Any

from higgins import events as ev
from higgins.bus.amqp_consuming import Consumer, Delivery, Poison
from higgins.bus.cassandra_log import CassandraLog, LogWriter
from higgins.events import Envelope

LOG = logging.getLogger(__name__)

INTAKE_PREFIX = "higgins.intake."

# (events exchange routing key, recorded envelope) -> published with a confirm
PublishRecorded = Callable[[Envelope], None]
# (reply queue, correlation id, recorded envelopes) -> sent
Answer = Callable[[str, str, list[Envelope]], None]


def intake_body(envelopes: list[Envelope]) -> str:
    return json.dumps(envelopes)


def parse_intake(body: Any) -> tuple[list[Envelope], Envelope, str]:
    """An intake message: a publisher's events of one partition, in order. Handled in the order
    of its queue (the key "queue"), so one partition's subjects are numbered by one worker."""
    try:
        envelopes: list[Envelope] = json.loads(body)
        if not isinstance(envelopes, list) or not envelopes:
            raise ValueError("an intake message is a non-empty list of envelopes")
        for envelope in envelopes:
            ev.validate(envelope)
    except (ValueError, TypeError, ev.InvalidEvent) as error:
        raise Poison(str(error)) from error
    return envelopes, envelopes[0], "queue"


class Sequencer:
    """Holds a lease per partition it consumes (taken afresh whenever its subscription to that
    queue is new: after a reconnect or a hand-off another writer may have appended), and one
    LogWriter per lease."""

    def __init__(self, log: CassandraLog, publish_recorded: PublishRecorded,
                 answer: Answer) -> None:
        self._log = log
        self._publish_recorded = publish_recorded
        self._answer = answer
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._writers: dict[str, tuple[tuple[int, int], LogWriter]] = {}
        self.consumer: Consumer | None = None

    def handle(self, deliveries: list[Delivery]) -> None:
        """Record a batch: the messages of one queue and subscription in one append (one round
        of reads and one of writes), then each message's envelopes handed on and answered."""
        runs: dict[tuple[str, int, int], list[Delivery]] = {}
        for delivery in deliveries:
            runs.setdefault((delivery.queue, delivery.generation, delivery.subscription),
                            []).append(delivery)
        for run in runs.values():
            self._record(run)

    def _record(self, run: list[Delivery]) -> None:
        recorded = self._writer(run[0]).append([e for d in run for e in d.payload])
        assert self.consumer is not None
        if not self.consumer.current(run[0]):
            # deposed meanwhile: the next writer records and publishes these again
            LOG.warning("lost %s while appending; leaving it to its next owner", run[0].queue)
            return
        for envelope in recorded:
            self._publish_recorded(envelope)
        start = 0
        for delivery in run:
            mine = recorded[start:start + len(delivery.payload)]
            start += len(delivery.payload)
            properties = delivery.message.properties
            if properties.get("reply_to"):
                self._answer(properties["reply_to"], str(properties.get("correlation_id")),
                             mine)

    def _writer(self, delivery: Delivery) -> LogWriter:
        held = (delivery.generation, delivery.subscription)
        known = self._writers.get(delivery.queue)
        if known is not None and known[0] == held:
            return known[1]
        partition = int(delivery.queue.removeprefix(INTAKE_PREFIX))
        epoch = self._log.take_lease(partition, self._owner)
        LOG.info("writing the log of partition %d (lease epoch %d)", partition, epoch)
        writer = self._log.writer(epoch)
        self._writers[delivery.queue] = (held, writer)
        return writer
