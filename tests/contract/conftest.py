"""Fixtures shared by the contract suites: the RabbitMQ bus on its own vhost and a fresh log,
the Kafka bus in a namespace of its own (fresh topics) and a fresh log; the stores, SQLite in
a temp dir and Cassandra in a keyspace of the suites' own."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import kombu
import pytest

from higgins.bus.amqp import AmqpBus
from higgins.bus.base import Bus
from higgins.bus.cassandra_log import CassandraLog
from higgins.bus.embedded import EmbeddedBus
from higgins.bus.kafka import KafkaBus
from higgins.store.cassandra import CassandraStore
from higgins.store.sqlite import SqliteStore
from tests.services import kafka_namespace, rabbitmq_vhost

GROUPS = ("c1", "c2", "c3")
PARTITIONS = 4


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    with rabbitmq_vhost("contract") as url:
        yield url


def _purge(url: str) -> None:
    """Empty the queues earlier tests left messages in (the vhost lives for the session)."""
    names = [f"higgins.events.{g}.{p}" for g in GROUPS for p in range(PARTITIONS)]
    names += [f"higgins.intake.{p}" for p in range(PARTITIONS)]
    with kombu.Connection(url) as connection:
        channel = connection.channel()
        for name in [*names, "higgins.commands.h1", "higgins.dead-letters"]:
            try:
                channel.queue_purge(name)
            except connection.channel_errors:
                channel = connection.channel()  # not declared yet: nothing to purge


@pytest.fixture
def amqp_bus(amqp_url: str) -> Iterator[AmqpBus]:
    """The RabbitMQ bus on a fresh log, its sequencers served (as `higgins processor` does)."""
    log = CassandraLog("cassandra://127.0.0.1:9042/higgins_contract_log")
    log.truncate()
    adapter = AmqpBus(amqp_url, log, GROUPS, partitions=PARTITIONS)
    _purge(amqp_url)
    yield from _served(adapter)


def _served(adapter: AmqpBus | KafkaBus) -> Iterator[Bus]:
    """The adapter with its sequencers running (as `higgins processor` runs them); closed."""
    stop = threading.Event()
    threads = adapter.serve(stop)
    yield adapter
    stop.set()
    for thread in threads:
        thread.join(10)
    adapter.close()


@pytest.fixture
def kafka_bus() -> Iterator[Bus]:
    """The Kafka bus with fresh topics and a fresh log, its sequencers served."""
    log = CassandraLog("cassandra://127.0.0.1:9042/higgins_contract_log")
    log.truncate()
    with kafka_namespace("contract") as namespace:
        yield from _served(KafkaBus(f"kafka://127.0.0.1:9092/{namespace}", log,
                                    partitions=PARTITIONS))


BUSES = ["embedded",
         pytest.param("amqp", marks=[pytest.mark.rabbitmq, pytest.mark.cassandra]),
         pytest.param("kafka", marks=[pytest.mark.kafka, pytest.mark.cassandra])]


@pytest.fixture(params=BUSES)
def bus(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Bus]:
    """Each bus adapter: the embedded one on a fresh log, the RabbitMQ one (amqp_bus), the
    Kafka one (kafka_bus)."""
    if request.param in ("amqp", "kafka"):
        yield request.getfixturevalue(f"{request.param}_bus")
        return
    adapter = EmbeddedBus(tmp_path / "events.db")
    yield adapter
    adapter.close()


STORES = ["sqlite", pytest.param("cassandra", marks=pytest.mark.cassandra)]


@pytest.fixture(scope="session")
def cassandra_store() -> Iterator[CassandraStore]:
    """The node of scripts/start-cassandra.sh (started by scripts/test.sh), own keyspace."""
    adapter = CassandraStore(["127.0.0.1"], 9042, "higgins_contract")
    yield adapter
    adapter.close()


def each_store(request: pytest.FixtureRequest, tmp_path: Path,
               reset: Callable[[CassandraStore], None] = lambda adapter: None,
               ) -> Iterator[SqliteStore | CassandraStore]:
    """The body of a `store` fixture parametrized over STORES: a fresh SQLite store, or the
    shared Cassandra one after `reset` (what the suite needs emptied)."""
    if request.param == "cassandra":
        adapter: CassandraStore = request.getfixturevalue("cassandra_store")
        reset(adapter)
        yield adapter
        return
    sqlite = SqliteStore(tmp_path / "views.db")
    yield sqlite
    sqlite.close()
