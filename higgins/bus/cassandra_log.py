"""EDGE: the event log in Cassandra: each subject's events numbered 1, 2, 3 … without gaps, each
id recorded once, written with plain writes (no Paxos on the hot path).
Side effects: reads and writes Cassandra; creates its tables when missing.

Who writes: subjects are spread over N partitions (bus/base.partition_of), and each partition
has one writer at a time, the holder of its lease (`take_lease`, a lightweight transaction made
only when a writer takes a partition over). The writer (`LogWriter`) numbers a subject's events
from the head it read once, and writes each subject's new events as one single-partition batch
(atomic: no gap inside a batch). Every cell it writes carries a timestamp made from its lease
epoch, so when a deposed writer's write arrives late:
  - at a slot the new writer has written, Cassandra keeps the new writer's (higher timestamp);
  - above what the new writer wrote, it is a row of a lower epoch after a higher one, which
    readers (`history`, the next writer's head) treat as the end of the log, and the new writer
    overwrites it when it gets there.
A late write at a subject the new writer has not touched is a true append (its event was never
acknowledged, so it comes back, and the next writer finds its id recorded). What remains is the
moment between a new writer's head read and its first write of that subject; it is bounded by
one write in flight of the deposed writer (see docs/architecture.md, "The event log")."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from cassandra.query import BatchStatement, BatchType, PreparedStatement

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
    # 5-8: the log written by partition owners (epoch-stamped rows); 1-3 are read once by
    # _adopt_earlier_log and then left alone.
    """CREATE TABLE IF NOT EXISTS log_events (
        subject text, seq int, epoch int, id text, body text, PRIMARY KEY (subject, seq))
        WITH CLUSTERING ORDER BY (seq ASC)""",
    """CREATE TABLE IF NOT EXISTS log_event_ids (id text PRIMARY KEY, subject text, seq int)""",
    """CREATE TABLE IF NOT EXISTS log_subjects (subject text PRIMARY KEY)""",
    """CREATE TABLE IF NOT EXISTS log_leases (partition int PRIMARY KEY, epoch int,
        owner text)""",
)

_STATEMENTS = {
    "slot": "SELECT id, body FROM log_events WHERE subject = ? AND seq = ?",
    "by_id": "SELECT subject, seq FROM log_event_ids WHERE id = ?",
    "history": "SELECT seq, epoch, body FROM log_events WHERE subject = ? AND seq >= ?",
    "tail": "SELECT seq, epoch FROM log_events WHERE subject = ? ORDER BY seq DESC LIMIT 32",
    "write": "INSERT INTO log_events (subject, seq, epoch, id, body) VALUES (?, ?, ?, ?, ?) "
             "USING TIMESTAMP ?",
    "write_id": "INSERT INTO log_event_ids (id, subject, seq) VALUES (?, ?, ?) "
                "USING TIMESTAMP ?",
    "write_subject": "INSERT INTO log_subjects (subject) VALUES (?)",
    "subjects": "SELECT subject FROM log_subjects",
    "tokens": "SELECT subject, seq, epoch, body FROM log_events "
              "WHERE token(subject) >= ? AND token(subject) <= ?",
    "any_subject": "SELECT subject FROM log_subjects LIMIT 1",
    "lease": "SELECT epoch FROM log_leases WHERE partition = ?",
    "first_lease": "INSERT INTO log_leases (partition, epoch, owner) VALUES (?, 1, ?) "
                   "IF NOT EXISTS",
    "next_lease": "UPDATE log_leases SET epoch = ?, owner = ? WHERE partition = ? IF epoch = ?",
    "heartbeat": "INSERT INTO consumer_members (consumer_group, member) VALUES (?, ?) USING TTL ?",
    "members": "SELECT member FROM consumer_members WHERE consumer_group = ?",
    "old_heads": "SELECT subject FROM event_heads",
    "old_history": "SELECT seq, body FROM events WHERE subject = ?",
}

# Above every wall-clock timestamp in microseconds until the 22nd century, so a writer's cells
# outrank any written with Cassandra's default timestamps; epochs are 2**20 apart.
_TIMESTAMP_BASE = 1 << 52


def stamp(epoch: int) -> int:
    """The write timestamp of lease `epoch`: a later epoch's writes win every slot."""
    return _TIMESTAMP_BASE + (epoch << 20)


