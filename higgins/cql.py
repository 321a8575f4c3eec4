"""EDGE: Cassandra sessions and schema migrations shared by the Cassandra views store and the
Cassandra event log. Side effects: connects; creates the keyspace; applies migrations."""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass

from cassandra import OperationTimedOut, RequestExecutionException
from cassandra.cluster import (
    EXEC_PROFILE_DEFAULT,
    Cluster,
    ExecutionProfile,
    NoHostAvailable,
    Session,
)
from cassandra.connection import ConnectionException
from cassandra.policies import (
    DCAwareRoundRobinPolicy,
    ExponentialReconnectionPolicy,
    TokenAwarePolicy,
)

# Errors that say "Cassandra is away or slow right now", not "this request is wrong" (an
# InvalidRequest, Unauthorized or syntax error is a bug that no retry mends: not listed).
TRANSIENT: tuple[type[Exception], ...] = (
    NoHostAvailable, ConnectionException, RequestExecutionException, OperationTimedOut,
    OSError)

_MIGRATIONS_TABLE = """CREATE TABLE IF NOT EXISTS schema_migrations (
    component text, version int, statement text, PRIMARY KEY (component, version))"""


@dataclass(frozen=True)
class Target:
    hosts: list[str]
    port: int
    keyspace: str

    @classmethod
    def from_url(cls, url: str) -> Target:
        """cassandra://host[:port][/keyspace]; several hosts as cassandra://a,b:9042/ks."""
        parsed = urllib.parse.urlsplit(url)
        hosts_part, _, port_part = parsed.netloc.rpartition(":") if ":" in parsed.netloc \
            else (parsed.netloc, "", "")
        hosts = [h for h in hosts_part.split(",") if h] or ["127.0.0.1"]
        return cls(hosts, int(port_part or 9042), parsed.path.strip("/") or "higgins")


def connect(target: Target, replication_factor: int = 1) -> tuple[Cluster, Session]:
    """A session on `target.keyspace`, created when missing (SimpleStrategy: an operator who
    wants NetworkTopologyStrategy creates the keyspace first)."""
    cluster = Cluster(
        target.hosts, port=target.port, protocol_version=5,
        execution_profiles={EXEC_PROFILE_DEFAULT: ExecutionProfile(
            load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy()))},
        # back within a second or two of a node's restart, not the driver's default minutes
        reconnection_policy=ExponentialReconnectionPolicy(0.2, 2.0))
    session = cluster.connect()
    session.execute(
        f"CREATE KEYSPACE IF NOT EXISTS {target.keyspace} WITH replication = "
        f"{{'class': 'SimpleStrategy', 'replication_factor': {replication_factor}}}")
    session.set_keyspace(target.keyspace)
    return cluster, session


def migrate(session: Session, component: str, statements: Sequence[str]) -> int:
    """Apply `statements` (append-only: version = index + 1) not yet recorded for `component`;
    each is idempotent DDL, so a migration interrupted half-way is simply applied again.
    Returns the schema version now in place."""
    session.execute(_MIGRATIONS_TABLE)
    done = {row.version for row in session.execute(
        "SELECT version FROM schema_migrations WHERE component = %s", (component,))}
    for version, statement in enumerate(statements, start=1):
        if version in done:
            continue
        session.execute(statement)
        session.execute(
            "INSERT INTO schema_migrations (component, version, statement) VALUES (%s, %s, %s)",
            (component, version, " ".join(statement.split())))
    return len(statements)
