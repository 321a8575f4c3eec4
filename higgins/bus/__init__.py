"""EDGE: buses, chosen by URL: sqlite:///path (embedded), amqp://… (RabbitMQ) or kafka://…
(Kafka), the last two with the event log's per-subject numbering in Cassandra at `log_url`.
Client libraries are imported only when asked for."""

from __future__ import annotations

from collections.abc import Sequence

from higgins.bus.base import Bus


def by_url(url: str, log_url: str = "", groups: Sequence[str] = (), partitions: int = 8) -> Bus:
    """The adapter for `url`; `groups` are the event consumer groups whose queues must exist
    before anything is published (RabbitMQ drops what no queue is bound for; a Kafka group
    reads the retained topic from its start)."""
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
    if url.startswith("kafka://"):
        from higgins.bus.cassandra_log import CassandraLog
        from higgins.bus.kafka import KafkaBus

        if not log_url.startswith("cassandra://"):
            raise ValueError(f"the Kafka bus numbers its log in Cassandra: set [bus] log_url "
                             f"(or [store] url) to cassandra://host:port/keyspace, not "
                             f"{log_url!r}")
        return KafkaBus(url, CassandraLog(log_url), partitions)
    raise ValueError(f"no bus for {url!r}: use sqlite:///path, amqp://host:5672/vhost or "
                     f"kafka://host:9092/namespace")
