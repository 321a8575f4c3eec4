"""EDGE: the production bus: RabbitMQ (kombu) delivers, the Cassandra event log remembers.
Side effects: AMQP connections, queue declarations, Cassandra reads and writes.

publish(events, commands), in this order:
  1. the events go, as one message per partition (a hash of the subject picks it), to that
     partition's intake queue, with publisher confirms: once confirmed they are durable, so
     nothing acknowledged can be lost from here on;
  2. the partition's sequencer (`serve`, run by `higgins processor`: the one active consumer
     of that intake queue, holding the partition's log lease) numbers them, appends them to
     the Cassandra log with plain writes (bus/cassandra_log.py), publishes each recorded
     envelope to the `higgins.events` exchange (every consumer group's partition queue, the
     same partition), answers the publisher on its reply queue, and only then acknowledges
     the intake message;
  3. publish returns the recorded envelopes (with their seq) from that answer (or, if the
     answer is lost, from the log), then sends each command to its host's queue, confirmed.
     Commands go last so that an agent never acts on a command whose events are not recorded.
A sequencer that dies before acknowledging leaves the intake message to the next one, which
finds what was recorded already (by id) and publishes it again: consumers are idempotent by
(subject, seq), and they take the recorded envelope from the message: no read-back.

consume(group, stream): one quorum queue per (group, partition) or per host, each with a single
active consumer (a second process for the same group waits and takes over when the first goes),
manual acknowledgements only after the handler returned, a prefetch window, and a dead-letter
queue for poison: a message that is not a valid envelope, or whose handler keeps failing for a
reason other than a service being away."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import kombu

from higgins.bus.amqp_consuming import MEMBER_TTL_SECONDS, Consumer, Delivery
from higgins.bus.base import EVENTS, BatchHandler, BusUnavailable, partition_of, validate_all
from higgins.bus.cassandra_log import CassandraLog
from higgins.bus.replies import Replies, Waiter
from higgins.bus.sequencing import INTAKE_PREFIX, Sequencer, intake_body, parse_intake
from higgins.events import Envelope

LOG = logging.getLogger(__name__)

EVENTS_EXCHANGE = "higgins.events"
INTAKE_EXCHANGE = "higgins.intake"
COMMANDS_EXCHANGE = "higgins.commands"
DEAD_EXCHANGE = "higgins.dead"
DEAD_LETTERS = "higgins.dead-letters"
COMMAND_PREFIX = "commands."
SEQUENCER_GROUP = "sequencer"

_PUBLISH_DEADLINE_SECONDS = 30.0
_SEQUENCER_BATCH = 64  # intake messages recorded in one append (whatever is queued)
# How long a publisher waits for its answer before it looks in the log itself (the answer
# may be lost with a reply connection, or the sequencer may be taking the partition over).
_ANSWER_PATIENCE_SECONDS = 0.5


def _queue(name: str, exchange: kombu.Exchange, routing_key: str) -> kombu.Queue:
    return kombu.Queue(name, exchange, routing_key=routing_key, durable=True, auto_delete=False,
                       queue_arguments={"x-queue-type": "quorum",
                                        "x-single-active-consumer": True,
                                        "x-dead-letter-exchange": DEAD_EXCHANGE})


class AmqpBus:
    def __init__(self, url: str, log: CassandraLog, groups: Sequence[str] = (),
                 partitions: int = 8, prefetch: int = 64) -> None:
        self.url = url
        self.log = log
        self.partitions = partitions
        self.prefetch = prefetch
        self._events = kombu.Exchange(EVENTS_EXCHANGE, "direct", durable=True)
        self._intake = kombu.Exchange(INTAKE_EXCHANGE, "direct", durable=True)
        self._commands = kombu.Exchange(COMMANDS_EXCHANGE, "direct", durable=True)
        self._dead = kombu.Exchange(DEAD_EXCHANGE, "fanout", durable=True)
        self._declared: set[str] = set()
        self._declaring = threading.Lock()
        self._pool: queue.LifoQueue[_Publisher] = queue.LifoQueue()
        self._replies = Replies(url)
        with kombu.Connection(url) as connection:
            channel = connection.channel()
            kombu.Queue(DEAD_LETTERS, self._dead, durable=True, auto_delete=False,
                        queue_arguments={"x-queue-type": "quorum"})(channel).declare()
            # before any publish, so no event finds its queues missing
            for declared in [*self._intake_queues(),
                             *(q for group in groups for q in self._event_queues(group))]:
                declared(channel).declare()

    # -- topology ------------------------------------------------------------------------

    def _event_queues(self, group: str) -> list[kombu.Queue]:
        return [_queue(f"higgins.{EVENTS}.{group}.{p}", self._events, str(p))
                for p in range(self.partitions)]

    def _intake_queues(self) -> list[kombu.Queue]:
        return [_queue(f"{INTAKE_PREFIX}{p}", self._intake, str(p))
                for p in range(self.partitions)]

    def _command_queue(self, host: str) -> kombu.Queue:
        return _queue(f"higgins.commands.{host}", self._commands, host)

    def _ensure_command_queue(self, publisher: _Publisher, host: str) -> None:
        with self._declaring:
            if host in self._declared:
                return
        self._command_queue(host)(publisher.connection.default_channel).declare()
        with self._declaring:
            self._declared.add(host)

    def _partition(self, subject: str) -> str:
        return str(partition_of(subject, self.partitions))

    # -- publishing ----------------------------------------------------------------------

    def publish(
        self, events: Sequence[Envelope], commands: Sequence[tuple[str, Envelope]] = ()
    ) -> list[Envelope]:
        validate_all(events, commands)
        recorded = self._record(events) if events else []
        for stream, command in commands:
            host = stream.removeprefix(COMMAND_PREFIX)
            self._send(self._commands, host, json.dumps(command), command["id"],
                       declare_host=host)
        return recorded

    def _record(self, events: Sequence[Envelope]) -> list[Envelope]:
        """Send the events to their partitions' sequencers (one message per partition, in
        order) and wait until each is recorded."""
        by_partition: dict[str, list[Envelope]] = {}
        for envelope in events:
            by_partition.setdefault(self._partition(envelope["subject"]), []).append(envelope)
        self._replies.ready(_PUBLISH_DEADLINE_SECONDS)
        waiting: list[tuple[str, Waiter, list[Envelope]]] = []
        try:
            for partition, sent in by_partition.items():
                correlation = uuid.uuid4().hex
                waiting.append((correlation, self._replies.expect(correlation), sent))
                self._send(self._intake, partition, intake_body(sent), sent[0]["id"],
                           reply_to=self._replies.queue, correlation_id=correlation)
            recorded = {e["id"]: e for _, waiter, sent in waiting
                        for e in self._answer(waiter, sent)}
        finally:
            for correlation, _, _ in waiting:
                self._replies.forget(correlation)
        return [recorded[e["id"]] for e in events]

    def _answer(self, waiter: Waiter, sent: list[Envelope]) -> list[Envelope]:
        deadline = time.monotonic() + _PUBLISH_DEADLINE_SECONDS
        while time.monotonic() < deadline:
            if waiter.answered.wait(_ANSWER_PATIENCE_SECONDS):
                return waiter.recorded
            found = self.log.recorded_all([e["id"] for e in sent])
            if all(found):
                return [e for e in found if e is not None]
        raise BusUnavailable("no sequencer recorded the events in time (is a `higgins "
                             "processor` running?); they are queued and will be recorded")

    def _send(self, exchange: kombu.Exchange | str, routing_key: str, body: str,
              message_id: str, declare_host: str | None = None, persistent: bool = True,
              **properties: Any) -> None:
        """Publish with a confirm, reconnecting while the broker is away, up to a deadline."""
        deadline = time.monotonic() + _PUBLISH_DEADLINE_SECONDS
        delay = 0.1
        while True:
            try:
                publisher = self._take_publisher()
            except BusUnavailable as error:
                if time.monotonic() + delay > deadline:
                    raise
                LOG.warning("cannot connect to publish (%s); retrying", error)
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            try:
                if declare_host is not None:
                    self._ensure_command_queue(publisher, declare_host)
                publisher.producer.publish(
                    body, exchange=exchange, routing_key=routing_key,
                    delivery_mode=2 if persistent else 1, content_type="application/json",
                    content_encoding="utf-8", message_id=message_id, **properties)
                self._pool.put(publisher)
                return
            except publisher.errors as error:
                publisher.close()
                if time.monotonic() + delay > deadline:
                    raise BusUnavailable(f"RabbitMQ is unavailable: {error}") from error
                LOG.warning("publish failed (%s); reconnecting", error)
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    def _take_publisher(self) -> _Publisher:
        try:
            return self._pool.get_nowait()
        except queue.Empty:
            return _Publisher(self.url)

    # -- the log -------------------------------------------------------------------------

    def history(self, subject: str, after_seq: int = 0) -> list[Envelope]:
        return self.log.history(subject, after_seq)

    def subjects(self) -> list[str]:
        return sorted(self.log.subjects())

    def read_log(self, part: int = 0, parts: int = 1) -> Iterator[Envelope]:
        return self.log.read_log(part, parts)

    def serve(self, stop: threading.Event, concurrency: int = 8) -> list[threading.Thread]:
        """Run this process's share of the log's sequencers (one active per partition across
        every process that serves) until `stop`."""
        sequencer = Sequencer(self.log, self._publish_recorded, self._send_answer)
        member = _member()

        def membership() -> list[str]:
            return self.log.heartbeat(SEQUENCER_GROUP, member, MEMBER_TTL_SECONDS)

        consumer = Consumer(self.url, self._intake_queues(), sequencer.handle, stop,
                            concurrency, self.prefetch, membership, member, parse_intake,
                            max_batch=_SEQUENCER_BATCH, one_key=True)  # partitions in parallel
        sequencer.consumer = consumer
        thread = threading.Thread(target=consumer.run, daemon=True, name="bus-sequencer")
        thread.start()
        return [thread]

    def _publish_recorded(self, envelope: Envelope) -> None:
        self._send(self._events, self._partition(envelope["subject"]), json.dumps(envelope),
                   envelope["id"])

    def _send_answer(self, reply_to: str, correlation_id: str,
                     recorded: list[Envelope]) -> None:
        # transient: a lost answer only sends its publisher to the log (see _answer)
        self._send("", reply_to, json.dumps(recorded), correlation_id, persistent=False,
                   correlation_id=correlation_id)

    # -- consuming -----------------------------------------------------------------------

    def consume(self, consumer: str, stream: str, handler: BatchHandler,
                stop: threading.Event, concurrency: int = 1, max_batch: int = 1) -> None:
        """Events arrive as their sequencer recorded them (with their seq): no read-back."""
        if stream == EVENTS:
            queues = self._event_queues(consumer)
        else:
            queues = [self._command_queue(stream.removeprefix(COMMAND_PREFIX))]
        membership = None
        member = _member()
        if stream == EVENTS and len(queues) > 1:
            def membership() -> list[str]:
                return self.log.heartbeat(consumer, member, MEMBER_TTL_SECONDS)

        def handle(deliveries: list[Delivery]) -> None:
            handler([delivery.payload for delivery in deliveries])

        Consumer(self.url, queues, handle, stop, concurrency, self.prefetch,
                 membership, member, max_batch=max_batch).run()

    def close(self) -> None:
        self._replies.close()
        while True:
            try:
                self._pool.get_nowait().close()
            except queue.Empty:
                break
        self.log.close()


def _member() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class _Publisher:
    """One connection with publisher confirms; used by one thread at a time (from the pool)."""

    def __init__(self, url: str) -> None:
        self.connection = kombu.Connection(url, transport_options={"confirm_publish": True})
        self.errors: tuple[type[BaseException], ...] = (
            *self.connection.connection_errors, *self.connection.channel_errors, socket.error)
        try:
            self.connection.connect()
        except self.errors as error:
            raise BusUnavailable(f"RabbitMQ is unavailable: {error}") from error
        self.producer = kombu.Producer(self.connection.default_channel)

    def close(self) -> None:
        with contextlib.suppress(*self.errors):  # a connection already gone is closed enough
            self.connection.release()


