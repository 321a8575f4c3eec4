"""EDGE: the SQLite store (embedded mode). Side effects: reads and writes the views file."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from higgins.processors import quotas
from higgins.processors.model import (
    CapsuleState,
    ContainerState,
    HostState,
    ImageState,
    Status,
)
from higgins.processors.quotas import Allocation, Change, Usage
from higgins.store import records, sqlite_audit, sqlite_ledgers, sqlite_webhooks

_SCHEMA = """
CREATE TABLE IF NOT EXISTS containers (
    uuid TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    seq INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS containers_project ON containers (project_id, name);
CREATE TABLE IF NOT EXISTS hosts (
    name TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS images (
    uuid TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS capsules (
    uuid TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS quota_limits (
    scope TEXT NOT NULL,
    resource TEXT NOT NULL,
    hard_limit INTEGER NOT NULL,
    PRIMARY KEY (scope, resource)
);
CREATE TABLE IF NOT EXISTS quota_usage (
    project_id TEXT PRIMARY KEY,
    containers INTEGER NOT NULL,
    cpu REAL NOT NULL,
    memory INTEGER NOT NULL,
    disk INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS quota_allocations (
    project_id TEXT NOT NULL,
    uuid TEXT NOT NULL,
    cpu REAL NOT NULL,
    memory INTEGER NOT NULL,
    disk INTEGER NOT NULL,
    reserved_at REAL NOT NULL,
    PRIMARY KEY (project_id, uuid)
);
"""


class SqliteStore(sqlite_webhooks.SqliteWebhooks, sqlite_audit.SqliteAudit,
                  sqlite_ledgers.SqliteLedgers):
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._local = threading.local()
        self._writing = threading.Lock()  # see EmbeddedBus: queue in Python, not in SQLite
        self._connect().executescript(_SCHEMA + sqlite_webhooks.SCHEMA + sqlite_audit.SCHEMA
                                      + sqlite_ledgers.SCHEMA)
        self._upgrade_ledgers()

    @classmethod
    def from_url(cls, url: str) -> SqliteStore:
        return cls(Path(url.removeprefix("sqlite://")))

    def _connect(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            # Views are rebuilt from the fsynced log after a crash, so NORMAL is enough here.
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
        return db

    def load_container(self, uuid: str) -> ContainerState | None:
        row = self._connect().execute(
            "SELECT body FROM containers WHERE uuid = ?", (uuid,)
        ).fetchone()
        return records.container_state(json.loads(row[0])) if row else None

    def save_container(self, state: ContainerState) -> None:
        self.save_all([state])

    def find_containers(
        self, project_id: str | None = None, name: str | None = None
    ) -> list[ContainerState]:
        query = "SELECT body FROM containers WHERE status != ?"
        args: list[object] = [str(Status.DELETED)]
        if project_id is not None:
            query += " AND project_id = ?"
            args.append(project_id)
        if name is not None:
            query += " AND name = ?"
            args.append(name)
        rows = self._connect().execute(query, args)
        found = [records.container_state(json.loads(body)) for (body,) in rows]
        return sorted(found, key=lambda s: (s.created_at, s.uuid))

    def load_host(self, name: str) -> HostState | None:
        row = self._connect().execute("SELECT body FROM hosts WHERE name = ?", (name,)).fetchone()
        return records.host_state(json.loads(row[0])) if row else None

    def save_host(self, state: HostState) -> None:
        self.save_all([state])

    def list_hosts(self) -> list[HostState]:
        rows = self._connect().execute("SELECT body FROM hosts ORDER BY name")
        return [records.host_state(json.loads(body)) for (body,) in rows]

    def load_image(self, uuid: str) -> ImageState | None:
        row = self._connect().execute("SELECT body FROM images WHERE uuid = ?", (uuid,)).fetchone()
        return records.image_state(json.loads(row[0])) if row else None

    def save_image(self, state: ImageState) -> None:
        self.save_all([state])

    def list_images(self) -> list[ImageState]:
        rows = self._connect().execute("SELECT body FROM images")
        return records.live_images([records.image_state(json.loads(body)) for (body,) in rows])

    def load_capsule(self, uuid: str) -> CapsuleState | None:
        row = self._connect().execute(
            "SELECT body FROM capsules WHERE uuid = ?", (uuid,)).fetchone()
        return records.capsule_state(json.loads(row[0])) if row else None

    def save_capsule(self, state: CapsuleState) -> None:
        self.save_all([state])

    def find_capsules(self, project_id: str | None = None) -> list[CapsuleState]:
        if project_id is None:
            rows = self._connect().execute("SELECT body FROM capsules")
        else:
            rows = self._connect().execute(
                "SELECT body FROM capsules WHERE project_id = ?", (project_id,))
        return records.oldest_first([records.capsule_state(json.loads(b)) for (b,) in rows])

    def save_all(self, states: Sequence[ContainerState | HostState | ImageState | CapsuleState],
                 ) -> None:
        db = self._connect()
        with self._writing:
            db.execute("BEGIN IMMEDIATE")
            try:
                for state in states:
                    db.execute(*_upsert(state))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def quota_limits(self, scope: str) -> dict[str, int]:
        rows = self._connect().execute(
            "SELECT resource, hard_limit FROM quota_limits WHERE scope = ?", (scope,))
        return dict(rows.fetchall())

    def set_quota_limits(self, scope: str, limits: Mapping[str, int]) -> None:
        with self._writing:
            self._connect().executemany(
                "INSERT INTO quota_limits (scope, resource, hard_limit) VALUES (?, ?, ?) "
                "ON CONFLICT (scope, resource) DO UPDATE SET hard_limit = excluded.hard_limit",
                [(scope, resource, limit) for resource, limit in limits.items()])

    def clear_quota_limits(self, scope: str) -> None:
        with self._writing:
            self._connect().execute("DELETE FROM quota_limits WHERE scope = ?", (scope,))

    def quota_usage(self, project_id: str) -> Usage:
        return self._usage(self._connect(), project_id)

    @staticmethod
    def _usage(db: sqlite3.Connection, project_id: str) -> Usage:
        row = db.execute("SELECT containers, cpu, memory, disk FROM quota_usage "
                         "WHERE project_id = ?", (project_id,)).fetchone()
        return Usage(*row) if row else Usage()

    def allocation(self, project_id: str, uuid: str) -> Allocation | None:
        return self._allocation(self._connect(), project_id, uuid)

    @staticmethod
    def _allocation(db: sqlite3.Connection, project_id: str, uuid: str) -> Allocation | None:
        row = db.execute("SELECT cpu, memory, disk, reserved_at FROM quota_allocations "
                         "WHERE project_id = ? AND uuid = ?", (project_id, uuid)).fetchone()
        return Allocation.from_record(list(row)) if row else None

    def change_allocations(self, project_id: str,
                           changes: Sequence[Change]) -> list[list[str]]:
        db = self._connect()
        with self._writing:
            db.execute("BEGIN IMMEDIATE")
            try:
                held = {c.uuid: self._allocation(db, project_id, c.uuid) for c in changes}
                admitted = quotas.admit(self._usage(db, project_id), held, changes)
                if admitted.changed:
                    self._write_admitted(db, project_id, held, admitted)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return admitted.refusals

    @staticmethod
    def _write_admitted(db: sqlite3.Connection, project_id: str,
                        held: Mapping[str, Allocation | None], admitted: quotas.Admitted) -> None:
        used = admitted.usage
        db.execute("INSERT INTO quota_usage (project_id, containers, cpu, memory, disk) "
                   "VALUES (?, ?, ?, ?, ?) ON CONFLICT (project_id) DO UPDATE SET "
                   "containers = excluded.containers, cpu = excluded.cpu, "
                   "memory = excluded.memory, disk = excluded.disk",
                   (project_id, used.containers, used.cpu, used.memory, used.disk))
        for uuid, allocation in admitted.held.items():
            if allocation == held[uuid]:
                continue
            if allocation is None:
                db.execute("DELETE FROM quota_allocations WHERE project_id = ? AND uuid = ?",
                           (project_id, uuid))
            else:
                db.execute("INSERT OR REPLACE INTO quota_allocations "
                           "(project_id, uuid, cpu, memory, disk, reserved_at) "
                           "VALUES (?, ?, ?, ?, ?, ?)",
                           (project_id, uuid, *allocation.to_record()))

    def allocations(self, project_id: str) -> dict[str, Allocation]:
        rows = self._connect().execute(
            "SELECT uuid, cpu, memory, disk, reserved_at FROM quota_allocations "
            "WHERE project_id = ?", (project_id,))
        return {uuid: Allocation.from_record(rest) for uuid, *rest in rows}

    def quota_projects(self) -> list[str]:
        rows = self._connect().execute("SELECT project_id FROM quota_usage ORDER BY project_id")
        return [project for (project,) in rows]

    def _upgrade_ledgers(self) -> None:
        """Ledgers of an earlier Higgins (one row per project holding every allocation) become
        allocations and usage counters, once."""
        db = self._connect()
        if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'quota_ledgers'").fetchone():
            return
        ledgers = db.execute("SELECT project_id, body FROM quota_ledgers").fetchall()
        for project_id, body in ledgers:
            ledger = records.ledger_from_body(body)
            self.change_allocations(project_id, [Change(u, a) for u, a in ledger.items()])
        with self._writing:
            db.execute("DROP TABLE quota_ledgers")

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None


def _upsert(state: ContainerState | HostState | ImageState | CapsuleState,
            ) -> tuple[str, tuple[object, ...]]:
    """The statement that keeps `state` unless its row is at a higher seq."""
    if isinstance(state, ContainerState):
        return ("INSERT INTO containers (uuid, project_id, name, status, seq, body) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (uuid) DO UPDATE SET "
                "project_id = excluded.project_id, name = excluded.name, "
                "status = excluded.status, seq = excluded.seq, body = excluded.body "
                "WHERE excluded.seq > containers.seq",
                (state.uuid, state.project_id, state.name, str(state.status), state.seq,
                 json.dumps(records.container_record(state))))
    if isinstance(state, HostState):
        return ("INSERT INTO hosts (name, seq, body) VALUES (?, ?, ?) ON CONFLICT (name) "
                "DO UPDATE SET seq = excluded.seq, body = excluded.body "
                "WHERE excluded.seq > hosts.seq",
                (state.name, state.seq, json.dumps(records.host_record(state))))
    if isinstance(state, ImageState):
        return ("INSERT INTO images (uuid, seq, body) VALUES (?, ?, ?) ON CONFLICT (uuid) "
                "DO UPDATE SET seq = excluded.seq, body = excluded.body "
                "WHERE excluded.seq > images.seq",
                (state.uuid, state.seq, json.dumps(records.image_record(state))))
    return ("INSERT INTO capsules (uuid, project_id, seq, body) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (uuid) DO UPDATE SET seq = excluded.seq, body = excluded.body "
            "WHERE excluded.seq > capsules.seq",
            (state.uuid, state.project_id, state.seq, json.dumps(records.capsule_record(state))))
