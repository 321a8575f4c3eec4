"""The Bus port's contract, run against every adapter: the embedded SQLite log, and RabbitMQ
with the Cassandra log (the services of scripts/start-rabbitmq.sh and start-cassandra.sh)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Sequence

import pytest

from higgins import events
from higgins.bus.base import EVENTS, Bus, command_stream, each


def envelope(subject: str, kind: str = "container.stopped", **data: object) -> events.Envelope:
    return events.Envelope(id=str(uuid.uuid4()), type=kind, subject=subject, seq=0,
                           time="2026-11-24T00:00:00+00:00", project_id="p", user_id="u",
                           request_id="req-1", data=dict(data))


def consume_until(bus: Bus, consumer: str, stream: str, count: int,
                  handler: Callable[[events.Envelope], None] | None = None,
                  concurrency: int = 1) -> list[events.Envelope]:
    """Run a consumer until it has handled `count` envelopes, then stop it."""
    seen: list[events.Envelope] = []
    stop = threading.Event()
    lock = threading.Lock()

    def handle(env: events.Envelope) -> None:
        if handler:
            handler(env)
        with lock:
            seen.append(env)
            if len(seen) >= count:
                stop.set()

    thread = threading.Thread(target=bus.consume, args=(consumer, stream, each(handle), stop,
                                                        concurrency))
    thread.start()
    stop.wait(10)
    stop.set()
    thread.join(10)
    return seen


def test_publish_numbers_each_subjects_events_from_one(bus: Bus) -> None:
    recorded = bus.publish([envelope("a"), envelope("b"), envelope("a")])
    assert [(e["subject"], e["seq"]) for e in recorded] == [("a", 1), ("b", 1), ("a", 2)]


def test_republishing_an_id_records_it_once(bus: Bus) -> None:
    first = envelope("a")
    bus.publish([first])
    again = bus.publish([first])
    assert again[0]["seq"] == 1
    assert len(bus.history("a")) == 1


def test_history_returns_a_subjects_events_after_a_seq(bus: Bus) -> None:
    bus.publish([envelope("a", exit_code=i) for i in range(3)])
    assert [e["data"]["exit_code"] for e in bus.history("a", after_seq=1)] == [1, 2]


def test_invalid_events_are_refused_and_nothing_is_recorded(bus: Bus) -> None:
    with pytest.raises(events.InvalidEvent):
        bus.publish([envelope("a"), envelope("a", kind="container.failed")])  # no reason
    assert bus.history("a") == []


def test_consumers_resume_after_their_committed_position(bus: Bus) -> None:
    bus.publish([envelope("a", exit_code=i) for i in range(3)])
    assert len(consume_until(bus, "c1", EVENTS, 3)) == 3
    bus.publish([envelope("a", exit_code=3)])
    (later,) = consume_until(bus, "c1", EVENTS, 1)
    assert later["data"]["exit_code"] == 3


def test_an_envelope_not_handled_is_delivered_again(bus: Bus) -> None:
    bus.publish([envelope("a")])

    def crash(env: events.Envelope) -> None:
        raise RuntimeError("handler died")

    stop = threading.Event()
    thread = threading.Thread(target=bus.consume, args=("c2", EVENTS, each(crash), stop))
    thread.start()
    stop.wait(0.3)
    stop.set()
    thread.join(10)
    assert len(consume_until(bus, "c2", EVENTS, 1)) == 1


def test_commands_go_to_their_hosts_stream_only(bus: Bus) -> None:
    command = envelope("a", kind="agent.container.start")
    bus.publish([], [(command_stream("h1"), command)])
    (got,) = consume_until(bus, "agent.h1", command_stream("h1"), 1)
    assert got["id"] == command["id"]
    assert bus.history("a") == []


def test_parallel_consumers_keep_each_subjects_order(bus: Bus) -> None:
    subjects = [f"s{i}" for i in range(6)]
    bus.publish([envelope(s, exit_code=n) for n in range(10) for s in subjects])
    seen = consume_until(bus, "c3", EVENTS, 60, concurrency=4)
    for subject in subjects:
        order = [e["data"]["exit_code"] for e in seen if e["subject"] == subject]
        assert order == list(range(10))


def publish_concurrently(bus: Bus, work: list[list[list[events.Envelope]]]
                         ) -> list[tuple[list[events.Envelope], list[events.Envelope]]]:
    """Each worker's batches published in order from its own thread, every worker released at
    once; each batch paired with what its publish returned."""
    barrier = threading.Barrier(len(work))
    answers: list[list[tuple[list[events.Envelope], list[events.Envelope]]]] = [[] for _ in work]
    errors: list[BaseException] = []

    def run(worker: int) -> None:
        try:
            barrier.wait(10)
            for batch in work[worker]:
                answers[worker].append((batch, bus.publish(batch)))
        except BaseException as error:  # handed to the test's thread below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(w,)) for w in range(len(work))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    return [pair for worker in answers for pair in worker]


def test_concurrent_publishes_number_each_subject_from_one_without_gaps(bus: Bus) -> None:
    shared = ["shared-a", "shared-b"]
    work = [[[envelope(shared[n % 2], exit_code=n), envelope(f"own-{w}", exit_code=n)]
             for n in range(8)] for w in range(8)]
    answered = publish_concurrently(bus, work)
    assert all([e["id"] for e in batch] == [e["id"] for e in got] for batch, got in answered)
    recorded = [e for _, got in answered for e in got]
    for subject in [*shared, *(f"own-{w}" for w in range(8))]:
        mine = sorted((e for e in recorded if e["subject"] == subject), key=lambda e: e["seq"])
        assert [e["seq"] for e in mine] == list(range(1, len(mine) + 1))
        assert bus.history(subject) == mine


def test_an_id_published_concurrently_is_recorded_once(bus: Bus) -> None:
    repeated = envelope("a")
    work = [[[repeated, envelope(f"own-{w}")], [repeated]] for w in range(8)]
    answered = publish_concurrently(bus, work)
    answers = [got[0] for _, got in answered]
    assert all(answer == answers[0] for answer in answers)
    assert answers[0]["seq"] == 1
    assert bus.history("a") == [answers[0]]


def test_a_batch_handler_gets_bounded_batches_in_each_subjects_order(bus: Bus) -> None:
    subjects = [f"b{i}" for i in range(6)]
    bus.publish([envelope(s, exit_code=n) for n in range(10) for s in subjects])
    batches: list[list[events.Envelope]] = []
    lock = threading.Lock()
    stop = threading.Event()

    def handle(batch: Sequence[events.Envelope]) -> None:
        with lock:
            batches.append(list(batch))
            if sum(map(len, batches)) >= 60:
                stop.set()

    thread = threading.Thread(target=bus.consume, args=("c1", EVENTS, handle, stop, 2, 16))
    thread.start()
    stop.wait(20)
    stop.set()
    thread.join(10)
    seen = [e for batch in batches for e in batch]
    assert len(seen) == 60 and all(1 <= len(batch) <= 16 for batch in batches)
    for subject in subjects:
        assert [e["data"]["exit_code"] for e in seen if e["subject"] == subject] == \
            list(range(10))


def test_a_batch_whose_handler_failed_is_delivered_again(bus: Bus) -> None:
    bus.publish([envelope("f", exit_code=n) for n in range(5)])
    calls: list[int] = []

    stop = threading.Event()

    def fail_once(batch: Sequence[events.Envelope]) -> None:
        calls.append(len(batch))
        if len(calls) == 1:
            raise RuntimeError("the store blinked")
        if sum(calls[1:]) >= 5:
            stop.set()

    thread = threading.Thread(target=bus.consume, args=("c3", EVENTS, fail_once, stop, 1, 8))
    thread.start()
    stop.wait(20)
    stop.set()
    thread.join(10)
    assert len(calls) >= 2 and sum(calls[1:]) == 5