class CassandraLog:
    def __init__(self, url: str) -> None:
        self._cluster, self._session = cql.connect(cql.Target.from_url(url))
        cql.migrate(self._session, "event_log", _MIGRATIONS)
        self._prepared: dict[str, PreparedStatement] = {
            name: self._session.prepare(statement) for name, statement in _STATEMENTS.items()}
        self._adopt_earlier_log()

    def _run(self, name: str, *values: Any) -> Any:
        try:
            return self._session.execute(self._prepared[name], values)
        except cql.TRANSIENT as error:
            raise BusUnavailable(f"the event log (Cassandra) is unavailable: {error}") from error

    def _run_all(self, calls: Sequence[tuple[str, tuple[Any, ...]]]) -> list[Any]:
        """Send every statement at once, then wait for each (pipelined)."""
        try:
            futures = [self._session.execute_async(self._prepared[name], values)
                       for name, values in calls]
            return [future.result() for future in futures]
        except cql.TRANSIENT as error:
            raise BusUnavailable(f"the event log (Cassandra) is unavailable: {error}") from error

    def _write_all(self, writes: Sequence[tuple[BatchStatement | None,
                                                Sequence[tuple[str, tuple[Any, ...]]]]],
                   ) -> None:
        """Send every (batch, statements) at once, then wait for each (pipelined)."""
        try:
            futures = []
            for batch, calls in writes:
                if batch is not None:
                    futures.append(self._session.execute_async(batch))
                futures += [self._session.execute_async(self._prepared[name], values)
                            for name, values in calls]
            for future in futures:
                future.result()
        except cql.TRANSIENT as error:
            raise BusUnavailable(f"the event log (Cassandra) is unavailable: {error}") from error

    # -- reading -------------------------------------------------------------------------------

    def recorded(self, event_id: str) -> Envelope | None:
        """The envelope as recorded (with its seq), if this id holds its slot in the log."""
        return self.recorded_all([event_id])[0]

    def recorded_all(self, event_ids: Sequence[str]) -> list[Envelope | None]:
        places = [rows.one() for rows in self._run_all([("by_id", (i,)) for i in event_ids])]
        return self._in_slots(event_ids, places)

    def recorded_at(self, envelopes: Sequence[Envelope], places: Sequence[Any],
                    ) -> list[Envelope | None]:
        """`recorded_all` from the `by_id` rows already read for `envelopes`."""
        return self._in_slots([e["id"] for e in envelopes], places)

    def _in_slots(self, event_ids: Sequence[str], places: Sequence[Any]) -> list[Envelope | None]:
        found = [p for p in places if p is not None]
        slots = iter(self._run_all([("slot", (p.subject, p.seq)) for p in found]))
        recorded: list[Envelope | None] = []
        for event_id, place in zip(event_ids, places, strict=True):
            slot = next(slots).one() if place is not None else None
            # a slot a later epoch took over no longer holds this id: not recorded
            recorded.append(_body(slot.body) if slot is not None and slot.id == event_id
                            else None)
        return recorded

    def history(self, subject: str, after_seq: int = 0) -> list[Envelope]:
        """The subject's events after `after_seq`, up to the first gap or the first row of a
        lower epoch than one before it (a deposed writer's late write)."""
        rows = self._run("history", subject, max(after_seq, 1))
        found: list[Envelope] = []
        expected, epoch = after_seq + 1, 0
        for row in rows:
            if row.seq == after_seq:
                epoch = row.epoch
                continue
            if row.seq != expected or row.epoch < epoch:
                break
            found.append(_body(row.body))
            expected, epoch = expected + 1, row.epoch
        return found

    def head(self, subject: str) -> int:
        """The subject's last valid seq (0: no events), by the rule `history` reads with."""
        return _valid_head(self._run("tail", subject))

    def subjects(self) -> Iterator[str]:
        for row in self._run("subjects"):
            yield row.subject

    def read_log(self, part: int = 0, parts: int = 1) -> Iterator[Envelope]:
        """Every subject's events by the rule `history` reads with, one subject after another:
        a scan of the table in token order (a part is a slice of the token ring), each
        partition in seq order, paged by the driver."""
        subject, expected, epoch = None, 1, 0
        try:
            for row in self._run("tokens", *_token_range(part, parts)):
                if row.subject != subject:
                    subject, expected, epoch = row.subject, 1, 0
                if row.seq != expected or row.epoch < epoch:
                    expected = -1  # past the end of this subject's log: skip its other rows
                    continue
                yield _body(row.body)
                expected, epoch = expected + 1, row.epoch
        except cql.TRANSIENT as error:  # a later page could not be read
            raise BusUnavailable(f"the event log (Cassandra) is unavailable: {error}") from error

    # -- writing -------------------------------------------------------------------------------

    def take_lease(self, partition: int, owner: str) -> int:
        """Become the writer of `partition`: the new lease epoch (a lightweight transaction,
        made once per take-over, never per event)."""
        while True:
            row = self._run("lease", partition).one()
            if row is None:
                if self._run("first_lease", partition, owner).was_applied:
                    return 1
                continue
            epoch = int(row.epoch) + 1
            if self._run("next_lease", epoch, owner, partition, row.epoch).was_applied:
                return epoch

    def writer(self, epoch: int) -> LogWriter:
        return LogWriter(self, epoch)

    # -- consumer group membership --------------------------------------------------------------

    def heartbeat(self, group: str, member: str, ttl_seconds: int) -> list[str]:
        """Say `member` of `group` is alive for `ttl_seconds`; the live members, sorted."""
        self._run("heartbeat", group, member, ttl_seconds)
        return sorted(row.member for row in self._run("members", group))

    # -- upkeep --------------------------------------------------------------------------------

    def _adopt_earlier_log(self) -> None:
        """Events an earlier Higgins recorded (head rows moved by lightweight transactions)
        become epoch-0 rows of this log, once, on a log that has none of its own yet."""
        if self._run("any_subject").one() is not None:
            return
        writer = self.writer(0)
        for head in list(self._run("old_heads")):
            old = sorted(self._run("old_history", head.subject), key=lambda row: row.seq)
            writer.adopt(head.subject, [_body(row.body) for row in old])

    def truncate(self) -> None:
        """Forget every event (tests only)."""
        for table in ("event_heads", "events", "event_ids", "log_events", "log_event_ids",
                      "log_subjects", "log_leases"):
            self._session.execute(f"TRUNCATE {table}")

    def drop(self) -> None:
        """Remove the keyspace (tests and benchmarks that made their own)."""
        self._session.execute(f"DROP KEYSPACE IF EXISTS {self._session.keyspace}")

    def close(self) -> None:
        self._cluster.shutdown()


