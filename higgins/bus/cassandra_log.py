"""EDGE: the event log in Cassandra: each subject's events numbered 1, 2, 3 … without gaps,
each id recorded once. The production bus keeps its truth here and uses the broker to deliver.
Side effects: reads and writes Cassandra; creates its tables when missing.

How an append stays gap-free and exactly-once with only single-partition transactions: the
subject's head row (`event_heads`) holds the last event whole and is moved from seq n to n+1 by
a lightweight transaction, which is the commit point. Before moving a head, the appender copies
the event the head holds into `events` and `event_ids` (idempotent writes), so every event
below the head is settled; `history` settles the head itself if its appender died after the
transaction. An id is looked up in `event_ids` (or is the head) before any append."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from cassandra.query import PreparedStatement

from higgins import cql
from higgins.bus.base import BusUnavailable
from higgins.events import Envelope

_MIGRATIONS = (
    """CREATE TABLE IF NOT EXISTS event_heads (
        subject text PRIMARY KEY, seq int, id text, body text)""",
    """CREATE TABLE IF NOT EXISTS events (
        subject text, seq int, id text, body text, PRIMARY KEY (subject, seq))""",
    """CREATE TABLE IF NOT EXISTS event_ids (id text PRIMARY KEY, subject text, seq int,
        body text)""",
    """CREATE TABLE IF NOT EXISTS consumer_members (
        consumer_group text, member text, PRIMARY KEY (consumer_group, member))""",
)

_STATEMENTS = {
    "head": "SELECT seq, id, body FROM event_heads WHERE subject = ?",
    "first": "INSERT INTO event_heads (subject, seq, id, body) VALUES (?, 1, ?, ?) IF NOT EXISTS",
    "advance": "UPDATE event_heads SET seq = ?, id = ?, body = ? WHERE subject = ? IF seq = ?",
    "settle_event": "INSERT INTO events (subject, seq, id, body) VALUES (?, ?, ?, ?)",
    "settle_id": "INSERT INTO event_ids (id, subject, seq, body) VALUES (?, ?, ?, ?)",
    "by_id": "SELECT body FROM event_ids WHERE id = ?",
    "history": "SELECT seq, body FROM events WHERE subject = ? AND seq > ?",
    "subjects": "SELECT subject FROM event_heads",
    "heartbeat": "INSERT INTO consumer_members (consumer_group, member) VALUES (?, ?) USING TTL ?",
    "members": "SELECT member FROM consumer_members WHERE consumer_group = ?",
}


class CassandraLog:
    def __init__(self, url: str) -> None:
        self._cluster, self._session = cql.connect(cql.Target.from_url(url))
        cql.migrate(self._session, "event_log", _MIGRATIONS)
        self._prepared: dict[str, PreparedStatement] = {
            name: self._session.prepare(statement) for name, statement in _STATEMENTS.items()}

    def _run(self, name: str, *values: Any) -> Any:
        try:
            return self._session.execute(self._prepared[name], values)
        except cql.TRANSIENT as error:
            raise BusUnavailable(f"the event log (Cassandra) is unavailable: {error}") from error

    def recorded(self, event_id: str) -> Envelope | None:
        """The envelope as recorded (with its seq) if this id is settled in the log."""
        row = self._run("by_id", event_id).one()
        return _body(row.body) if row else None

    def append(self, envelope: Envelope) -> Envelope:
        """Record `envelope` as its subject's next event, unless its id is already recorded;
        either way return it as recorded."""
        subject = envelope["subject"]
        while True:
            head = self._run("head", subject).one()
            if head is not None:
                if head.id == envelope["id"]:
                    self._settle(_body(head.body))
                    return _body(head.body)
                self._settle(_body(head.body))
            known = self.recorded(envelope["id"])
            if known is not None:
                return known
            seq = head.seq + 1 if head is not None else 1
            recorded: Envelope = {**envelope, "seq": seq}
            body = json.dumps(recorded)
            if head is None:
                result = self._run("first", subject, envelope["id"], body)
            else:
                result = self._run("advance", seq, envelope["id"], body, subject, head.seq)
            if result.was_applied:
                self._settle(recorded)
                return recorded

    def _settle(self, envelope: Envelope) -> None:
        body = json.dumps(envelope)
        self._run("settle_event", envelope["subject"], envelope["seq"], envelope["id"], body)
        self._run("settle_id", envelope["id"], envelope["subject"], envelope["seq"], body)

    def history(self, subject: str, after_seq: int = 0) -> list[Envelope]:
        found: list[Envelope] = []
        while True:
            last = found[-1]["seq"] if found else after_seq
            found += [_body(row.body) for row in self._run("history", subject, last)]
            last = found[-1]["seq"] if found else after_seq
            head = self._run("head", subject).one()
            if head is None or head.seq <= last:
                return found
            if head.seq == last + 1:  # its appender may have died after the transaction
                unsettled = _body(head.body)
                self._settle(unsettled)
                return [*found, unsettled]
            # the head moved on between the two reads: what was below it is settled now

    def subjects(self) -> Iterator[str]:
        for row in self._run("subjects"):
            yield row.subject

    def heartbeat(self, group: str, member: str, ttl_seconds: int) -> list[str]:
        """Say `member` of `group` is alive for `ttl_seconds`; the live members, sorted."""
        self._run("heartbeat", group, member, ttl_seconds)
        return sorted(row.member for row in self._run("members", group))

    def truncate(self) -> None:
        """Forget every event (tests only)."""
        for table in ("event_heads", "events", "event_ids"):
            self._session.execute(f"TRUNCATE {table}")

    def drop(self) -> None:
        """Remove the keyspace (tests and benchmarks that made their own)."""
        self._session.execute(f"DROP KEYSPACE IF EXISTS {self._session.keyspace}")

    def close(self) -> None:
        self._cluster.shutdown()


def _body(text: str) -> Envelope:
    envelope: Envelope = json.loads(text)
    return envelope
