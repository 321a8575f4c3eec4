"""The project's services as tests use them: each test module or fixture gets its own RabbitMQ
virtual host (removed afterwards), Kafka namespace or Cassandra keyspace on the services the
scripts started."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def rabbitmq_vhost(purpose: str) -> Iterator[str]:
    """An AMQP URL on a fresh virtual host of scripts/start-rabbitmq.sh's broker."""
    vhost = f"higgins-{purpose}-{uuid.uuid4().hex[:8]}"
    script = ROOT / "scripts" / "rabbitmq-vhost.sh"
    subprocess.run([script, vhost], check=True)
    try:
        yield f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    finally:
        subprocess.run([script, "--delete", vhost], check=True)


@contextlib.contextmanager
def kafka_namespace(purpose: str) -> Iterator[str]:
    """A namespace of its own on scripts/start-kafka.sh's broker (fresh topics and groups);
    its topics are deleted afterwards."""
    from higgins.bus.kafka import delete_namespace

    namespace = f"higgins-{purpose}-{uuid.uuid4().hex[:8]}"
    try:
        yield namespace
    finally:
        delete_namespace("127.0.0.1:9092", namespace)


def kafka_records(topic: str) -> int:
    """How many records the topic holds (0 when it does not exist)."""
    return asyncio.run(_records(topic))


async def _records(topic: str) -> int:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:9092")
    await consumer.start()
    try:
        # the cluster's metadata as fetched now (consumer.partitions_for_topic answers from
        # the consumer's own metadata, which knows only the topics it subscribed to)
        cluster = await consumer._client.fetch_all_metadata()  # noqa: SLF001
        partitions = cluster.partitions_for_topic(topic) or set()
        if not partitions:
            return 0
        tps = [TopicPartition(topic, p) for p in partitions]
        ends = await consumer.end_offsets(tps)
        return sum(ends.values())
    finally:
        await consumer.stop()


def keyspace(purpose: str) -> str:
    return f"higgins_{purpose}_{uuid.uuid4().hex[:8]}"
