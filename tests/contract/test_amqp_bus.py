"""What only the RabbitMQ bus has: poison messages parked in the dead-letter queue, and events
the broker delivered before (or without) their publisher's append being recorded by the
consumer."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import kombu
import pytest

from higgins import events
from higgins.bus.amqp import DEAD_LETTERS, EVENTS_EXCHANGE, AmqpBus, partition_of
from higgins.bus.base import EVENTS
from higgins.bus.cassandra_log import CassandraLog
from tests.contract.test_bus import (  # noqa: F401 - amqp_url is a fixture
    GROUPS,
    PARTITIONS,
    _purge,
    amqp_url,
    consume_until,
    envelope,
)

pytestmark = [pytest.mark.rabbitmq, pytest.mark.cassandra]


@pytest.fixture
def amqp_bus(amqp_url: str) -> Iterator[AmqpBus]:  # noqa: F811 - the imported fixture
    log = CassandraLog("cassandra://127.0.0.1:9042/higgins_contract_log")
    log.truncate()
    bus = AmqpBus(amqp_url, log, GROUPS, partitions=PARTITIONS)
    _purge(amqp_url)
    yield bus
    bus.close()


def _raw(bus: AmqpBus, body: str, subject: str = "a") -> None:
    with kombu.Connection(bus.url, transport_options={"confirm_publish": True}) as connection:
        kombu.Producer(connection.default_channel).publish(
            body, exchange=EVENTS_EXCHANGE, routing_key=str(partition_of(subject, PARTITIONS)))


def _dead_letters(bus: AmqpBus) -> list[str]:
    found = []
    with kombu.Connection(bus.url) as connection:
        channel = connection.channel()
        while (message := channel.basic_get(DEAD_LETTERS, no_ack=True)) is not None:
            body = message.body
            found.append(body.decode() if isinstance(body, bytes) else body)
    return found


def test_a_message_that_is_no_envelope_is_dead_lettered_and_the_stream_goes_on(
        amqp_bus: AmqpBus) -> None:
    _raw(amqp_bus, "{not json")
    good = envelope("a")
    amqp_bus.publish([good])
    (handled,) = consume_until(amqp_bus, "c1", EVENTS, 1)
    assert handled["id"] == good["id"]
    assert _dead_letters(amqp_bus) == ["{not json"]


def test_an_envelope_whose_handler_keeps_failing_is_dead_lettered(amqp_bus: AmqpBus) -> None:
    poison, good = envelope("a"), envelope("b")
    amqp_bus.publish([poison, good])
    tries = []

    def handle(env: events.Envelope) -> None:
        if env["id"] == poison["id"]:
            tries.append(1)
            raise ValueError("a bug, not an outage")

    stop = threading.Event()
    consumer = threading.Thread(target=amqp_bus.consume, args=("c1", EVENTS, handle, stop))
    consumer.start()
    parked: list[str] = []
    deadline = time.monotonic() + 20
    while not parked and time.monotonic() < deadline:
        parked = _dead_letters(amqp_bus)
        time.sleep(0.2)
    stop.set()
    consumer.join(10)
    assert [json.loads(m)["id"] for m in parked] == [poison["id"]]
    assert len(tries) == 5


def test_an_event_the_publisher_never_appended_is_recorded_by_its_consumer(
        amqp_bus: AmqpBus) -> None:
    """A publisher killed between the broker's confirm and the log append."""
    orphan = envelope("orphan")
    _raw(amqp_bus, json.dumps(orphan), subject="orphan")
    assert amqp_bus.history("orphan") == []
    (handled,) = consume_until(amqp_bus, "c1", EVENTS, 1)
    assert handled["seq"] == 1
    assert [e["id"] for e in amqp_bus.history("orphan")] == [orphan["id"]]
