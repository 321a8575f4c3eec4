"""What only the Kafka bus does (the services of scripts/start-kafka.sh and start-cassandra.sh):
an intake record without a publisher waiting is still recorded and delivered, topics of
another partition count are refused, and what cannot be handled (an intake record that is no
list of envelopes, an events record that is no envelope, an envelope whose handler keeps
failing) is parked in the namespace's dead-letter topic while the stream goes on."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Sequence

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from higgins import events
from higgins.bus.base import EVENTS, each, partition_of
from higgins.bus.cassandra_log import CassandraLog
from higgins.bus.kafka import KafkaBus
from tests.contract.conftest import PARTITIONS
from tests.contract.test_bus import consume_until, envelope
from tests.services import kafka_namespace, kafka_records

pytestmark = [pytest.mark.kafka, pytest.mark.cassandra]


def _raw(topic: str, value: bytes, partition: int = 0) -> None:
    """A record produced straight to a topic, as a publisher that died after its ack leaves it
    (no reply topic named), or as something that is no envelope."""

    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:9092", acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(topic, value, partition=partition)
        finally:
            await producer.stop()

    asyncio.run(send())


def test_an_intake_record_whose_publisher_is_gone_is_recorded_and_delivered(
        kafka_bus: KafkaBus) -> None:
    orphan = envelope("orphan")
    _raw(kafka_bus.names.intake, json.dumps([orphan]).encode())
    (handled,) = consume_until(kafka_bus, "c1", EVENTS, 1)
    assert (handled["id"], handled["seq"]) == (orphan["id"], 1)
    assert [e["id"] for e in kafka_bus.history("orphan")] == [orphan["id"]]


def test_topics_of_another_partition_count_are_refused() -> None:
    log = CassandraLog("cassandra://127.0.0.1:9042/higgins_contract_log")
    with kafka_namespace("contract") as namespace:
        url = f"kafka://127.0.0.1:9092/{namespace}"
        KafkaBus(url, log, partitions=PARTITIONS).close()
        with pytest.raises(ValueError, match="partitions"):
            KafkaBus(url, CassandraLog("cassandra://127.0.0.1:9042/higgins_contract_log"),
                     partitions=PARTITIONS + 1)


def _dead_letters(bus: KafkaBus) -> list[tuple[bytes, dict[str, bytes]]]:
    """Every record of the namespace's dead-letter topic (one partition) up to its end as the
    cluster's metadata gives it now: (value, headers)."""
    end = kafka_records(bus.names.dead)

    async def read() -> list[tuple[bytes, dict[str, bytes]]]:
        consumer = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:9092",
                                    enable_auto_commit=False)
        await consumer.start()
        try:
            tp = TopicPartition(bus.names.dead, 0)
            consumer.assign([tp])
            consumer.seek(tp, 0)
            found: list[tuple[bytes, dict[str, bytes]]] = []
            deadline = time.monotonic() + 10
            while len(found) < end and time.monotonic() < deadline:
                for records in (await consumer.getmany(tp, timeout_ms=500)).values():
                    found += [(r.value, dict(r.headers or ())) for r in records]
            return found
        finally:
            await consumer.stop()

    return asyncio.run(read()) if end else []


def _parked(bus: KafkaBus, count: int, seconds: float = 30) -> list[tuple[bytes,
                                                                       dict[str, bytes]]]:
    deadline = time.monotonic() + seconds
    while len(parked := _dead_letters(bus)) < count and time.monotonic() < deadline:
        time.sleep(0.2)
    return parked


def test_an_intake_record_that_is_no_list_of_envelopes_is_dead_lettered(
        kafka_bus: KafkaBus) -> None:
    one = envelope("a")
    _raw(kafka_bus.names.intake, json.dumps(one).encode(),  # one, not a list
         partition=partition_of("a", PARTITIONS))
    recorded = kafka_bus.publish([envelope("a")])
    assert recorded[0]["seq"] == 1
    (parked,) = _parked(kafka_bus, 1)
    assert json.loads(parked[0]) == one
    assert kafka_records(kafka_bus.names.dead) == 1  # what the fault tests count with


