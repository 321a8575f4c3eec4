"""EDGE: the production bus: RabbitMQ (kombu) delivers, the Cassandra event log remembers.
Side effects: AMQP connections, queue declarations, Cassandra reads and writes.

publish(events, commands), in this order:
  1. each event goes to the `higgins.events` exchange, routed to one of N partitions by a hash
     of its subject, with publisher confirms: once confirmed it is durable in every consumer
     group's quorum queue, so nothing acknowledged can be lost from here on;
  2. the events are appended to the Cassandra log (which numbers them; an id is recorded once);
  3. each command goes to its host's queue, confirmed. Commands go last so that an agent never
     acts on a command whose events are not in the log yet.
A crash between steps leaves a message whose event is not in the log: the consumer that takes
it appends it (the append is idempotent), so delivery, not the publisher, completes the record.

consume(group, stream): one quorum queue per (group, partition) or per host, each with a single
active consumer (a second process for the same group waits and takes over when the first goes),
manual acknowledgements only after the handler returned, a prefetch window, and a dead-letter
queue for poison: a message that is not a valid envelope, or whose handler keeps failing for a
reason other than a service being away."""

from __future__ import annotations

import collections
import hashlib
import json
import logging
import os
import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import kombu
from kombu.message import Message

from higgins import cql
from higgins import events as ev
from higgins.bus.base import EVENTS, BusUnavailable, Handler
from higgins.bus.cassandra_log import CassandraLog
from higgins.bus.workers import Workers, handle_until_done
from higgins.events import Envelope
from higgins.faults import ServiceUnavailable

LOG = logging.getLogger(__name__)

EVENTS_EXCHANGE = "higgins.events"
COMMANDS_EXCHANGE = "higgins.commands"
DEAD_EXCHANGE = "higgins.dead"
DEAD_LETTERS = "higgins.dead-letters"
COMMAND_PREFIX = "commands."

_PUBLISH_DEADLINE_SECONDS = 30.0
_POISON_TRIES = 5
_DRAIN_SECONDS = 0.02
# How long a consumer leaves an unrecorded event to its publisher before appending it itself.
_APPEND_GRACE_SECONDS = 2.0
# Failures that mean "a service is away": retried for as long as it takes, never dead-lettered.
_TRANSIENT: tuple[type[Exception], ...] = (
    *cql.TRANSIENT, ServiceUnavailable, ConnectionError)


def partition_of(subject: str, partitions: int) -> int:
    """Stable across processes and restarts (Python's hash() is not)."""
    return int.from_bytes(hashlib.blake2b(subject.encode(), digest_size=4).digest()) % partitions


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
        self._commands = kombu.Exchange(COMMANDS_EXCHANGE, "direct", durable=True)
        self._dead = kombu.Exchange(DEAD_EXCHANGE, "fanout", durable=True)
        self._declared: set[str] = set()
        self._declaring = threading.Lock()
        self._pool: queue.LifoQueue[_Publisher] = queue.LifoQueue()
        with kombu.Connection(url) as connection:
            channel = connection.channel()
            kombu.Queue(DEAD_LETTERS, self._dead, durable=True, auto_delete=False,
                        queue_arguments={"x-queue-type": "quorum"})(channel).declare()
            for group in groups:  # before any publish, so no event finds its queues missing
                for declared in self._event_queues(group):
                    declared(channel).declare()

    # -- topology ------------------------------------------------------------------------

    def _event_queues(self, group: str) -> list[kombu.Queue]:
        return [_queue(f"higgins.{EVENTS}.{group}.{p}", self._events, str(p))
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

    # -- publishing ----------------------------------------------------------------------

    def publish(
        self, events: Sequence[Envelope], commands: Sequence[tuple[str, Envelope]] = ()
    ) -> list[Envelope]:
        for envelope in [*events, *(c for _, c in commands)]:
            ev.validate(envelope)
        for envelope in events:
            self._send(self._events, str(partition_of(envelope["subject"], self.partitions)),
                       envelope)
        recorded = [self.log.append(envelope) for envelope in events]
        for stream, command in commands:
            host = stream.removeprefix(COMMAND_PREFIX)
            self._send(self._commands, host, command, declare_host=host)
        return recorded

    def _send(self, exchange: kombu.Exchange, routing_key: str, envelope: Envelope,
              declare_host: str | None = None) -> None:
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
                    json.dumps(envelope), exchange=exchange, routing_key=routing_key,
                    delivery_mode=2, content_type="application/json",
                    content_encoding="utf-8", message_id=envelope["id"])
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

    # -- consuming -----------------------------------------------------------------------

    def consume(self, consumer: str, stream: str, handler: Handler, stop: threading.Event,
                concurrency: int = 1) -> None:
        if stream == EVENTS:
            queues = self._event_queues(consumer)
            handle = self._recording(handler)
        else:
            queues = [self._command_queue(stream.removeprefix(COMMAND_PREFIX))]
            handle = handler
        membership = None
        member = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        if stream == EVENTS and len(queues) > 1:
            def membership() -> list[str]:
                return self.log.heartbeat(consumer, member, _MEMBER_TTL_SECONDS)
        _Consumer(self.url, queues, handle, stop, concurrency, self.prefetch,
                  membership, member).run()

    def _recording(self, handler: Handler) -> Handler:
        """Events arrive from the broker before (or without, after a crash) their append:
        hand the handler the recorded envelope, appending it if nobody did."""

        def handle(envelope: Envelope) -> None:
            recorded = self._published_record(envelope["id"]) or self.log.append(envelope)
            handler(recorded)

        return handle

    def _published_record(self, event_id: str) -> Envelope | None:
        """The event as its publisher recorded it, waiting a moment for that: a consumer that
        appended a redelivered event itself could put it before an earlier one of the same
        outcome (the broker does not keep order across requeues), so only an event whose
        publisher seems gone (crashed between the broker and the log) is appended here."""
        deadline = time.monotonic() + _APPEND_GRACE_SECONDS
        delay = 0.002
        while True:
            recorded = self.log.recorded(event_id)
            if recorded is not None or time.monotonic() > deadline:
                return recorded
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def close(self) -> None:
        while True:
            try:
                self._pool.get_nowait().close()
            except queue.Empty:
                break
        self.log.close()


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
        try:
            self.connection.release()
        except self.errors:
            pass


