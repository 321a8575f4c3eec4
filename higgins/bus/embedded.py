"""EDGE: the embedded bus: a durable SQLite (WAL) log, delivered in-process to consumer threads.
Side effects: reads and writes the log file; runs worker threads while consuming."""

from __future__ import annotations

import collections
import hashlib
import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

from higgins import events as ev
from higgins.bus.base import EVENTS, BatchHandler
from higgins.bus.grouping import GroupCommit
from higgins.bus.workers import Workers, handle_until_done
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
_LOG_PAGE = 10_000  # rows per read of read_log: each page is a read transaction of its own


class EmbeddedBus:
    """One SQLite file holds every stream. Appends are fsynced (synchronous=FULL) before
    publish returns, so an acknowledged event survives kill -9 and power loss. Concurrent
    publishes share a transaction and its fsync (group commit, see grouping.py); `commits`
    counts those transactions. `group_commit=False` commits each publish alone (a baseline)."""

    def __init__(self, path: Path, group_commit: bool = True) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._appended = threading.Condition()
        # Writers queue here rather than in SQLite's busy handler, which sleeps 1, 2, 5 … 100 ms
        # between tries: under concurrency that sleep, not the work, was the latency.
        self._writing = threading.Lock()
        self._appends = 0  # bumped on every append, so a waiting consumer misses none
        self._group: GroupCommit[_Publication, list[Envelope]] = GroupCommit(
            self._record, limit=None if group_commit else 1)
        self.commits = 0  # transactions (fsyncs) that recorded publishes
        with self._connect() as db:
            db.executescript(_SCHEMA)

    @classmethod
    def from_url(cls, url: str) -> EmbeddedBus:
        return cls(Path(url.removeprefix("sqlite://")))

    def _connect(self, durable: bool = True) -> sqlite3.Connection:
        """This thread's connection: durable ones fsync every commit (appends); the other
        (consumer positions) does not, since a lost position only means a redelivery, and the
        next durable commit syncs the shared WAL anyway."""
        name = "db" if durable else "db_positions"
        db: sqlite3.Connection | None = getattr(self._local, name, None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            setattr(self._local, name, db)
        return db

    def publish(
        self, events: Sequence[Envelope], commands: Sequence[tuple[str, Envelope]] = ()
    ) -> list[Envelope]:
        # Validated here, on the caller's thread: a bad publish never joins a group, and the
        # leader spends none of its time (which its waiters wait out) on other callers' checks.
        for envelope in [*events, *(c for _, c in commands)]:
            ev.validate(envelope)
        return self._group.submit(_Publication(events, commands))

    @property
    def largest_group(self) -> int:
        """The most publishes one transaction has recorded (observability)."""
        return self._group.largest

    def queued(self) -> int:
        """Publishes waiting for the transaction in flight (observability)."""
        return self._group.queued()

    def _record(self, group: list[_Publication]) -> list[list[Envelope] | Exception]:
        """One transaction and one fsync for the whole group. Each publication has a savepoint,
        so one that fails is rolled back (and answered with its exception) alone; if the COMMIT
        fails, the GroupCommit gives every waiter its exception and nothing was acknowledged."""
        db = self._connect()
        with self._writing:
            db.execute("BEGIN IMMEDIATE")
            try:
                outcomes = _Tail(db, group).append_all(group)
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        self.commits += 1  # only ever one leader, so no lock
        with self._appended:
            self._appends += 1
            self._appended.notify_all()
        return outcomes

    def history(self, subject: str, after_seq: int = 0) -> list[Envelope]:
        rows = self._connect().execute(
            "SELECT body FROM log WHERE stream = ? AND subject = ? AND seq > ? ORDER BY seq",
            (EVENTS, subject, after_seq),
        )
        return [json.loads(body) for (body,) in rows]

    def subjects(self) -> list[str]:
        rows = self._connect().execute(
            "SELECT DISTINCT subject FROM log WHERE stream = ? ORDER BY subject", (EVENTS,))
        return [subject for (subject,) in rows]

    def read_log(self, part: int = 0, parts: int = 1) -> Iterator[Envelope]:
        """In log order (positions only grow, and a subject's seq with them), page by page, so
        no read transaction stays open while the caller folds, and appends go on meanwhile.
        Only the bodies of the part's subjects are parsed."""
        mine: dict[str, bool] = {}
        after = 0
        while True:
            page = self._connect().execute(
                "SELECT position, subject, body FROM log WHERE stream = ? AND position > ? "
                "ORDER BY position LIMIT ?", (EVENTS, after, _LOG_PAGE)).fetchall()
            for _, subject, body in page:
                ours = mine.get(subject)
                if ours is None:
                    ours = mine[subject] = parts == 1 or _part_of(subject, parts) == part
                if ours:
                    yield json.loads(body)
            if len(page) < _LOG_PAGE:
                return
            after = page[-1][0]

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
        db = self._connect(durable=False)
        with self._writing:
            db.execute(
                "INSERT INTO offsets (consumer, stream, position) VALUES (?, ?, ?) "
                "ON CONFLICT (consumer, stream) DO UPDATE SET position = excluded.position",
                (consumer, stream, position),
            )

    def consume(
        self,
        consumer: str,
        stream: str,
        handler: BatchHandler,
        stop: threading.Event,
        concurrency: int = 1,
        max_batch: int = 1,
    ) -> None:
        progress = _Progress(self.committed(consumer, stream),
                             lambda position: self.commit(consumer, stream, position))

        def work(batch: list[tuple[int, Envelope]]) -> bool:
            if not handle_until_done(handler, [envelope for _, envelope in batch], stop):
                return False  # stopped while retrying: leave it uncommitted
            progress.finished([position for position, _ in batch])
            return True

        workers: Workers[int] = Workers(work, concurrency, max_batch)
        read_up_to = progress.committed
        try:
            while not stop.is_set() and not workers.failed:
                seen = self._appends
                room = _BATCH - progress.in_flight()
                batch = self.read(stream, read_up_to, room) if room > 0 else []
                for position, envelope in batch:
                    progress.started(position)
                    workers.submit(position, envelope)
                if batch:
                    read_up_to = batch[-1][0]
                elif room > 0:
                    self._wait_for_append(seen)
                else:
                    stop.wait(0.01)
        finally:
            workers.close()

    def _wait_for_append(self, seen: int) -> None:
        with self._appended:
            if self._appends == seen:
                self._appended.wait(_POLL_SECONDS)

    def serve(self, stop: threading.Event, concurrency: int = 8) -> list[threading.Thread]:
        """Nothing to run: publish numbers and records events itself (one writer, one file)."""
        return []

    def close(self) -> None:
        for name in ("db", "db_positions"):
            db = getattr(self._local, name, None)
            if db is not None:
                db.close()
                setattr(self._local, name, None)


def _part_of(subject: str, parts: int) -> int:
    """Stable across processes (Python's hash() is not)."""
    return int.from_bytes(hashlib.blake2b(subject.encode(), digest_size=4).digest()) % parts


class _Progress:
    """Positions in flight, in stream order; commits the longest handled prefix, so a crash
    redelivers everything not yet handled and nothing is skipped."""

    def __init__(self, committed: int, commit: Callable[[int], None]) -> None:
        self.committed = committed
        self._commit = commit
        self._lock = threading.Lock()
        self._pending: collections.OrderedDict[int, bool] = collections.OrderedDict()

    def started(self, position: int) -> None:
        with self._lock:
            self._pending[position] = False

    def finished(self, positions: list[int]) -> None:
        with self._lock:
            for position in positions:
                self._pending[position] = True
            advanced = None
            while self._pending and self._pending[next(iter(self._pending))]:
                advanced, _ = self._pending.popitem(last=False)
            if advanced is not None:
                self._commit(advanced)
                self.committed = advanced

    def in_flight(self) -> int:
        with self._lock:
            return len(self._pending)


class _Publication(NamedTuple):
    events: Sequence[Envelope]
    commands: Sequence[tuple[str, Envelope]]


_INSERT = "INSERT INTO log (stream, id, subject, seq, body) VALUES (?, ?, ?, ?, ?)"
_IDS_PER_QUERY = 500  # under every SQLite build's limit on bound parameters


class _Tail:
    """The end of the log a group appends to, read once per group inside its transaction: the
    ids it already holds (their bodies, for idempotence) and each subject's last seq. Updated
    only once a publication's rows are in, so one rolled back leaves no trace here."""

    def __init__(self, db: sqlite3.Connection, group: list[_Publication]) -> None:
        self._db = db
        ids = list({e["id"]: None for p in group for e in [*p.events, *(c for _, c in p.commands)]})
        self._recorded: dict[str, str] = {}
        for start in range(0, len(ids), _IDS_PER_QUERY):
            chunk = ids[start:start + _IDS_PER_QUERY]
            marks = ", ".join("?" * len(chunk))
            self._recorded.update(db.execute(f"SELECT id, body FROM log WHERE id IN ({marks})",
                                             chunk))
        # One seek per subject: MAX over `subject IN (…) GROUP BY` scans every row of a subject.
        self._last_seq = {
            subject: db.execute("SELECT COALESCE(MAX(seq), 0) FROM log "
                                "WHERE stream = ? AND subject = ?", (EVENTS, subject)).fetchone()[0]
            for subject in {e["subject"] for p in group for e in p.events}}

    def append_all(self, group: list[_Publication]) -> list[list[Envelope] | Exception]:
        outcomes: list[list[Envelope] | Exception] = []
        for publication in group:
            self._db.execute("SAVEPOINT publication")
            try:
                outcomes.append(self._append(publication))
            except Exception as error:  # this publication's own failure: the others go on
                self._db.execute("ROLLBACK TO publication")
                outcomes.append(error)
            self._db.execute("RELEASE publication")
        return outcomes

    def _append(self, publication: _Publication) -> list[Envelope]:
        """Every event as recorded: a new one numbered after its subject's last, an id already
        in the log (or earlier in this group) as first recorded, parsed afresh for this caller."""
        recorded_here: dict[str, str] = {}
        last_seq: dict[str, int] = {}
        rows: list[tuple[str, str, str, int, str]] = []
        recorded: list[Envelope] = []
        for envelope in publication.events:
            body = recorded_here.get(envelope["id"]) or self._recorded.get(envelope["id"])
            if body is not None:
                recorded.append(json.loads(body))
                continue
            subject = envelope["subject"]
            seq = last_seq[subject] = last_seq.get(subject, self._last_seq[subject]) + 1
            new: Envelope = {**envelope, "seq": seq}
            body = recorded_here[envelope["id"]] = json.dumps(new)
            rows.append((EVENTS, envelope["id"], subject, seq, body))
            recorded.append(new)
        for stream, command in publication.commands:
            if command["id"] not in recorded_here and command["id"] not in self._recorded:
                body = recorded_here[command["id"]] = json.dumps(command)
                rows.append((stream, command["id"], command["subject"], command["seq"], body))
        self._db.executemany(_INSERT, rows)
        self._recorded.update(recorded_here)
        self._last_seq.update(last_seq)
        return recorded
