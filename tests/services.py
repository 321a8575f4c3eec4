"""The project's services as tests use them: each test module or fixture gets its own RabbitMQ
virtual host or Cassandra keyspace on the brokers the scripts started, removed afterwards."""

from __future__ import annotations

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


def keyspace(purpose: str) -> str:
    return f"higgins_{purpose}_{uuid.uuid4().hex[:8]}"
