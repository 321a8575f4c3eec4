"""The embedded log's group commit: publishes that queue while a commit is in flight share the
next transaction and its fsync, and a publish that fails in a group fails alone. The commit in
flight is held the way another writer would hold it: a second connection's write lock."""

from __future__ import annotations

import functools
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Generic, TypeVar

import pytest

from higgins import events
from higgins.bus.embedded import EmbeddedBus
from higgins.bus.grouping import GroupCommit
from tests.contract.test_bus import envelope

T = TypeVar("T")


def wait_until(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.001)


class Call(Generic[T]):
    """One call on its own thread; its result or exception once joined."""

    def __init__(self, call: Callable[[], T]) -> None:
        self._results: list[T] = []
        self._errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, args=(call,))
        self._thread.start()

    def _run(self, call: Callable[[], T]) -> None:
        try:
            self._results.append(call())
        except BaseException as error:  # handed to the test's thread by outcome()
            self._errors.append(error)

    def outcome(self) -> T:
        self._thread.join(30)
        assert not self._thread.is_alive()
        if self._errors:
            raise self._errors[0]
        return self._results[0]


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[EmbeddedBus]:
    adapter = EmbeddedBus(tmp_path / "events.db")
    yield adapter
    adapter.close()


@pytest.fixture
def writer(bus: EmbeddedBus) -> Iterator[sqlite3.Connection]:
    """Another connection holding the log's write lock until the test rolls it back."""
    other = sqlite3.connect(bus.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    yield other
    if other.in_transaction:
        other.execute("ROLLBACK")
    other.close()


Publishing = Call[list[events.Envelope]]


def queue_behind_held_commit(bus: EmbeddedBus, batches: list[list[events.Envelope]]
                             ) -> tuple[Publishing, list[Publishing]]:
    """A first publish leads and waits on the held lock; `batches` queue behind it, in order."""
    first = Call(lambda: bus.publish([envelope("first")]))
    wait_until(lambda: bus.largest_group == 1)  # the leader took its group and is writing
    queued: list[Publishing] = []
    for batch in batches:
        queued.append(Call(functools.partial(bus.publish, batch)))
        wait_until(lambda: bus.queued() == len(queued))
    return first, queued


def test_a_lone_publish_commits_at_once_and_alone(bus: EmbeddedBus) -> None:
    for n in range(3):
        bus.publish([envelope("a", exit_code=n)])
    assert bus.commits == 3
    assert bus.largest_group == 1


def test_publishes_queued_behind_a_commit_share_the_next_one(
        bus: EmbeddedBus, writer: sqlite3.Connection) -> None:
    first, queued = queue_behind_held_commit(
        bus, [[envelope("a", exit_code=n), envelope(f"b{n}")] for n in range(10)])
    writer.execute("ROLLBACK")
    first.outcome()
    answers = [call.outcome() for call in queued]
    assert bus.commits == 2
    assert bus.largest_group == 10
    assert [[e["seq"] for e in answer] for answer in answers] == [[n + 1, 1] for n in range(10)]
    assert [e["data"]["exit_code"] for e in bus.history("a")] == list(range(10))


def test_an_id_twice_in_one_group_returns_the_first_recording(
        bus: EmbeddedBus, writer: sqlite3.Connection) -> None:
    repeated = envelope("a")
    _, queued = queue_behind_held_commit(bus, [[envelope("a"), repeated], [repeated]])
    writer.execute("ROLLBACK")
    first, second = (call.outcome() for call in queued)
    assert first[1] == second[0] == {**repeated, "seq": 2}
    assert len(bus.history("a")) == 2


def test_a_publish_failing_in_a_group_fails_alone_and_leaves_no_trace(
        bus: EmbeddedBus, writer: sqlite3.Connection) -> None:
    writer.execute("CREATE TRIGGER refuse_poison BEFORE INSERT ON log "
                   "WHEN NEW.subject = 'poison' BEGIN SELECT RAISE(ABORT, 'poison refused'); END")
    _, (bad, good) = queue_behind_held_commit(
        bus, [[envelope("x", exit_code=0), envelope("poison")], [envelope("x", exit_code=1)]])
    writer.execute("COMMIT")  # the trigger is in; the held lock is released
    with pytest.raises(sqlite3.IntegrityError, match="poison refused"):
        bad.outcome()
    assert [e["seq"] for e in good.outcome()] == [1]
    assert [e["data"]["exit_code"] for e in bus.history("x")] == [1]
    assert bus.commits == 2


def test_an_invalid_publish_is_refused_without_waiting_for_the_commit_in_flight(
        bus: EmbeddedBus, writer: sqlite3.Connection) -> None:
    first, _ = queue_behind_held_commit(bus, [])
    with pytest.raises(events.InvalidEvent):
        bus.publish([envelope("a", kind="container.failed")])  # no reason
    assert bus.queued() == 0
    writer.execute("ROLLBACK")
    first.outcome()
    assert bus.commits == 1


def test_a_failed_group_write_fails_every_waiter_and_the_lead_passes_on() -> None:
    gate = threading.Event()
    writes: list[list[str]] = []

    def write(jobs: list[str]) -> list[str | Exception]:
        writes.append(jobs)
        if len(writes) == 1:
            gate.wait(10)
            return [job.upper() for job in jobs]
        if len(writes) == 2:
            raise OSError("disk full")
        return [job.upper() for job in jobs]

    group: GroupCommit[str, str] = GroupCommit(write)
    leader = Call(lambda: group.submit("a"))
    wait_until(lambda: group.largest == 1)
    waiters = [Call(functools.partial(group.submit, job)) for job in "bcd"]
    wait_until(lambda: group.queued() == 3)
    gate.set()
    assert leader.outcome() == "A"
    for waiter in waiters:
        with pytest.raises(OSError, match="disk full"):
            waiter.outcome()
    assert group.submit("e") == "E"
    assert writes == [["a"], ["b", "c", "d"], ["e"]]
