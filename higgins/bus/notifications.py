"""EDGE: Telemetry notifications onto RabbitMQ as oslo.messaging's notifier sends them (without
oslo.messaging): a topic exchange, routing key `<topic>.<priority>`, persistent messages, each
confirmed by the broker before `send` returns. Side effects: connects to RabbitMQ."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Sequence

import kombu

from higgins.bus.base import BusUnavailable
from higgins.processors.telemetry import Notification


class NotificationPublisher:
    """One confirmed connection, shared by a process's notifier threads (one send at a time)."""

    def __init__(self, url: str, exchange: str, topics: Sequence[str], publisher_id: str,
                 durable: bool = False) -> None:
        self._url = url
        # declared as oslo.messaging's rabbit driver declares a control exchange, so Higgins and
        # Ceilometer can each be first to declare it
        self._exchange = kombu.Exchange(exchange, type="topic", durable=durable,
                                        auto_delete=False)
        self._topics = tuple(topics)
        self._publisher_id = publisher_id
        self._lock = threading.Lock()
        self._connection: kombu.Connection | None = None
        self._producer: kombu.Producer | None = None

    def send(self, notifications: Sequence[Notification]) -> None:
        """Publish each notification on every topic; return once the broker confirmed all.
        BusUnavailable if RabbitMQ cannot take them now (nothing is acknowledged upstream)."""
        if not notifications:
            return
        with self._lock:
            producer = self._connect()
            errors: tuple[type[BaseException], ...] = (*self._errors(), socket.error)
            try:
                for notification in notifications:
                    body = notification.body(self._publisher_id)
                    for topic in self._topics:
                        producer.publish(body, exchange=self._exchange,
                                         routing_key=f"{topic}.{notification.priority.lower()}",
                                         serializer="json", delivery_mode=2)
            except errors as error:
                self._drop()
                raise BusUnavailable(f"RabbitMQ refused notifications: {error}") from error

    def _connect(self) -> kombu.Producer:
        if self._producer is not None:
            return self._producer
        connection = kombu.Connection(self._url, transport_options={"confirm_publish": True})
        try:
            connection.connect()
            channel = connection.channel()
            self._exchange(channel).declare()
        except (OSError, *connection.connection_errors, *connection.channel_errors) as error:
            with contextlib.suppress(Exception):  # half-open: release what there is
                connection.release()
            raise BusUnavailable(f"RabbitMQ is unavailable for notifications: {error}") \
                from error
        self._connection, self._producer = connection, kombu.Producer(channel)
        return self._producer

    def _errors(self) -> tuple[type[BaseException], ...]:
        connection = self._connection
        return (*connection.connection_errors, *connection.channel_errors) if connection \
            else ()

    def _drop(self) -> None:
        """Forget a connection that failed: the next send connects afresh."""
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.release()
        self._connection = self._producer = None

    def close(self) -> None:
        with self._lock:
            self._drop()
