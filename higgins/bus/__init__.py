"""EDGE: buses, chosen by URL: sqlite:///path (embedded) or amqp://… (RabbitMQ, with the event
log in Cassandra at `log_url`). Client libraries are imported only when asked for."""

from __future__ import annotations

from collections.abc import Sequence

from higgins.bus.base import Bus


def by_url(url: str, log_url: str = "", groups: Sequence[str] = (), partitions: int = 8) -> Bus:
    """The adapter for `url`; `groups` are the event consumer groups whose queues must exist
    before anything is published (RabbitMQ drops what no queue is bound for)."""
    if url.startswith("sqlite://"):
        from higgins.bus.embedded import EmbeddedBus

        return EmbeddedBus.from_url(url)
    if url.startswith("amqp://"):
        from higgins.bus.amqp import AmqpBus
        from higgins.bus.cassandra_log import CassandraLog

        if not log_url.startswith("cassandra://"):
            raise ValueError(f"the RabbitMQ bus keeps its log in Cassandra: set [bus] log_url "
                             f"(or [store] url) to cassandra://host:port/keyspace, not "
                             f"{log_url!r}")
        return AmqpBus(url, CassandraLog(log_url), groups, partitions)
    raise ValueError(f"no bus for {url!r}: use sqlite:///path or amqp://host:5672/vhost")
