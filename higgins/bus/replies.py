"""EDGE: a process's reply queue on RabbitMQ: the sequencer answers each intake message here with
the envelopes as recorded, and the publisher waiting for them picks its answer by correlation
id. Side effects: one AMQP connection and a consuming thread, started at the first wait."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

import kombu
from kombu.message import Message

from higgins.events import Envelope

LOG = logging.getLogger(__name__)


@dataclass
class Waiter:
    answered: threading.Event = field(default_factory=threading.Event)
    recorded: list[Envelope] = field(default_factory=list)


class Replies:
    """An exclusive, auto-deleted queue for this process. Answers that arrive for nobody (a
    publisher that gave up, a redelivery answered twice) are dropped; a publisher whose answer
    is lost (this connection broke) finds its events in the log instead (see AmqpBus)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self.queue = f"higgins.replies.{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
        self._waiters: dict[str, Waiter] = {}
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def expect(self, correlation_id: str) -> Waiter:
        """Register for the answer to `correlation_id`, before its request is sent."""
        self._start()
        waiter = Waiter()
        with self._lock:
            self._waiters[correlation_id] = waiter
        return waiter

    def forget(self, correlation_id: str) -> None:
        with self._lock:
            self._waiters.pop(correlation_id, None)

    def ready(self, timeout: float) -> bool:
        """Whether the queue exists (answers sent before it does are dropped by the broker)."""
        self._start()
        return self._ready.wait(timeout)

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="bus-replies")
                self._thread.start()

    def _run(self) -> None:
        delay = 0.2
        while not self._stop.is_set():
            try:
                self._session()
                delay = 0.2
            except Exception as error:  # noqa: BLE001 - reconnect on any connection loss
                self._ready.clear()
                LOG.warning("reply queue lost its connection (%s); reconnecting", error)
                self._stop.wait(delay)
                delay = min(delay * 2, 5.0)

    def _session(self) -> None:
        with kombu.Connection(self._url, heartbeat=10) as connection:
            connection.ensure_connection(max_retries=1)
            channel = connection.channel()
            declared = kombu.Queue(self.queue, exclusive=True, auto_delete=True, durable=False)
            declared(channel).declare()
            consumer = kombu.Consumer(channel, queues=[declared(channel)], auto_declare=False,
                                      on_message=self._received, no_ack=True)
            consumer.consume()
            self._ready.set()
            while not self._stop.is_set():
                try:
                    connection.drain_events(timeout=1.0)
                except TimeoutError:
                    connection.heartbeat_check()

    def _received(self, message: Message) -> None:
        properties: dict[str, Any] = message.properties
        with self._lock:
            waiter = self._waiters.pop(str(properties.get("correlation_id")), None)
        if waiter is None:
            return
        waiter.recorded = json.loads(message.body)
        waiter.answered.set()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
