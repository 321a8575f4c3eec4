"""EDGE: the Cassandra store: views written with the cell timestamp set to their seq, so
Cassandra's own last-write-wins keeps the furthest fold (see store/base.py) without a
lightweight transaction: one plain write per save.
Side effects: connects to Cassandra; creates the keyspace and tables when missing."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from cassandra import ConsistencyLevel
from cassandra.query import BatchStatement, BatchType, PreparedStatement

from higgins import cql
from higgins.processors import quotas
from higgins.processors.model import (
    CapsuleState,
    ContainerState,
    HostState,
    ImageState,
    Status,
)
from higgins.processors.quotas import Allocation, Change, Usage
from higgins.store import records
from higgins.store.base import QuotaUnavailable, StoreUnavailable
from higgins.store.cassandra_audit import CassandraAudit
from higgins.store.cassandra_ledgers import CassandraLedgers
from higgins.store.cassandra_webhooks import CassandraWebhooks

_MIGRATIONS = (
    """CREATE TABLE IF NOT EXISTS containers (
        uuid text PRIMARY KEY, project_id text, name text, status text, seq int, body text)""",
    "CREATE INDEX IF NOT EXISTS containers_project ON containers (project_id) USING 'sai'",
    """CREATE TABLE IF NOT EXISTS hosts (name text PRIMARY KEY, seq int, body text)""",
    # 4-8: views written USING TIMESTAMP seq; the tables above held wall-clock timestamps,
    # which would outrank every such write, so the views start over (they are rebuilt from
    # the log by `higgins replay --into`).
    """CREATE TABLE IF NOT EXISTS container_views (
        uuid text PRIMARY KEY, project_id text, name text, status text, seq int, body text)""",
    "CREATE INDEX IF NOT EXISTS container_views_project ON container_views (project_id) "
    "USING 'sai'",
    """CREATE TABLE IF NOT EXISTS host_views (name text PRIMARY KEY, seq int, body text)""",
    "DROP TABLE IF EXISTS containers",
    "DROP TABLE IF EXISTS hosts",
    """CREATE TABLE IF NOT EXISTS quota_limits (
        scope text, resource text, hard_limit int, PRIMARY KEY (scope, resource))""",
    # changed only by lightweight transactions (IF NOT EXISTS / IF version = ?)
    """CREATE TABLE IF NOT EXISTS quota_ledgers (
        project_id text PRIMARY KEY, version int, body text)""",
    """CREATE TABLE IF NOT EXISTS image_views (uuid text PRIMARY KEY, seq int, body text)""",
    """CREATE TABLE IF NOT EXISTS capsule_views (
        uuid text PRIMARY KEY, project_id text, seq int, body text)""",
    "CREATE INDEX IF NOT EXISTS capsule_views_project ON capsule_views (project_id) "
    "USING 'sai'",
    # 14: usage counters (static: one set per project) beside one row per allocation, changed
    # together by one conditional batch on the project's partition (see change_allocations);
    # the ledgers of 10 are converted by _upgrade_ledgers.
    """CREATE TABLE IF NOT EXISTS quota_allocations (
        project_id text, uuid text,
        version int static, containers int static, cpu double static, memory bigint static,
        disk bigint static,
        held_cpu double, held_memory bigint, held_disk bigint, reserved_at double,
        PRIMARY KEY (project_id, uuid))""",
)

_STATEMENTS = {
    "load_container": "SELECT body FROM container_views WHERE uuid = ?",
    "save_container": "INSERT INTO container_views (uuid, project_id, name, status, seq, body) "
                      "VALUES (?, ?, ?, ?, ?, ?) USING TIMESTAMP ?",
    "project_containers": "SELECT body FROM container_views WHERE project_id = ?",
    "all_containers": "SELECT body FROM container_views",
    "load_host": "SELECT body FROM host_views WHERE name = ?",
    "save_host": "INSERT INTO host_views (name, seq, body) VALUES (?, ?, ?) USING TIMESTAMP ?",
    "all_hosts": "SELECT body FROM host_views",
    "load_image": "SELECT body FROM image_views WHERE uuid = ?",
    "save_image": "INSERT INTO image_views (uuid, seq, body) VALUES (?, ?, ?) USING TIMESTAMP ?",
    "all_images": "SELECT body FROM image_views",
    "load_capsule": "SELECT body FROM capsule_views WHERE uuid = ?",
    "save_capsule": "INSERT INTO capsule_views (uuid, project_id, seq, body) "
                    "VALUES (?, ?, ?, ?) USING TIMESTAMP ?",
    "project_capsules": "SELECT body FROM capsule_views WHERE project_id = ?",
    "all_capsules": "SELECT body FROM capsule_views",
    "quota_limits": "SELECT resource, hard_limit FROM quota_limits WHERE scope = ?",
    "set_quota_limit": "INSERT INTO quota_limits (scope, resource, hard_limit) VALUES (?, ?, ?)",
    "clear_quota_limits": "DELETE FROM quota_limits WHERE scope = ?",
    "all_ledgers": "SELECT project_id, body FROM quota_ledgers",
    "drop_ledger": "DELETE FROM quota_ledgers WHERE project_id = ?",
    "usage": "SELECT version, containers, cpu, memory, disk FROM quota_allocations "
             "WHERE project_id = ? LIMIT 1",
    "held": "SELECT uuid, held_cpu, held_memory, held_disk, reserved_at FROM quota_allocations "
            "WHERE project_id = ? AND uuid IN ?",
    "set_usage": "UPDATE quota_allocations SET version = ?, containers = ?, cpu = ?, "
                 "memory = ?, disk = ? WHERE project_id = ? IF version = ?",
    "hold": "UPDATE quota_allocations SET held_cpu = ?, held_memory = ?, held_disk = ?, "
            "reserved_at = ? WHERE project_id = ? AND uuid = ?",
    "release": "DELETE FROM quota_allocations WHERE project_id = ? AND uuid = ?",
    "allocations": "SELECT uuid, held_cpu, held_memory, held_disk, reserved_at "
                   "FROM quota_allocations WHERE project_id = ?",
    "quota_projects": "SELECT DISTINCT project_id FROM quota_allocations",
}
# Compare-and-set rounds a change of one project's quota makes before giving up: each lost
# round means another process changed the project in between (this process combines its own
# concurrent requests into one round, see api/quotas.py).
_ROUNDS = 50


class CassandraStore(CassandraWebhooks, CassandraAudit, CassandraLedgers):
    """Keyspace per deployment (`cassandra://host:port/keyspace`); replication is the
    operator's choice, SimpleStrategy with one replica when Higgins creates it."""

    def __init__(self, contact_points: list[str], port: int, keyspace: str) -> None:
        self._cluster, self._session = cql.connect(cql.Target(contact_points, port, keyspace))
        cql.migrate(self._session, "views", _MIGRATIONS)
        self._prepared: dict[str, PreparedStatement] = {
            name: self._session.prepare(cql) for name, cql in _STATEMENTS.items()}
        # see the outcome of every finished or half-finished lightweight transaction
        for name in ("usage", "held"):
            self._prepared[name].consistency_level = ConsistencyLevel.SERIAL
        # each project's usage as this process last wrote it: the compare-and-set tries it
        # first (no Paxos read); a lost round reads the database
        self._usages: dict[str, tuple[int | None, Usage]] = {}
        self._upgrade_ledgers()
        self._prepare_webhooks()
        self._prepare_audit()
        self._prepare_ledgers()

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

    def save_container(self, state: ContainerState) -> None:
        self.save_all([state])

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

    def save_host(self, state: HostState) -> None:
        self.save_all([state])

    def list_hosts(self) -> list[HostState]:
        hosts = [records.host_state(json.loads(row.body)) for row in self._run("all_hosts")]
        return sorted(hosts, key=lambda h: h.name)

    def load_image(self, uuid: str) -> ImageState | None:
        row = self._run("load_image", uuid).one()
        return records.image_state(json.loads(row.body)) if row else None

    def save_image(self, state: ImageState) -> None:
        self.save_all([state])

    def list_images(self) -> list[ImageState]:
        return records.live_images([records.image_state(json.loads(row.body))
                                    for row in self._run("all_images")])

    def load_capsule(self, uuid: str) -> CapsuleState | None:
        row = self._run("load_capsule", uuid).one()
        return records.capsule_state(json.loads(row.body)) if row else None

    def save_capsule(self, state: CapsuleState) -> None:
        self.save_all([state])

    def find_capsules(self, project_id: str | None = None) -> list[CapsuleState]:
        rows = self._run("project_capsules", project_id) if project_id is not None \
            else self._run("all_capsules")
        return records.oldest_first([records.capsule_state(json.loads(row.body))
                                     for row in rows])

    def save_all(self, states: Sequence[ContainerState | HostState | ImageState | CapsuleState],
                 ) -> None:
        """Every write sent, then each awaited (pipelined); the cell timestamp is the seq."""
        try:
            futures = [self._session.execute_async(self._prepared[name], values)
                       for name, values in map(_upsert, states)]
            for future in futures:
                future.result()
        except cql.TRANSIENT as error:
            raise StoreUnavailable(f"Cassandra is unavailable: {error}") from error

    def quota_limits(self, scope: str) -> dict[str, int]:
        return {row.resource: row.hard_limit for row in self._run("quota_limits", scope)}

    def set_quota_limits(self, scope: str, limits: Mapping[str, int]) -> None:
        for resource, limit in limits.items():
            self._run("set_quota_limit", scope, resource, limit)

    def clear_quota_limits(self, scope: str) -> None:
        self._run("clear_quota_limits", scope)

    def quota_usage(self, project_id: str) -> Usage:
        return self._usage(project_id)[1]

    def _usage(self, project_id: str) -> tuple[int | None, Usage]:
        row = self._run("usage", project_id).one()
        if row is None or row.version is None:
            return None, Usage()
        return row.version, Usage(row.containers, row.cpu, row.memory, row.disk)

    def allocation(self, project_id: str, uuid: str) -> Allocation | None:
        return self._held(project_id, [uuid])[uuid]

    def _held(self, project_id: str, uuids: Sequence[str]) -> dict[str, Allocation | None]:
        held: dict[str, Allocation | None] = dict.fromkeys(uuids)
        if not held:
            return held
        for row in self._run("held", project_id, list(held)):
            if row.held_cpu is not None:
                held[row.uuid] = _allocation(row)
        return held

    def change_allocations(self, project_id: str,
                           changes: Sequence[Change]) -> list[list[str]]:
        """One conditional batch on the project's partition: the usage counters move from the
        version read to the next, and the touched allocations with them, or nothing does."""
        for attempt in range(_ROUNDS):
            cached = self._usages.get(project_id) if attempt == 0 else None
            version, used = cached or self._usage(project_id)
            held: dict[str, Allocation | None] = {c.uuid: None for c in changes if c.fresh}
            held |= self._held(project_id, [c.uuid for c in changes if not c.fresh])
            admitted = quotas.admit(used, held, changes)
            if cached is not None and (not admitted.changed or any(admitted.refusals)):
                continue  # refused by what this process last wrote: ask the database
            if not admitted.changed:
                return admitted.refusals
            batch = BatchStatement(batch_type=BatchType.UNLOGGED)
            after = admitted.usage
            batch.add(self._prepared["set_usage"], ((version or 0) + 1, after.containers,
                      after.cpu, after.memory, after.disk, project_id, version))
            for uuid, allocation in admitted.held.items():
                if allocation == held[uuid]:
                    continue
                if allocation is None:
                    batch.add(self._prepared["release"], (project_id, uuid))
                else:
                    batch.add(self._prepared["hold"], (*allocation.to_record(), project_id,
                                                       uuid))
            try:
                applied = self._session.execute(batch).was_applied
            except cql.TRANSIENT as error:
                raise StoreUnavailable(f"Cassandra is unavailable: {error}") from error
            if applied:
                self._usages[project_id] = ((version or 0) + 1, admitted.usage)
                return admitted.refusals
            self._usages.pop(project_id, None)
        raise QuotaUnavailable(f"the quota of project {project_id} is changing too fast to "
                               "change it now; try again")

    def allocations(self, project_id: str) -> dict[str, Allocation]:
        return {row.uuid: _allocation(row) for row in self._run("allocations", project_id)
                if row.held_cpu is not None}

    def quota_projects(self) -> list[str]:
        return sorted(row.project_id for row in self._run("quota_projects"))

    def _upgrade_ledgers(self) -> None:
        """Ledgers of an earlier Higgins (one row per project holding every allocation) become
        allocations and usage counters, once (the ledger row goes after its conversion)."""
        for row in list(self._run("all_ledgers")):
            ledger = records.ledger_from_body(row.body)
            if self._usage(row.project_id)[0] is None:
                self.change_allocations(row.project_id,
                                        [Change(u, a) for u, a in ledger.items()])
            self._run("drop_ledger", row.project_id)

    def truncate(self) -> None:
        """Empty every view (tests and `higgins replay --into`)."""
        for table in ("container_views", "host_views", "image_views", "capsule_views",
                      "quota_limits", "quota_ledgers", "quota_allocations", "host_ledgers"):
            self._session.execute(f"TRUNCATE {table}")

    def close(self) -> None:
        self._cluster.shutdown()


def _allocation(row: Any) -> Allocation:
    return Allocation(row.held_cpu, row.held_memory, row.held_disk, row.reserved_at)


def _upsert(state: ContainerState | HostState | ImageState | CapsuleState,
            ) -> tuple[str, tuple[object, ...]]:
    """The prepared statement and values that save `state` (USING TIMESTAMP its seq)."""
    if isinstance(state, ContainerState):
        return "save_container", (state.uuid, state.project_id, state.name, str(state.status),
                                  state.seq, json.dumps(records.container_record(state)),
                                  state.seq)
    if isinstance(state, HostState):
        return "save_host", (state.name, state.seq, json.dumps(records.host_record(state)),
                             state.seq)
    if isinstance(state, ImageState):
        return "save_image", (state.uuid, state.seq, json.dumps(records.image_record(state)),
                              state.seq)
    return "save_capsule", (state.uuid, state.project_id, state.seq,
                            json.dumps(records.capsule_record(state)), state.seq)
