"""EDGE: host ledgers in the SQLite store (a mixin of SqliteStore): each written by one
conditional statement (UPDATE ... WHERE version = ?, or an insert that yields to a row already
there), atomic across the processes sharing the file. Side effects: reads and writes the
views file."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence

from higgins.processors.claims import Ledger
from higgins.store import records

SCHEMA = """
CREATE TABLE IF NOT EXISTS host_ledgers (
    host TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    body TEXT NOT NULL
);
"""


class SqliteLedgers:
    """The HostLedgers of store/base.py."""

    _writing: threading.Lock

    def _connect(self) -> sqlite3.Connection:
        raise NotImplementedError  # SqliteStore's

    def load_ledger(self, host: str) -> Ledger:
        row = self._connect().execute("SELECT version, body FROM host_ledgers WHERE host = ?",
                                      (host,)).fetchone()
        return records.host_ledger(host, *row) if row else Ledger(host)

    def load_ledgers(self, hosts: Sequence[str]) -> dict[str, Ledger]:
        found = {host: Ledger(host) for host in hosts}
        # one read of the table (a ledger per host: as many rows as hosts), filtered here
        rows = self._connect().execute("SELECT host, version, body FROM host_ledgers")
        for host, version, body in rows:
            if host in found:
                found[host] = records.host_ledger(host, version, body)
        return found

    def claim_ledger(self, host: str, ledger: Ledger, expected_version: int) -> bool:
        body = records.host_ledger_body(ledger)
        with self._writing:
            if expected_version == 0:
                written = self._connect().execute(
                    "INSERT INTO host_ledgers (host, version, body) VALUES (?, ?, ?) "
                    "ON CONFLICT (host) DO NOTHING", (host, ledger.version, body))
            else:
                written = self._connect().execute(
                    "UPDATE host_ledgers SET version = ?, body = ? "
                    "WHERE host = ? AND version = ?",
                    (ledger.version, body, host, expected_version))
        return written.rowcount == 1