def test_a_record_that_is_no_envelope_is_dead_lettered_and_the_stream_goes_on(
        kafka_bus: KafkaBus) -> None:
    _raw(kafka_bus.names.events, b"{not json", partition=partition_of("a", PARTITIONS))
    good = envelope("a")
    kafka_bus.publish([good])
    (handled,) = consume_until(kafka_bus, "c1", EVENTS, 1)
    assert handled["id"] == good["id"]
    ((value, headers),) = _parked(kafka_bus, 1)
    assert (value, headers["group"]) == (b"{not json", f"{kafka_bus.names.namespace}.c1".encode())


def test_an_envelope_whose_handler_keeps_failing_is_dead_lettered(kafka_bus: KafkaBus) -> None:
    poison, good = envelope("a"), envelope("b")
    kafka_bus.publish([poison, good])
    tries = []
    handled = []

    def handle(env: events.Envelope) -> None:
        if env["id"] == poison["id"]:
            tries.append(1)
            raise ValueError("a bug, not an outage")
        handled.append(env["id"])

    stop = threading.Event()
    consumer = threading.Thread(target=kafka_bus.consume, args=("c1", EVENTS, each(handle), stop))
    consumer.start()
    try:
        parked = _parked(kafka_bus, 1)
    finally:
        stop.set()
        consumer.join(30)
    assert [json.loads(value)["id"] for value, _ in parked] == [poison["id"]]
    assert parked[0][1]["group"] == f"{kafka_bus.names.namespace}.c1".encode()
    assert len(tries) == 5
    assert handled == [good["id"]]


def test_a_poisoned_batch_is_handled_again_one_by_one_and_only_the_poison_is_parked(
        kafka_bus: KafkaBus) -> None:
    poison = envelope("p")
    good = [envelope(f"g{n}") for n in range(6)]
    kafka_bus.publish([poison, *good])
    handled: list[str] = []

    def handle(batch: Sequence[events.Envelope]) -> None:
        if any(env["id"] == poison["id"] for env in batch):
            raise ValueError("a bug, not an outage")
        handled.extend(env["id"] for env in batch)

    stop = threading.Event()
    consumer = threading.Thread(target=kafka_bus.consume, args=("c2", EVENTS, handle, stop, 2,
                                                                16))
    consumer.start()
    try:
        parked = _parked(kafka_bus, 1)
        deadline = time.monotonic() + 10
        while len(handled) < len(good) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        consumer.join(30)
    assert sorted(handled) == sorted(e["id"] for e in good)
    assert [json.loads(value)["id"] for value, _ in parked] == [poison["id"]]


def test_a_group_that_joined_before_its_topic_existed_takes_it_up_when_it_appears() -> None:
    """A broker that restarts lists its topics only once it loaded them: a group that joins
    meanwhile gets none of their partitions. The group must rebalance when the topic shows up
    (the consumers refresh their metadata every few seconds), not stay idle for minutes."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    from higgins.bus import kafka_consuming

    late = envelope("late")
    handled: list[events.Envelope] = []
    stop = threading.Event()
    with kafka_namespace("late") as namespace:
        topic = f"{namespace}.events"
        consumer = threading.Thread(target=kafka_consuming.consume, args=(
            "127.0.0.1:9092", topic, f"{namespace}.late", handled.extend, stop))
        consumer.start()
        try:
            time.sleep(5)  # the group joined with no partition of the missing topic

            async def appear() -> None:
                admin = AIOKafkaAdminClient(bootstrap_servers="127.0.0.1:9092")
                await admin.start()
                try:
                    await admin.create_topics([NewTopic(topic, 2, 1)])
                finally:
                    await admin.close()

            asyncio.run(appear())
            _raw(topic, json.dumps(late).encode())
            deadline = time.monotonic() + 45
            while not handled and time.monotonic() < deadline:
                time.sleep(0.2)
            assert [e["id"] for e in handled] == [late["id"]]
        finally:
            stop.set()
            consumer.join(30)
