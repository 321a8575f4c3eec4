"""EDGE: webhook subscriptions and deliveries in the Cassandra store (a mixin of CassandraStore).
Pending deliveries are also kept in a few `webhook_due` partitions (by subscription hash), so
dispatchers find due retries by reading those partitions, and claim one with a lightweight
transaction (retries are rare: a failing receiver's, not every event's).
Side effects: reads and writes the keyspace; creates the tables when missing."""

from __future__ import annotations

import json
import zlib
from typing import Any

from cassandra.cluster import Session
from cassandra.query import BatchStatement, PreparedStatement

from higgins import cql
from higgins.processors.webhooks import Attempt, Delivery, DeliveryState, Subscription
from higgins.store import webhook_records as records
from higgins.store.base import StoreUnavailable

DUE_SHARDS = 8
_MIGRATIONS = (
    """CREATE TABLE IF NOT EXISTS subscriptions (
        uuid text PRIMARY KEY, project_id text, created_at text, body text)""",
    # a project's subscriptions as one partition: the dispatcher reads it per batch
    """CREATE TABLE IF NOT EXISTS subscriptions_by_project (
        project_id text, uuid text, body text, PRIMARY KEY (project_id, uuid))""",
    """CREATE TABLE IF NOT EXISTS webhook_deliveries (
        subscription text, event_id text, next_at double, body text,
        PRIMARY KEY (subscription, event_id))""",
    """CREATE TABLE IF NOT EXISTS webhook_due (
        shard int, subscription text, event_id text, next_at double,
        PRIMARY KEY (shard, subscription, event_id))""",
    """CREATE TABLE IF NOT EXISTS webhook_attempts (
        subscription text, at double, event_id text, attempt int, body text,
        PRIMARY KEY (subscription, at, event_id, attempt))
        WITH CLUSTERING ORDER BY (at DESC, event_id ASC, attempt ASC)""",
)
_STATEMENTS = {
    "save_subscription": "INSERT INTO subscriptions (uuid, project_id, created_at, body) "
                         "VALUES (?, ?, ?, ?)",
    "load_subscription": "SELECT body FROM subscriptions WHERE uuid = ?",
    "project_subscriptions": "SELECT body FROM subscriptions_by_project WHERE project_id = ?",
    "save_in_project": "INSERT INTO subscriptions_by_project (project_id, uuid, body) "
                       "VALUES (?, ?, ?)",
    "delete_in_project": "DELETE FROM subscriptions_by_project "
                         "WHERE project_id = ? AND uuid = ?",
    "all_subscriptions": "SELECT body FROM subscriptions",
    "delete_subscription": "DELETE FROM subscriptions WHERE uuid = ?",
    "delete_deliveries": "DELETE FROM webhook_deliveries WHERE subscription = ?",
    "delete_attempts": "DELETE FROM webhook_attempts WHERE subscription = ?",
    "pending_of": "SELECT event_id FROM webhook_deliveries WHERE subscription = ?",
    "save_delivery": "INSERT INTO webhook_deliveries (subscription, event_id, next_at, body) "
                     "VALUES (?, ?, ?, ?)",
    "load_delivery": "SELECT body FROM webhook_deliveries "
                     "WHERE subscription = ? AND event_id = ?",
    "due": "INSERT INTO webhook_due (shard, subscription, event_id, next_at) "
           "VALUES (?, ?, ?, ?)",
    "not_due": "DELETE FROM webhook_due WHERE shard = ? AND subscription = ? AND event_id = ?",
    "shard_due": "SELECT subscription, event_id, next_at FROM webhook_due WHERE shard = ?",
    "claim": "UPDATE webhook_deliveries SET next_at = ?, body = ? "
             "WHERE subscription = ? AND event_id = ? IF next_at = ?",
    "record_attempt": "INSERT INTO webhook_attempts (subscription, at, event_id, attempt, body) "
                      "VALUES (?, ?, ?, ?, ?)",
    "attempts": "SELECT body FROM webhook_attempts WHERE subscription = ? LIMIT ?",
}


def _shard(subscription: str) -> int:
    return zlib.crc32(subscription.encode()) % DUE_SHARDS


