"""EDGE: the SQLite store (embedded mode). Side effects: reads and writes the views file."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Mapping
from pathlib import Path

from higgins.processors.model import (
    CapsuleState,
    ContainerState,
    HostState,
    ImageState,
    Status,
)
from higgins.processors.quotas import Allocation
from higgins.store import records

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
CREATE TABLE IF NOT EXISTS quota_ledgers (
    project_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    body TEXT NOT NULL
);
"""


class SqliteStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._local = threading.local()
        self._writing = threading.Lock()  # see EmbeddedBus: queue in Python, not in SQLite
        self._connect().executescript(_SCHEMA)

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
        body = json.dumps(records.container_record(state))
        with self._writing:
            self._connect().execute(
                "INSERT INTO containers (uuid, project_id, name, status, seq, body) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (uuid) DO UPDATE SET "
                "project_id = excluded.project_id, name = excluded.name, "
                "status = excluded.status, seq = excluded.seq, body = excluded.body "
                "WHERE excluded.seq > containers.seq",
                (state.uuid, state.project_id, state.name, str(state.status), state.seq, body))

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
        body = json.dumps(records.host_record(state))
        with self._writing:
            self._connect().execute(
                "INSERT INTO hosts (name, seq, body) VALUES (?, ?, ?) ON CONFLICT (name) "
                "DO UPDATE SET seq = excluded.seq, body = excluded.body "
                "WHERE excluded.seq > hosts.seq",
                (state.name, state.seq, body))

    def list_hosts(self) -> list[HostState]:
        rows = self._connect().execute("SELECT body FROM hosts ORDER BY name")
        return [records.host_state(json.loads(body)) for (body,) in rows]

    def load_image(self, uuid: str) -> ImageState | None:
        row = self._connect().execute("SELECT body FROM images WHERE uuid = ?", (uuid,)).fetchone()
        return records.image_state(json.loads(row[0])) if row else None

    def save_image(self, state: ImageState) -> None:
        body = json.dumps(records.image_record(state))
        with self._writing:
            self._connect().execute(
                "INSERT INTO images (uuid, seq, body) VALUES (?, ?, ?) ON CONFLICT (uuid) "
                "DO UPDATE SET seq = excluded.seq, body = excluded.body "
                "WHERE excluded.seq > images.seq",
                (state.uuid, state.seq, body))

    def list_images(self) -> list[ImageState]:
        rows = self._connect().execute("SELECT body FROM images")
        return records.live_images([records.image_state(json.loads(body)) for (body,) in rows])

    def load_capsule(self, uuid: str) -> CapsuleState | None:
        row = self._connect().execute(
            "SELECT body FROM capsules WHERE uuid = ?", (uuid,)).fetchone()
        return records.capsule_state(json.loads(row[0])) if row else None

    def save_capsule(self, state: CapsuleState) -> None:
        body = json.dumps(records.capsule_record(state))
        with self._writing:
            self._connect().execute(
                "INSERT INTO capsules (uuid, project_id, seq, body) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (uuid) DO UPDATE SET seq = excluded.seq, body = excluded.body "
                "WHERE excluded.seq > capsules.seq",
                (state.uuid, state.project_id, state.seq, body))

    def find_capsules(self, project_id: str | None = None) -> list[CapsuleState]:
        if project_id is None:
            rows = self._connect().execute("SELECT body FROM capsules")
        else:
            rows = self._connect().execute(
                "SELECT body FROM capsules WHERE project_id = ?", (project_id,))
        return records.oldest_first([records.capsule_state(json.loads(b)) for (b,) in rows])

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

    def load_ledger(self, project_id: str) -> tuple[int, dict[str, Allocation]]:
        row = self._connect().execute(
            "SELECT version, body FROM quota_ledgers WHERE project_id = ?", (project_id,)
        ).fetchone()
        return (row[0], records.ledger_from_body(row[1])) if row else (0, {})

    def swap_ledger(self, project_id: str, version: int,
                    ledger: Mapping[str, Allocation]) -> bool:
        body = records.ledger_body(ledger)
        with self._writing:
            if version == 0:
                cursor = self._connect().execute(
                    "INSERT OR IGNORE INTO quota_ledgers (project_id, version, body) "
                    "VALUES (?, 1, ?)", (project_id, body))
            else:
                cursor = self._connect().execute(
                    "UPDATE quota_ledgers SET version = version + 1, body = ? "
                    "WHERE project_id = ? AND version = ?", (body, project_id, version))
        return cursor.rowcount == 1

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None
