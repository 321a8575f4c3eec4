"""EDGE: which failures of a consumer's handler mean "a service is away" (shared by the RabbitMQ
and Kafka consumers): those are retried for as long as it takes, never dead-lettered."""

from __future__ import annotations

from higgins import cql
from higgins.faults import ServiceUnavailable

TRANSIENT: tuple[type[Exception], ...] = (
    *cql.TRANSIENT, ServiceUnavailable, ConnectionError)
