"""EDGE: host ledgers in the Cassandra store (a mixin of CassandraStore), each changed only by
a lightweight transaction (IF NOT EXISTS for the first claim on a host, IF version = ? after):
of two schedulers writing over the same version, one is applied.
Side effects: reads and writes the keyspace; creates the table when missing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cassandra import ConsistencyLevel
from cassandra.cluster import Session
from cassandra.query import PreparedStatement

from higgins import cql
from higgins.processors.claims import Ledger
from higgins.store import records
from higgins.store.base import StoreUnavailable

_MIGRATIONS = (
    "CREATE TABLE IF NOT EXISTS host_ledgers (host text PRIMARY KEY, version int, body text)",
)
_STATEMENTS = {
    "ledger": "SELECT version, body FROM host_ledgers WHERE host = ?",
    "ledgers": "SELECT host, version, body FROM host_ledgers WHERE host IN ?",
    "first_claim": "INSERT INTO host_ledgers (host, version, body) VALUES (?, ?, ?) "
                   "IF NOT EXISTS",
    "claim": "UPDATE host_ledgers SET version = ?, body = ? WHERE host = ? IF version = ?",
}


class CassandraLedgers:
    """The HostLedgers of store/base.py. One ledger is read at SERIAL (the outcome of any
    transaction in flight); several at the session's consistency, in one query: a stale one
    only makes the conditional write lose, and the scheduler reads again."""

    _session: Session
    _ledgers: dict[str, PreparedStatement]

    def _prepare_ledgers(self) -> None:
        cql.migrate(self._session, "host_ledgers", _MIGRATIONS)
        self._ledgers = {name: self._session.prepare(statement)
                         for name, statement in _STATEMENTS.items()}
        self._ledgers["ledger"].consistency_level = ConsistencyLevel.SERIAL

    def _ledger_cql(self, name: str, *values: Any) -> Any:
        try:
            return self._session.execute(self._ledgers[name], values)
        except cql.TRANSIENT as error:
            raise StoreUnavailable(f"Cassandra is unavailable: {error}") from error

    def load_ledger(self, host: str) -> Ledger:
        row = self._ledger_cql("ledger", host).one()
        return records.host_ledger(host, row.version, row.body) if row else Ledger(host)

    def load_ledgers(self, hosts: Sequence[str]) -> dict[str, Ledger]:
        found = {host: Ledger(host) for host in hosts}
        if found:
            for row in self._ledger_cql("ledgers", list(found)):
                found[row.host] = records.host_ledger(row.host, row.version, row.body)
        return found

    def claim_ledger(self, host: str, ledger: Ledger, expected_version: int) -> bool:
        body = records.host_ledger_body(ledger)
        if expected_version == 0:
            result = self._ledger_cql("first_claim", host, ledger.version, body)
        else:
            result = self._ledger_cql("claim", ledger.version, body, host, expected_version)
        return bool(result.was_applied)