class LogWriter:
    """The writer of one partition's subjects for one lease epoch: it alone numbers their
    events while it holds the lease, so it keeps each subject's head in memory (read once)."""

    def __init__(self, log: CassandraLog, epoch: int) -> None:
        self.log = log
        self.epoch = epoch
        self._heads: dict[str, int] = {}

    def append(self, envelopes: Sequence[Envelope]) -> list[Envelope]:
        """Record `envelopes` in order (an id already recorded is not appended again: its
        recorded envelope is returned); the envelopes as recorded."""
        # the ids' places and the heads not yet known, in one round trip
        unread = sorted({e["subject"] for e in envelopes} - set(self._heads))
        answers = self.log._run_all(  # noqa: SLF001 - same module
            [("tail", (s,)) for s in unread] + [("by_id", (e["id"],)) for e in envelopes])
        for subject, rows in zip(unread, answers, strict=False):
            self._heads[subject] = _valid_head(rows)
        known = self.log.recorded_at(envelopes, [rows.one() for rows in answers[len(unread):]])
        recorded: list[Envelope] = []
        new: dict[str, list[Envelope]] = {}
        seen: dict[str, Envelope] = {}
        for envelope, earlier in zip(envelopes, known, strict=True):
            if earlier is None and envelope["id"] in seen:
                earlier = seen[envelope["id"]]  # the same id twice in one append
            if earlier is None:
                subject = envelope["subject"]
                earlier = {**envelope, "seq": self._heads[subject] + 1}
                self._heads[subject] += 1
                new.setdefault(subject, []).append(earlier)
                seen[envelope["id"]] = earlier
            recorded.append(earlier)
        try:
            self._write(new)
        except BaseException:
            for subject in new:  # what is in the log now is unknown: read the head again
                self._heads.pop(subject, None)
            raise
        return recorded

    def _write(self, new: dict[str, list[Envelope]]) -> None:
        """Each subject's events in one batch (one partition: atomic), every subject's writes
        sent at once (pipelined), then waited for."""
        timestamp = stamp(self.epoch)
        prepared = self.log._prepared  # noqa: SLF001 - same module
        writes = []
        for subject, envelopes in new.items():
            batch = BatchStatement(batch_type=BatchType.UNLOGGED)  # one partition: atomic
            for e in envelopes:
                batch.add(prepared["write"], (subject, e["seq"], self.epoch, e["id"],
                                              json.dumps(e), timestamp))
            calls: list[tuple[str, tuple[Any, ...]]] = [
                ("write_id", (e["id"], subject, e["seq"], timestamp)) for e in envelopes]
            if envelopes[0]["seq"] == 1:
                calls.append(("write_subject", (subject,)))
            writes.append((batch, calls))
        self.log._write_all(writes)  # noqa: SLF001 - same module

    def adopt(self, subject: str, envelopes: Sequence[Envelope]) -> None:
        """Write an earlier log's events as they were numbered (epoch 0)."""
        if envelopes:
            self._write({subject: list(envelopes)})


_TOKENS = 1 << 64  # Murmur3Partitioner: tokens from -2**63 to 2**63 - 1


def _token_range(part: int, parts: int) -> tuple[int, int]:
    """The first and last token of slice `part` of `parts` of the ring."""
    first = -(1 << 63) + part * (_TOKENS // parts)
    last = (1 << 63) - 1 if part == parts - 1 else first + _TOKENS // parts - 1
    return first, last


def _valid_head(rows: Any) -> int:
    tail = sorted(rows, key=lambda row: row.seq)
    if not tail:
        return 0
    head, epoch = tail[0].seq, tail[0].epoch
    for row in tail[1:]:
        if row.seq != head + 1 or row.epoch < epoch:
            break
        head, epoch = row.seq, row.epoch
    return int(head)


def _body(text: str) -> Envelope:
    envelope: Envelope = json.loads(text)
    return envelope