class CassandraWebhooks:
    """The WebhookBook of store/base.py."""

    _session: Session
    _webhooks: dict[str, PreparedStatement]

    def _prepare_webhooks(self) -> None:
        cql.migrate(self._session, "webhooks", _MIGRATIONS)
        self._webhooks = {name: self._session.prepare(statement)
                          for name, statement in _STATEMENTS.items()}

    def _cql(self, name: str, *values: Any) -> Any:
        try:
            return self._session.execute(self._webhooks[name], values)
        except cql.TRANSIENT as error:
            raise StoreUnavailable(f"Cassandra is unavailable: {error}") from error

    def save_subscription(self, subscription: Subscription) -> None:
        body = json.dumps(records.subscription_record(subscription))
        batch = BatchStatement()
        batch.add(self._webhooks["save_subscription"],
                  (subscription.uuid, subscription.project_id, subscription.created_at, body))
        batch.add(self._webhooks["save_in_project"],
                  (subscription.project_id, subscription.uuid, body))
        self._batch(batch)

    def load_subscription(self, uuid: str) -> Subscription | None:
        row = self._cql("load_subscription", uuid).one()
        return records.subscription(json.loads(row.body)) if row else None

    def find_subscriptions(self, project_id: str | None = None) -> list[Subscription]:
        if project_id == "":
            return []  # no subscription is of no project (and Cassandra takes no empty key)
        rows = (self._cql("all_subscriptions") if project_id is None
                else self._cql("project_subscriptions", project_id))
        found = [records.subscription(json.loads(row.body)) for row in rows]
        return sorted(found, key=lambda s: (s.created_at, s.uuid))

    def delete_subscription(self, uuid: str) -> None:
        found = self.load_subscription(uuid)
        if found is not None:
            self._cql("delete_in_project", found.project_id, uuid)
        shard = _shard(uuid)
        for row in self._cql("pending_of", uuid):
            self._cql("not_due", shard, uuid, row.event_id)
        for name in ("delete_attempts", "delete_deliveries", "delete_subscription"):
            self._cql(name, uuid)

    def save_delivery(self, delivery: Delivery) -> None:
        batch = BatchStatement()
        batch.add(self._webhooks["save_delivery"],
                  (delivery.subscription, delivery.event_id, delivery.next_at,
                   json.dumps(records.delivery_record(delivery))))
        shard = _shard(delivery.subscription)
        if delivery.state is DeliveryState.PENDING:
            batch.add(self._webhooks["due"], (shard, delivery.subscription, delivery.event_id,
                                              delivery.next_at))
        else:
            batch.add(self._webhooks["not_due"], (shard, delivery.subscription,
                                                  delivery.event_id))
        self._batch(batch)

    def _batch(self, batch: BatchStatement) -> None:
        try:
            self._session.execute(batch)
        except cql.TRANSIENT as error:
            raise StoreUnavailable(f"Cassandra is unavailable: {error}") from error

    def load_delivery(self, subscription: str, event_id: str) -> Delivery | None:
        row = self._cql("load_delivery", subscription, event_id).one()
        return records.delivery(json.loads(row.body)) if row else None

    def due_deliveries(self, now: float, limit: int) -> list[Delivery]:
        due = sorted((row.next_at, row.subscription, row.event_id)
                     for shard in range(DUE_SHARDS) for row in self._cql("shard_due", shard)
                     if row.next_at <= now)
        found = [self.load_delivery(subscription, event_id)
                 for _, subscription, event_id in due[:limit]]
        return [d for d in found if d is not None and d.state is DeliveryState.PENDING]

    def claim_delivery(self, delivery: Delivery, until: float) -> bool:
        claimed = records.delivery_record(delivery) | {"next_at": until}
        applied = self._cql("claim", until, json.dumps(claimed), delivery.subscription,
                            delivery.event_id, delivery.next_at).was_applied
        if applied:
            self._cql("due", _shard(delivery.subscription), delivery.subscription,
                      delivery.event_id, until)
        return bool(applied)

    def record_attempt(self, attempt: Attempt) -> None:
        self._cql("record_attempt", attempt.subscription, attempt.at, attempt.event_id,
                  attempt.attempt, json.dumps(records.attempt_record(attempt)))

    def attempts(self, subscription: str, limit: int = 100) -> list[Attempt]:
        return [records.attempt(json.loads(row.body))
                for row in self._cql("attempts", subscription, limit)]
