"""EDGE: webhook subscriptions and deliveries in the SQLite store (a mixin of SqliteStore).
Side effects: reads and writes the views file."""

from __future__ import annotations

import json
import sqlite3
import threading

from higgins.processors.webhooks import Attempt, Delivery, DeliveryState, Subscription
from higgins.store import webhook_records as records

SCHEMA = """
CREATE TABLE IF NOT EXISTS subscriptions (
    uuid TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS subscriptions_project ON subscriptions (project_id);
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    subscription TEXT NOT NULL,
    event_id TEXT NOT NULL,
    due REAL,
    body TEXT NOT NULL,
    PRIMARY KEY (subscription, event_id)
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries (due)
    WHERE due IS NOT NULL;
CREATE TABLE IF NOT EXISTS webhook_attempts (
    subscription TEXT NOT NULL,
    at REAL NOT NULL,
    event_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (subscription, at, event_id, attempt)
);
"""


class SqliteWebhooks:
    """The WebhookBook of store/base.py; `due` is next_at for pending deliveries, NULL else."""

    _writing: threading.Lock

    def _connect(self) -> sqlite3.Connection:
        raise NotImplementedError  # SqliteStore's

    def save_subscription(self, subscription: Subscription) -> None:
        with self._writing:
            self._connect().execute(
                "INSERT OR REPLACE INTO subscriptions (uuid, project_id, created_at, body) "
                "VALUES (?, ?, ?, ?)",
                (subscription.uuid, subscription.project_id, subscription.created_at,
                 json.dumps(records.subscription_record(subscription))))

    def load_subscription(self, uuid: str) -> Subscription | None:
        row = self._connect().execute("SELECT body FROM subscriptions WHERE uuid = ?",
                                      (uuid,)).fetchone()
        return records.subscription(json.loads(row[0])) if row else None

    def find_subscriptions(self, project_id: str | None = None) -> list[Subscription]:
        query, args = "SELECT body FROM subscriptions", tuple[str, ...]()
        if project_id is not None:
            query, args = query + " WHERE project_id = ?", (project_id,)
        rows = self._connect().execute(query + " ORDER BY created_at, uuid", args)
        return [records.subscription(json.loads(body)) for (body,) in rows]

    def delete_subscription(self, uuid: str) -> None:
        with self._writing:
            db = self._connect()
            db.execute("BEGIN IMMEDIATE")
            for table, key in (("subscriptions", "uuid"), ("webhook_deliveries", "subscription"),
                               ("webhook_attempts", "subscription")):
                db.execute(f"DELETE FROM {table} WHERE {key} = ?", (uuid,))  # noqa: S608 (names above)
            db.execute("COMMIT")

    def save_delivery(self, delivery: Delivery) -> None:
        due = delivery.next_at if delivery.state is DeliveryState.PENDING else None
        with self._writing:
            self._connect().execute(
                "INSERT OR REPLACE INTO webhook_deliveries (subscription, event_id, due, body) "
                "VALUES (?, ?, ?, ?)",
                (delivery.subscription, delivery.event_id, due,
                 json.dumps(records.delivery_record(delivery))))

    def load_delivery(self, subscription: str, event_id: str) -> Delivery | None:
        row = self._connect().execute(
            "SELECT body FROM webhook_deliveries WHERE subscription = ? AND event_id = ?",
            (subscription, event_id)).fetchone()
        return records.delivery(json.loads(row[0])) if row else None

    def due_deliveries(self, now: float, limit: int) -> list[Delivery]:
        rows = self._connect().execute(
            "SELECT body FROM webhook_deliveries WHERE due IS NOT NULL AND due <= ? "
            "ORDER BY due LIMIT ?", (now, limit))
        return [records.delivery(json.loads(body)) for (body,) in rows]

    def claim_delivery(self, delivery: Delivery, until: float) -> bool:
        claimed = records.delivery_record(delivery) | {"next_at": until}
        with self._writing:
            changed = self._connect().execute(
                "UPDATE webhook_deliveries SET due = ?, body = ? "
                "WHERE subscription = ? AND event_id = ? AND due = ?",
                (until, json.dumps(claimed), delivery.subscription, delivery.event_id,
                 delivery.next_at)).rowcount
        return changed == 1

    def record_attempt(self, attempt: Attempt) -> None:
        with self._writing:
            self._connect().execute(
                "INSERT OR REPLACE INTO webhook_attempts (subscription, at, event_id, attempt, "
                "body) VALUES (?, ?, ?, ?, ?)",
                (attempt.subscription, attempt.at, attempt.event_id, attempt.attempt,
                 json.dumps(records.attempt_record(attempt))))

    def attempts(self, subscription: str, limit: int = 100) -> list[Attempt]:
        rows = self._connect().execute(
            "SELECT body FROM webhook_attempts WHERE subscription = ? ORDER BY at DESC LIMIT ?",
            (subscription, limit))
        return [records.attempt(json.loads(body)) for (body,) in rows]
