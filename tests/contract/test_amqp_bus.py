"""What only the RabbitMQ bus has: poison messages parked in the dead-letter queue, intake
messages recorded without their publisher, and the Cassandra log's fencing of a deposed
writer."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence

import kombu
import pytest

from higgins import events
from higgins.bus.amqp import (
    DEAD_LETTERS,
    EVENTS_EXCHANGE,
    INTAKE_EXCHANGE,
    AmqpBus,
    partition_of,
)
from higgins.bus.base import EVENTS, each
from higgins.bus.cassandra_log import CassandraLog
from tests.contract.conftest import PARTITIONS
from tests.contract.test_bus import consume_until, envelope

pytestmark = [pytest.mark.rabbitmq, pytest.mark.cassandra]


def _raw(bus: AmqpBus, body: str, subject: str = "a", exchange: str = EVENTS_EXCHANGE) -> None:
    with kombu.Connection(bus.url, transport_options={"confirm_publish": True}) as connection:
        kombu.Producer(connection.default_channel).publish(
            body, exchange=exchange, routing_key=str(partition_of(subject, PARTITIONS)))


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
    consumer = threading.Thread(target=amqp_bus.consume, args=("c1", EVENTS, each(handle), stop))
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


def test_a_poisoned_batch_is_handled_again_one_by_one_and_only_the_poison_is_parked(
        amqp_bus: AmqpBus) -> None:
    poison = envelope("p")
    good = [envelope(f"g{n}") for n in range(6)]
    amqp_bus.publish([poison, *good])
    handled: list[str] = []

    def handle(batch: Sequence[events.Envelope]) -> None:
        if any(env["id"] == poison["id"] for env in batch):
            raise ValueError("a bug, not an outage")
        handled.extend(env["id"] for env in batch)

    stop = threading.Event()
    consumer = threading.Thread(target=amqp_bus.consume, args=("c2", EVENTS, handle, stop, 2,
                                                                16))
    consumer.start()
    deadline = time.monotonic() + 30
    while (len(handled) < len(good) or not _dead_letters(amqp_bus)) and \
            time.monotonic() < deadline:
        time.sleep(0.2)
    stop.set()
    consumer.join(10)
    assert sorted(handled) == sorted(e["id"] for e in good)


def test_an_intake_message_whose_publisher_is_gone_is_recorded_and_delivered(
        amqp_bus: AmqpBus) -> None:
    """A publisher killed after the broker's confirm, before its answer: no reply queue."""
    orphan = envelope("orphan")
    _raw(amqp_bus, json.dumps([orphan]), subject="orphan", exchange=INTAKE_EXCHANGE)
    (handled,) = consume_until(amqp_bus, "c1", EVENTS, 1)
    assert (handled["id"], handled["seq"]) == (orphan["id"], 1)
    assert [e["id"] for e in amqp_bus.history("orphan")] == [orphan["id"]]


def test_an_intake_message_that_is_no_list_of_envelopes_is_dead_lettered(
        amqp_bus: AmqpBus) -> None:
    _raw(amqp_bus, json.dumps(envelope("a")), exchange=INTAKE_EXCHANGE)  # one, not a list
    recorded = amqp_bus.publish([envelope("a")])
    assert recorded[0]["seq"] == 1
    deadline = time.monotonic() + 10
    while not (parked := _dead_letters(amqp_bus)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(parked) == 1


@pytest.fixture
def log() -> Iterator[CassandraLog]:
    adapter = CassandraLog("cassandra://127.0.0.1:9042/higgins_contract_log")
    adapter.truncate()
    yield adapter
    adapter.close()


def test_a_deposed_writers_late_writes_are_not_part_of_the_log(log: CassandraLog) -> None:
    first = log.writer(log.take_lease(0, "first"))
    a1 = first.append([envelope("s", exit_code=1)])[0]
    second = log.writer(log.take_lease(0, "second"))  # takes the partition over
    a2 = second.append([envelope("s", exit_code=2)])[0]
    assert (a1["seq"], a2["seq"]) == (1, 2)

    late = envelope("s", exit_code=99)
    first.append([late])  # believes the head is 1: writes seq 2 under the old epoch
    first.append([envelope("s", exit_code=98)])  # and seq 3, above the new writer
    assert [e["data"]["exit_code"] for e in log.history("s")] == [1, 2]
    assert log.recorded(late["id"]) is None
    assert log.head("s") == 2

    a3 = second.append([envelope("s", exit_code=3)])[0]
    assert a3["seq"] == 3
    again = second.append([late])[0]  # the late event comes back to the owner
    assert again["seq"] == 4
    assert [e["data"]["exit_code"] for e in log.history("s")] == [1, 2, 3, 99]
    assert [e["data"]["exit_code"] for e in log.history("s", after_seq=2)] == [3, 99]


def test_a_new_writer_numbers_on_from_what_the_old_one_recorded(log: CassandraLog) -> None:
    first = log.writer(log.take_lease(1, "first"))
    recorded = first.append([envelope("t"), envelope("t")])
    second = log.writer(log.take_lease(1, "second"))
    assert second.append([recorded[1]]) == [recorded[1]]  # recorded already: not again
    assert second.append([envelope("t")])[0]["seq"] == 3
