"""EDGE: the embedded bus: a durable SQLite (WAL) log, delivered in-process to consumer threads.
Side effects: reads and writes the log file; runs worker threads while consuming."""

from __future__ import annotations

import json
import logging
import queue
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

from higgins import events as ev
from higgins.bus.base import EVENTS, Handler
from higgins.events import Envelope

LOG = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS log (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    stream TEXT NOT NULL,
    id TEXT NOT NULL UNIQUE,
    subject TEXT NOT NULL,
    seq INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS log_subject_seq ON log (subject, seq) WHERE stream = 'events';
CREATE INDEX IF NOT EXISTS log_stream_position ON log (stream, position);
CREATE TABLE IF NOT EXISTS offsets (
    consumer TEXT NOT NULL,
    stream TEXT NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (consumer, stream)
);
"""

_POLL_SECONDS = 0.5
_BATCH = 256


class EmbeddedBus:
    """One SQLite file holds every stream. Appends are fsynced (synchronous=FULL) before
    publish returns, so an acknowledged event survives kill -9 and power loss."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._appended = threading.Condition()
        with self._connect() as db:
            db.executescript(_SCHEMA)

    @classmethod
    def from_url(cls, url: str) -> EmbeddedBus:
        return cls(Path(url.removeprefix("sqlite://")))

    def _connect(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            self._local.db = db
        return db

    def publish(
        self, events: Sequence[Envelope], commands: Sequence[tuple[str, Envelope]] = ()
    ) -> list[Envelope]:
        for envelope in [*events, *(c for _, c in commands)]:
            ev.validate(envelope)
        db = self._connect()
        db.execute("BEGIN IMMEDIATE")
        try:
            recorded = [self._append_event(db, e) for e in events]
            for stream, command in commands:
                self._append(db, stream, command)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        with self._appended:
            self._appended.notify_all()
        return recorded

    def _append_event(self, db: sqlite3.Connection, envelope: Envelope) -> Envelope:
        row = db.execute("SELECT body FROM log WHERE id = ?", (envelope["id"],)).fetchone()
        if row:
            existing: Envelope = json.loads(row[0])
            return existing
        (last,) = db.execute(
            "SELECT COALESCE(MAX(seq), 0) FROM log WHERE stream = ? AND subject = ?",
            (EVENTS, envelope["subject"]),
        ).fetchone()
        recorded: Envelope = {**envelope, "seq": last + 1}
        self._append(db, EVENTS, recorded)
        return recorded

    @staticmethod
    def _append(db: sqlite3.Connection, stream: str, envelope: Envelope) -> None:
        db.execute(
            "INSERT OR IGNORE INTO log (stream, id, subject, seq, body) VALUES (?, ?, ?, ?, ?)",
            (stream, envelope["id"], envelope["subject"], envelope["seq"], json.dumps(envelope)),
        )

    def history(self, subject: str, after_seq: int = 0) -> list[Envelope]:
        rows = self._connect().execute(
            "SELECT body FROM log WHERE stream = ? AND subject = ? AND seq > ? ORDER BY seq",
            (EVENTS, subject, after_seq),
        )
        return [json.loads(body) for (body,) in rows]

    def read(self, stream: str, after: int, limit: int = _BATCH) -> list[tuple[int, Envelope]]:
        rows = self._connect().execute(
            "SELECT position, body FROM log WHERE stream = ? AND position > ? "
            "ORDER BY position LIMIT ?",
            (stream, after, limit),
        )
        return [(position, json.loads(body)) for position, body in rows]

    def committed(self, consumer: str, stream: str) -> int:
        row = self._connect().execute(
            "SELECT position FROM offsets WHERE consumer = ? AND stream = ?", (consumer, stream)
        ).fetchone()
        return int(row[0]) if row else 0

    def commit(self, consumer: str, stream: str, position: int) -> None:
        self._connect().execute(
            "INSERT INTO offsets (consumer, stream, position) VALUES (?, ?, ?) "
            "ON CONFLICT (consumer, stream) DO UPDATE SET position = excluded.position",
            (consumer, stream, position),
        )

    def consume(
        self,
        consumer: str,
        stream: str,
        handler: Handler,
        stop: threading.Event,
        concurrency: int = 1,
    ) -> None:
        lanes = _Lanes(handler, concurrency, stop)
        position = self.committed(consumer, stream)
        try:
            while not stop.is_set():
                batch = self.read(stream, position)
                if not batch:
                    with self._appended:
                        self._appended.wait(_POLL_SECONDS)
                    continue
                if not lanes.run(batch):
                    return  # stopped mid-batch: leave the batch uncommitted for redelivery
                position = batch[-1][0]
                self.commit(consumer, stream, position)
        finally:
            lanes.close()

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None


class _Lanes:
    """Handles a batch on `concurrency` threads, one subject always on the same thread (so a
    container's envelopes stay in order); returns when the whole batch is handled."""

    def __init__(self, handler: Handler, concurrency: int, stop: threading.Event) -> None:
        self._handler = handler
        self._stop = stop
        self._failed = False
        self._queues: list[queue.Queue[tuple[Envelope, threading.Semaphore] | None]] = [
            queue.Queue() for _ in range(max(1, concurrency))
        ]
        self._threads = [
            threading.Thread(target=self._work, args=(q,), daemon=True, name=f"lane-{i}")
            for i, q in enumerate(self._queues)
        ]
        for thread in self._threads:
            thread.start()

    def run(self, batch: list[tuple[int, Envelope]]) -> bool:
        """True when every envelope of the batch was handled."""
        done = threading.Semaphore(0)
        self._failed = False
        for _, envelope in batch:
            lane = hash(envelope["subject"]) % len(self._queues)
            self._queues[lane].put((envelope, done))
        for _ in batch:
            done.acquire()
        return not self._failed

    def _work(self, inbox: queue.Queue[tuple[Envelope, threading.Semaphore] | None]) -> None:
        while (item := inbox.get()) is not None:
            envelope, done = item
            try:
                _handle_until_done(self._handler, envelope, self._stop)
            except Exception:
                self._failed = True
            finally:
                done.release()

    def close(self) -> None:
        for inbox in self._queues:
            inbox.put(None)


def _handle_until_done(handler: Handler, envelope: Envelope, stop: threading.Event) -> None:
    """Retry a failing handler (a store or Docker hiccup) rather than skip the envelope:
    skipping would lose an acknowledged command."""
    delay = 0.1
    while True:
        try:
            handler(envelope)
            return
        except Exception:
            LOG.exception("handler failed; retrying", extra={"event_id": envelope["id"]})
            if stop.wait(delay):
                raise
            delay = min(delay * 2, 5.0)
