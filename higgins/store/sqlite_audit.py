"""EDGE: the audit record in the SQLite store (a mixin of SqliteStore): one row per entry,
indexed by time within project, target and everything. Side effects: reads and writes the
views file."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence

from higgins.processors import audit
from higgins.processors.audit import Entry, Query

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_entries (
    id TEXT PRIMARY KEY,
    at TEXT NOT NULL,
    project_id TEXT NOT NULL,
    target_kind TEXT NOT NULL,
    target TEXT NOT NULL,
    type TEXT NOT NULL,
    request_id TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_entries_at ON audit_entries (at, id);
CREATE INDEX IF NOT EXISTS audit_entries_project ON audit_entries (project_id, at, id);
CREATE INDEX IF NOT EXISTS audit_entries_target ON audit_entries (target, at, id);
CREATE INDEX IF NOT EXISTS audit_entries_request ON audit_entries (request_id);
"""


class SqliteAudit:
    """The AuditLog of store/base.py; `at` is the entry's time key (audit.sort_key)."""

    _writing: threading.Lock

    def _connect(self) -> sqlite3.Connection:
        raise NotImplementedError  # SqliteStore's

    def record_audit(self, entries: Sequence[Entry]) -> None:
        rows = [(e["id"], audit.sort_key(e), audit.project_of(e), e["target"]["kind"],
                 e["target"]["uuid"], e["type"], e["request_id"], json.dumps(e))
                for e in entries]
        db = self._connect()
        with self._writing:
            db.execute("BEGIN IMMEDIATE")
            try:
                # an entry is a function of its event: the first write is as good as any
                db.executemany("INSERT OR IGNORE INTO audit_entries (id, at, project_id, "
                               "target_kind, target, type, request_id, body) "
                               "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def audit_entry(self, event_id: str) -> Entry | None:
        row = self._connect().execute("SELECT body FROM audit_entries WHERE id = ?",
                                      (event_id,)).fetchone()
        return _entry(row[0]) if row else None

    def audit_entries(self, query: Query, marker: str | None = None, limit: int = 100,
                      oldest_first: bool = False) -> list[Entry]:
        where, args = _conditions(query)
        if marker is not None:
            row = self._connect().execute(
                "SELECT at, project_id FROM audit_entries WHERE id = ?", (marker,)).fetchone()
            if row is None or query.project_id not in (None, row[1]):
                raise audit.UnknownMarker(marker)
            where.append("(at, id) > (?, ?)" if oldest_first else "(at, id) < (?, ?)")
            args += [row[0], marker]
        order = "ASC" if oldest_first else "DESC"
        rows = self._connect().execute(  # the values are parameters; the text is ours
            f"SELECT body FROM audit_entries WHERE {' AND '.join(where)} "
            f"ORDER BY at {order}, id {order} LIMIT ?", [*args, limit])
        return [_entry(body) for (body,) in rows]


def _conditions(query: Query) -> tuple[list[str], list[object]]:
    where = ["at >= ?", "at < ?"]
    args: list[object] = [query.lower(), query.upper()]
    for column, value in (("project_id", query.project_id), ("target_kind", query.target_kind),
                          ("target", query.target), ("request_id", query.request_id)):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    if query.types:
        # patterns are lower-case words, dots and * (audit.parse_types): GLOB is fnmatch here
        where.append("(" + " OR ".join("type GLOB ?" for _ in query.types) + ")")
        args += list(query.types)
    return where, args


def _entry(body: str) -> Entry:
    found: Entry = json.loads(body)
    return found
