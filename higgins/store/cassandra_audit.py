"""EDGE: the audit record in the Cassandra store (a mixin of CassandraStore).

Each entry is written (plain, idempotent writes: the same event writes the same rows) to
  audit_entries    (id)                           the entry by event id (markers)
  audit_by_project ((project_id, day), at, id)    a project's day: its recent events in one read
  audit_by_hour    ((hour), at, id)               every project's hour (admins' all_projects)
  audit_by_target  ((target), at, id)             one container's (capsule's...) whole record
clustered newest first, and audit_buckets ((scope), bucket) lists the days of each project and
the hours that hold entries, so a listing reads only partitions with entries, one after another
in its order, the driver paging within each: no ALLOW FILTERING; type and request_id filters
are applied while paging. `at` is the entry's time key (audit.sort_key).
Side effects: reads and writes the keyspace; creates the tables when missing."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from cassandra.cluster import Session
from cassandra.query import PreparedStatement

from higgins import cql
from higgins.processors import audit
from higgins.processors.audit import Entry, Query
from higgins.store.base import StoreUnavailable

ALL = "all"  # the scope of audit_buckets whose buckets are the hours of audit_by_hour
_NEWEST_FIRST = "WITH CLUSTERING ORDER BY (at DESC, id DESC)"
_MIGRATIONS = (
    "CREATE TABLE IF NOT EXISTS audit_entries (id text PRIMARY KEY, at text, project_id text, "
    "body text)",
    "CREATE TABLE IF NOT EXISTS audit_by_project (project_id text, day text, at text, id text, "
    f"body text, PRIMARY KEY ((project_id, day), at, id)) {_NEWEST_FIRST}",
    "CREATE TABLE IF NOT EXISTS audit_by_hour (hour text, at text, id text, body text, "
    f"PRIMARY KEY (hour, at, id)) {_NEWEST_FIRST}",
    "CREATE TABLE IF NOT EXISTS audit_by_target (target text, at text, id text, body text, "
    f"PRIMARY KEY (target, at, id)) {_NEWEST_FIRST}",
    "CREATE TABLE IF NOT EXISTS audit_buckets (scope text, bucket text, "
    "PRIMARY KEY (scope, bucket)) WITH CLUSTERING ORDER BY (bucket DESC)",
)
_TABLES = ("audit_entries", "audit_by_project", "audit_by_hour", "audit_by_target",
           "audit_buckets")
# partition key columns of each listing table
_KEYS = {"audit_by_project": ("project_id", "day"), "audit_by_hour": ("hour",),
         "audit_by_target": ("target",)}
_RANGE = "(at, id) >= (?, ?) AND (at, id) < (?, ?)"


def _statements() -> dict[str, str]:
    statements = {
        "entry": "INSERT INTO audit_entries (id, at, project_id, body) VALUES (?, ?, ?, ?)",
        "by_project": "INSERT INTO audit_by_project (project_id, day, at, id, body) "
                      "VALUES (?, ?, ?, ?, ?)",
        "by_hour": "INSERT INTO audit_by_hour (hour, at, id, body) VALUES (?, ?, ?, ?)",
        "by_target": "INSERT INTO audit_by_target (target, at, id, body) VALUES (?, ?, ?, ?)",
        "bucket": "INSERT INTO audit_buckets (scope, bucket) VALUES (?, ?)",
        "load": "SELECT at, project_id, body FROM audit_entries WHERE id = ?",
        "buckets desc": "SELECT bucket FROM audit_buckets WHERE scope = ? AND bucket >= ? "
                        "AND bucket <= ?",
        "buckets asc": "SELECT bucket FROM audit_buckets WHERE scope = ? AND bucket >= ? "
                       "AND bucket <= ? ORDER BY bucket ASC",
    }
    for table, keys in _KEYS.items():
        where = " AND ".join(f"{key} = ?" for key in keys)
        read = f"SELECT body FROM {table} WHERE {where} AND {_RANGE}"
        statements[f"{table} desc"] = read
        statements[f"{table} asc"] = f"{read} ORDER BY at ASC, id ASC"
    return statements


Bound = tuple[str, str]  # (at, id)


class CassandraAudit:
    """The AuditLog of store/base.py."""

    _session: Session
    _audit: dict[str, PreparedStatement]

    def _prepare_audit(self) -> None:
        cql.migrate(self._session, "audit", _MIGRATIONS)
        self._audit = {name: self._session.prepare(statement)
                       for name, statement in _statements().items()}

    def record_audit(self, entries: Sequence[Entry]) -> None:
        """Every write sent, then each awaited (pipelined)."""
        writes: list[tuple[str, tuple[object, ...]]] = []
        buckets: set[tuple[str, str]] = set()
        for found in entries:
            at, project, body = audit.sort_key(found), audit.project_of(found), json.dumps(found)
            event_id, day, hour = found["id"], audit.bucket_day(at), audit.bucket_hour(at)
            writes += [("entry", (event_id, at, project, body)),
                       ("by_project", (project, day, at, event_id, body)),
                       ("by_hour", (hour, at, event_id, body)),
                       ("by_target", (found["target"]["uuid"], at, event_id, body))]
            buckets |= {(f"project:{project}", day), (ALL, hour)}
        writes += [("bucket", bucket) for bucket in sorted(buckets)]
        try:
            futures = [self._session.execute_async(self._audit[name], values)
                       for name, values in writes]
            for future in futures:
                future.result()
        except cql.TRANSIENT as error:
            raise StoreUnavailable(f"Cassandra is unavailable: {error}") from error

    def audit_entry(self, event_id: str) -> Entry | None:
        row = self._audit_rows("load", (event_id,)).one()
        return _entry(row.body) if row else None

    def audit_entries(self, query: Query, marker: str | None = None, limit: int = 100,
                      oldest_first: bool = False) -> list[Entry]:
        low: Bound = (query.lower(), "")
        high: Bound = (query.upper(), "")
        if marker is not None:
            row = self._audit_rows("load", (marker,)).one()
            if row is None or query.project_id not in (None, row.project_id):
                raise audit.UnknownMarker(marker)
            if oldest_first:
                low = max(low, (row.at, marker))  # inclusive: the marker itself is skipped
            else:
                high = min(high, (row.at, marker))
        found: list[Entry] = []
        if low >= high or limit <= 0:
            return found
        try:
            for candidate in self._candidates(query, low, high, oldest_first, limit):
                if candidate["id"] != marker and audit.matches(query, candidate):
                    found.append(candidate)
                    if len(found) == limit:
                        break
        except cql.TRANSIENT as error:
            raise StoreUnavailable(f"Cassandra is unavailable: {error}") from error
        return found

    def _candidates(self, query: Query, low: Bound, high: Bound, oldest_first: bool,
                    limit: int) -> Iterator[Entry]:
        """The entries between the bounds in the asked order, partition after partition; the
        driver fetches the next page of a partition only when it is read that far."""
        order = "asc" if oldest_first else "desc"
        for table, key in self._partitions(query, low, high, order):
            rows = self._audit_rows(f"{table} {order}", (*key, *low, *high),
                                    fetch_size=max(limit + 1, 50))
            for row in rows:
                yield _entry(row.body)

    def _partitions(self, query: Query, low: Bound, high: Bound,
                    order: str) -> Iterator[tuple[str, tuple[str, ...]]]:
        if query.target is not None:
            yield "audit_by_target", (query.target,)
            return
        if query.project_id is not None:
            scope, table, bucket = f"project:{query.project_id}", "audit_by_project", \
                audit.bucket_day
        else:
            scope, table, bucket = ALL, "audit_by_hour", audit.bucket_hour
        for row in self._audit_rows(f"buckets {order}", (scope, bucket(low[0]), bucket(high[0]))):
            yield table, ((query.project_id, row.bucket) if query.project_id is not None
                          else (row.bucket,))

    def _audit_rows(self, name: str, values: tuple[object, ...], fetch_size: int = 5000) -> Any:
        bound = self._audit[name].bind(values)
        bound.fetch_size = fetch_size
        try:
            return self._session.execute(bound)
        except cql.TRANSIENT as error:
            raise StoreUnavailable(f"Cassandra is unavailable: {error}") from error

    def truncate_audit(self) -> None:
        """Empty the audit record (tests)."""
        for table in _TABLES:
            self._session.execute(f"TRUNCATE {table}")


def _entry(body: str) -> Entry:
    found: Entry = json.loads(body)
    return found
