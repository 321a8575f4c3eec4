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
    namespace = f"higgins-{purpose}-{uuid.uuid4().hex[:8]}"
    try:
        yield namespace
    finally:
        asyncio.run(_delete_topics(namespace))


async def _delete_topics(namespace: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers="127.0.0.1:9092")
    await admin.start()
    try:
        mine = [t for t in await admin.list_topics() if t.startswith(f"{namespace}.")]
        if mine:
            await admin.delete_topics(mine)
    finally:
        await admin.close()


def keyspace(purpose: str) -> str:
    return f"higgins_{purpose}_{uuid.uuid4().hex[:8]}"
