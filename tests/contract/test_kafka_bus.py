"""What only the Kafka bus does (the services of scripts/start-kafka.sh and start-cassandra.sh):
an intake record without a publisher waiting is still recorded and delivered, and topics of
another partition count are refused."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiokafka import AIOKafkaProducer

from higgins.bus.base import EVENTS
from higgins.bus.cassandra_log import CassandraLog
from higgins.bus.kafka import KafkaBus
from tests.contract.conftest import PARTITIONS
from tests.contract.test_bus import consume_until, envelope
from tests.services import kafka_namespace

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