class Delivery(NamedTuple):
    generation: int  # of the connection it came on: acks on a dead channel are meaningless
    queue: str
    message: Message


_REBALANCE_SECONDS = 2.0
_MEMBER_TTL_SECONDS = 8


class _Consumer:
    """One AMQP connection consuming `queues`; workers handle, this thread acknowledges
    (kombu channels are not thread-safe). Reconnects after a broker restart; what was in
    flight on the old connection is redelivered by the broker and handled again.

    Sharing: every process of a group subscribes to every queue, and single active consumer
    makes one of them the taker (the others wait, and take over the moment it goes). When
    `membership` shows other live members, a process hands each queue it is active on but
    that another member is preferred for (queue i -> member i mod n) to the next in line:
    it stops taking that queue's messages, lets the ones in hand finish and be acknowledged,
    cancels, returns what it held, and subscribes again at the back of the line."""

    def __init__(self, url: str, queues: list[kombu.Queue], handler: Handler,
                 stop: threading.Event, concurrency: int, prefetch: int,
                 membership: Callable[[], list[str]] | None = None, member: str = "") -> None:
        self._url = url
        self._queues = queues
        self._handler = handler
        self._stop = stop
        self._prefetch = prefetch
        self._membership = membership
        self._member = member
        self._generation = 0
        self._done: queue.SimpleQueue[tuple[Delivery, bool]] = queue.SimpleQueue()
        self._workers: Workers[Delivery] = Workers(self._work, concurrency)
        self._active: set[str] = set()  # queues this process received from since subscribing
        self._in_hand: collections.Counter[str] = collections.Counter()
        self._handing: dict[str, list[Message]] = {}  # queue -> held back while handing off
        self._consumers: dict[str, kombu.Consumer] = {}
        self.handed_off = 0

    def run(self) -> None:
        delay = 0.2
        try:
            while not self._stop.is_set():
                try:
                    self._session()
                    delay = 0.2
                except Exception as error:  # noqa: BLE001 - reconnect on any connection loss
                    LOG.warning("consumer lost its connection (%s); reconnecting", error)
                    self._workers.discard(lambda delivery: False)  # redelivered anyway
                    self._stop.wait(delay)
                    delay = min(delay * 2, 5.0)
        finally:
            self._workers.close()

    def _session(self) -> None:
        with kombu.Connection(self._url, heartbeat=10) as connection:
            connection.ensure_connection(max_retries=1)
            self._generation += 1
            self._active.clear()
            self._in_hand.clear()
            self._handing.clear()
            channel = connection.channel()
            channel.basic_qos(0, self._prefetch, False)
            for declared in self._queues:
                declared(channel).declare()
            self._consumers = {q.name: self._subscribe(channel, q) for q in self._queues}
            LOG.info("consuming %s", ", ".join(q.name for q in self._queues))
            next_balance = time.monotonic()
            try:
                while not self._stop.is_set() and not self._workers.failed:
                    self._acknowledge()
                    self._finish_hand_offs(channel)
                    if time.monotonic() >= next_balance:
                        self._balance()
                        next_balance = time.monotonic() + _REBALANCE_SECONDS
                    try:
                        connection.drain_events(timeout=_DRAIN_SECONDS)
                    except TimeoutError:
                        connection.heartbeat_check()
                self._acknowledge()
            finally:
                for consumer in self._consumers.values():
                    consumer.cancel()

    def _subscribe(self, channel: Any, declared: kombu.Queue) -> kombu.Consumer:
        consumer = kombu.Consumer(channel, queues=[declared(channel)], auto_declare=False,
                                  on_message=lambda m: self._received(declared.name, m),
                                  no_ack=False)
        consumer.consume()
        return consumer

    def _received(self, queue_name: str, message: Message) -> None:
        if queue_name in self._handing:
            self._handing[queue_name].append(message)
            return
        try:
            envelope: Envelope = json.loads(message.body)
            ev.validate(envelope)
        except (ValueError, ev.InvalidEvent) as error:
            LOG.error("dead-lettered a message that is not a valid envelope (%s): %.200r",
                      error, message.body)
            message.reject(requeue=False)
            return
        self._active.add(queue_name)
        self._in_hand[queue_name] += 1
        self._workers.submit(Delivery(self._generation, queue_name, message), envelope)

    # -- sharing a group's queues between its processes ------------------------------------

    def _balance(self) -> None:
        if self._membership is None:
            return
        try:
            members = self._membership()
        except Exception as error:  # noqa: BLE001 - without membership, keep what we have
            LOG.warning("cannot read the group's members (%s)", error)
            return
        if len(members) < 2 or self._member not in members:
            return
        for index, declared in enumerate(self._queues):
            preferred = members[index % len(members)]
            name = declared.name
            if preferred != self._member and name in self._active and name not in self._handing:
                LOG.info("handing %s to %s", name, preferred)
                self._hold_back(name)

    def _hold_back(self, name: str) -> None:
        """Stop handling `name`: what is queued for the workers is held, to be returned."""
        self._handing[name] = []

        def other_queue(delivery: Delivery) -> bool:
            return delivery.queue != name

        for delivery in self._workers.discard(other_queue):
            self._in_hand[name] -= 1
            self._handing[name].append(delivery.message)

    def _finish_hand_offs(self, channel: Any) -> None:
        for name in [n for n, held in self._handing.items() if self._in_hand[n] == 0]:
            self._consumers[name].cancel()
            for message in self._handing.pop(name):
                message.reject(requeue=True)  # to whoever is next in line
            self._active.discard(name)
            declared = next(q for q in self._queues if q.name == name)
            self._consumers[name] = self._subscribe(channel, declared)
            self.handed_off += 1

    # -- handling and acknowledging --------------------------------------------------------

    def _work(self, delivery: Delivery, envelope: Envelope) -> bool:
        poisoned = False

        def gives_up(error: Exception, tries: int) -> bool:
            nonlocal poisoned
            poisoned = tries >= _POISON_TRIES and not isinstance(error, _TRANSIENT)
            return poisoned

        if handle_until_done(self._handler, envelope, self._stop, gives_up):
            self._done.put((delivery, True))
            return True
        if poisoned:
            LOG.error("dead-lettered %s %s after %d failed tries", envelope["type"],
                      envelope["id"], _POISON_TRIES,
                      extra={"event_id": envelope["id"], "uuid": envelope["subject"]})
            self._done.put((delivery, False))
            return True
        return False  # stopped while retrying: left unacknowledged, delivered again

    def _acknowledge(self) -> None:
        while True:
            try:
                delivery, handled = self._done.get_nowait()
            except queue.Empty:
                return
            if delivery.generation != self._generation:
                continue  # its channel is gone: the broker delivers it again
            self._in_hand[delivery.queue] -= 1
            if handled:
                delivery.message.ack()
            else:
                delivery.message.reject(requeue=False)
