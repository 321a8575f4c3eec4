"""EDGE: consuming AMQP queues for the RabbitMQ bus: one connection, a pool of workers that keep
each key's messages in order, acknowledgements after the work, dead letters for poison, and
queues shared between the processes of a group. Side effects: an AMQP connection, acks."""

from __future__ import annotations

import collections
import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import kombu
from kombu.message import Message

from higgins import events as ev
from higgins.bus.failures import TRANSIENT
from higgins.bus.workers import Workers, handle_until_done
from higgins.events import Envelope

LOG = logging.getLogger(__name__)

_POISON_TRIES = 5
_DRAIN_SECONDS = 0.02


class Delivery(NamedTuple):
    generation: int  # of the connection it came on: acks on a dead channel are meaningless
    subscription: int  # of the subscription it came on (a new one after each hand-off)
    queue: str
    message: Message
    payload: Any  # what `parse` made of the body


class Poison(ValueError):
    """A message body no handler can take."""


def one_envelope(body: Any) -> tuple[Envelope, Envelope, str | None]:
    """Parse a message holding one envelope: (payload, envelope to order by, key)."""
    try:
        envelope: Envelope = json.loads(body)
        ev.validate(envelope)
    except (ValueError, ev.InvalidEvent) as error:
        raise Poison(str(error)) from error
    return envelope, envelope, None


Parse = Callable[[Any], tuple[Any, Envelope, str | None]]
DeliveryHandler = Callable[[list[Delivery]], None]


_REBALANCE_SECONDS = 2.0
MEMBER_TTL_SECONDS = 8


class Consumer:
    """One AMQP connection consuming `queues`; workers handle, this thread acknowledges
    (kombu channels are not thread-safe). Reconnects after a broker restart; what was in
    flight on the old connection is redelivered by the broker and handled again.

    Sharing: every process of a group subscribes to every queue, and single active consumer
    makes one of them the taker (the others wait, and take over the moment it goes). When
    `membership` shows other live members, a process hands each queue it is active on but
    that another member is preferred for (queue i -> member i mod n) to the next in line:
    it stops taking that queue's messages, lets the ones in hand finish and be acknowledged,
    cancels, returns what it held, and subscribes again at the back of the line.

    `parse` makes each body into a payload and the envelope whose subject orders it (or an
    explicit key); `handler` gets batches of up to `max_batch` Deliveries, each once its key's
    earlier ones are handled."""

    def __init__(self, url: str, queues: list[kombu.Queue], handler: DeliveryHandler,
                 stop: threading.Event, concurrency: int, prefetch: int,
                 membership: Callable[[], list[str]] | None = None, member: str = "",
                 parse: Parse = one_envelope, max_batch: int = 1,
                 one_key: bool = False) -> None:
        self._url = url
        self._queues = queues
        self._handler = handler
        self._parse = parse
        self._subscriptions: dict[str, int] = {}
        self._subscribed = 0
        self._stop = stop
        self._prefetch = prefetch
        self._membership = membership
        self._member = member
        self._generation = 0
        self._done: queue.SimpleQueue[tuple[Delivery, bool]] = queue.SimpleQueue()
        self._workers: Workers[Delivery] = Workers(self._work, concurrency, max_batch, one_key)
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

    def current(self, delivery: Delivery) -> bool:
        """Whether `delivery` came on the connection and subscription this consumer holds now
        (if not, its queue went to another process, which handles it again)."""
        return delivery.generation == self._generation and \
            delivery.subscription == self._subscriptions.get(delivery.queue)

    def _subscribe(self, channel: Any, declared: kombu.Queue) -> kombu.Consumer:
        self._subscribed += 1
        self._subscriptions[declared.name] = self._subscribed
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
            payload, envelope, key = self._parse(message.body)
        except Poison as error:
            LOG.error("dead-lettered a message that is not a valid envelope (%s): %.200r",
                      error, message.body)
            message.reject(requeue=False)
            return
        self._active.add(queue_name)
        self._in_hand[queue_name] += 1
        delivery = Delivery(self._generation, self._subscriptions[queue_name], queue_name,
                            message, payload)
        # a key the parser names is per queue ("the whole queue in order"); else the subject
        self._workers.submit(delivery, envelope, None if key is None else f"{queue_name}/{key}")

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

    def _work(self, batch: list[tuple[Delivery, Envelope]]) -> bool:
        """Handle a batch; if it keeps failing for a reason other than a service being away,
        each of its deliveries alone, so only the poison among them is dead-lettered."""
        handled = self._try(batch)
        if handled is None:
            return False  # stopped while retrying: left unacknowledged, delivered again
        if handled or len(batch) == 1:
            for delivery, envelope in batch:
                if not handled:
                    LOG.error("dead-lettered %s %s after %d failed tries", envelope["type"],
                              envelope["id"], _POISON_TRIES,
                              extra={"event_id": envelope["id"], "uuid": envelope["subject"]})
                self._done.put((delivery, handled))
            return True
        return all(self._work([one]) for one in batch)

    def _try(self, batch: list[tuple[Delivery, Envelope]]) -> bool | None:
        """True: handled; False: poison; None: stopped while retrying."""
        poisoned = False

        def gives_up(error: Exception, tries: int) -> bool:
            nonlocal poisoned
            poisoned = tries >= _POISON_TRIES and not isinstance(error, TRANSIENT)
            return poisoned

        def handle(_: object) -> None:
            self._handler([delivery for delivery, _ in batch])

        if handle_until_done(handle, [envelope for _, envelope in batch], self._stop, gives_up):
            return True
        return False if poisoned else None

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
