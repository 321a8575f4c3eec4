"""EDGE: views stores, chosen by URL: sqlite:///path (embedded) or cassandra://host:port/keyspace."""

from __future__ import annotations

from higgins.store.base import Store


def by_url(url: str) -> Store:
    """The adapter for `url`; the Cassandra driver is imported only when asked for."""
    if url.startswith("sqlite://"):
        from higgins.store.sqlite import SqliteStore

        return SqliteStore.from_url(url)
    if url.startswith("cassandra://"):
        from higgins.store.cassandra import CassandraStore

        return CassandraStore.from_url(url)
    raise ValueError(f"no store for {url!r}: use sqlite:///path or cassandra://host:port/keyspace")
