"""EDGE: the Cassandra store: views with lightweight-transaction compare-and-set on seq.
Side effects: connects to Cassandra; creates the keyspace and tables when missing."""

from __future__ import annotations

import json
from typing import Any

from cassandra.query import PreparedStatement

from higgins import cql
from higgins.processors.model import ContainerState, HostState, Status
from higgins.store import records
from higgins.store.base import StoreUnavailable

_MIGRATIONS = (
    """CREATE TABLE IF NOT EXISTS containers (
        uuid text PRIMARY KEY, project_id text, name text, status text, seq int, body text)""",
    "CREATE INDEX IF NOT EXISTS containers_project ON containers (project_id) USING 'sai'",
    """CREATE TABLE IF NOT EXISTS hosts (name text PRIMARY KEY, seq int, body text)""",
)

_STATEMENTS = {
    "load_container": "SELECT body FROM containers WHERE uuid = ?",
    "insert_container": "INSERT INTO containers (uuid, project_id, name, status, seq, body) "
                        "VALUES (?, ?, ?, ?, ?, ?) IF NOT EXISTS",
    "update_container": "UPDATE containers SET project_id = ?, name = ?, status = ?, seq = ?, "
                        "body = ? WHERE uuid = ? IF seq = ?",
    "project_containers": "SELECT body FROM containers WHERE project_id = ?",
    "all_containers": "SELECT body FROM containers",
    "load_host": "SELECT body FROM hosts WHERE name = ?",
    "insert_host": "INSERT INTO hosts (name, seq, body) VALUES (?, ?, ?) IF NOT EXISTS",
    "update_host": "UPDATE hosts SET seq = ?, body = ? WHERE name = ? IF seq = ?",
    "all_hosts": "SELECT body FROM hosts",
}


class CassandraStore:
    """Keyspace per deployment (`cassandra://host:port/keyspace`); replication is the
    operator's choice, SimpleStrategy with one replica when Higgins creates it."""

    def __init__(self, contact_points: list[str], port: int, keyspace: str) -> None:
        self._cluster, self._session = cql.connect(cql.Target(contact_points, port, keyspace))
        cql.migrate(self._session, "views", _MIGRATIONS)
        self._prepared: dict[str, PreparedStatement] = {
            name: self._session.prepare(cql) for name, cql in _STATEMENTS.items()}

    @classmethod
    def from_url(cls, url: str) -> CassandraStore:
        target = cql.Target.from_url(url)
        return cls(target.hosts, target.port, target.keyspace)

    def _run(self, name: str, *values: Any) -> Any:
        try:
            return self._session.execute(self._prepared[name], values)
        except cql.TRANSIENT as error:
            raise StoreUnavailable(f"Cassandra is unavailable: {error}") from error

    def load_container(self, uuid: str) -> ContainerState | None:
        row = self._run("load_container", uuid).one()
        return records.container_state(json.loads(row.body)) if row else None

    def save_container(self, state: ContainerState, expected_seq: int | None) -> bool:
        body = json.dumps(records.container_record(state))
        columns = (state.project_id, state.name, str(state.status), state.seq, body)
        if expected_seq is None:
            result = self._run("insert_container", state.uuid, *columns)
        else:
            result = self._run("update_container", *columns, state.uuid, expected_seq)
        return bool(result.was_applied)

    def find_containers(
        self, project_id: str | None = None, name: str | None = None
    ) -> list[ContainerState]:
        rows = self._run("project_containers", project_id) if project_id is not None \
            else self._run("all_containers")
        found = [records.container_state(json.loads(row.body)) for row in rows]
        found = [s for s in found if s.status is not Status.DELETED
                 and (name is None or s.name == name)]
        return sorted(found, key=lambda s: (s.created_at, s.uuid))

    def load_host(self, name: str) -> HostState | None:
        row = self._run("load_host", name).one()
        return records.host_state(json.loads(row.body)) if row else None

    def save_host(self, state: HostState, expected_seq: int | None) -> bool:
        body = json.dumps(records.host_record(state))
        if expected_seq is None:
            result = self._run("insert_host", state.name, state.seq, body)
        else:
            result = self._run("update_host", state.seq, body, state.name, expected_seq)
        return bool(result.was_applied)

    def list_hosts(self) -> list[HostState]:
        hosts = [records.host_state(json.loads(row.body)) for row in self._run("all_hosts")]
        return sorted(hosts, key=lambda h: h.name)

    def truncate(self) -> None:
        """Empty every view (tests and `higgins replay --into`)."""
        for table in ("containers", "hosts"):
            self._session.execute(f"TRUNCATE {table}")

    def close(self) -> None:
        self._cluster.shutdown()
