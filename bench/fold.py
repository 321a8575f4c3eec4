"""BENCHMARK: events folded into views per second, SQLite store against Cassandra store, on the
same generated log in one run; with --live also as they arrive through a bus (RabbitMQ, or Kafka
with --bus kafka). Side effects: temp SQLite files; keyspaces on the Cassandra node of
scripts/start-cassandra.sh (dropped at the end); with --live a RabbitMQ virtual host or a Kafka
namespace of its own (removed at the end)."""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from cassandra.concurrent import execute_concurrent_with_args

from bench.lifecycle import BUSES, CASSANDRA, fresh_bus, fresh_keyspace
from higgins import events
from higgins.bus.amqp import AmqpBus
from higgins.bus.base import EVENTS
from higgins.bus.cassandra_log import CassandraLog
from higgins.bus.embedded import EmbeddedBus
from higgins.bus.kafka import KafkaBus
from higgins.runtime.processing import FOLD_BATCH, Processors
from higgins.store.base import Store
from higgins.store.cassandra import CassandraStore
from higgins.store.sqlite import SqliteStore

LIFE: list[tuple[str, dict[str, object]]] = [("container.scheduled", {"host": "h1"}),
        ("container.created", {"container_id": "abc", "host": "h1"}),
        ("container.started", {}), ("container.stop.requested", {"timeout": 1}),
        ("container.stopped", {"exit_code": 0}), ("container.start.requested", {}),
        ("container.started", {}), ("container.pause.requested", {}),
        ("container.paused", {})]


def _envelope(kind: str, subject: str, data: dict[str, object]) -> events.Envelope:
    return events.Envelope(id=str(uuid.uuid4()), type=kind, subject=subject, seq=0,
                           time="2026-11-24T00:00:00+00:00", project_id="p", user_id="u",
                           request_id="req-bench", data=data)


def make_log(path: Path, containers: int) -> tuple[EmbeddedBus, int]:
    """A log of `containers` lifecycles of 10 events each, interleaved as a busy cloud's is."""
    bus = EmbeddedBus(path)
    subjects = [str(uuid.uuid4()) for _ in range(containers)]
    spec: dict[str, object] = {"name": "b", "image": "busybox:local", "command": ["true"]}
    bus.publish([_envelope("container.create.requested", s, spec) for s in subjects])
    for kind, data in LIFE:
        bus.publish([_envelope(kind, s, data) for s in subjects])
    return bus, containers * (len(LIFE) + 1)


def fold_all(bus: EmbeddedBus, store: Store, total: int, concurrency: int) -> float:
    """Run the fold consumer over the whole log; events per second."""
    processors = Processors(bus, store)
    consumer = f"fold-bench-{uuid.uuid4().hex[:6]}"
    stop = threading.Event()
    started = time.monotonic()
    thread = threading.Thread(target=bus.consume,
                              args=(consumer, EVENTS, processors.fold, stop, concurrency,
                                    FOLD_BATCH))
    thread.start()
    last = max(p for p, _ in bus.read(EVENTS, 0, limit=10**9))
    while bus.committed(consumer, EVENTS) < last:
        time.sleep(0.01)
    elapsed = time.monotonic() - started
    stop.set()
    thread.join(30)
    return total / elapsed


def raw_write_rate(store: CassandraStore, rows: int) -> float:
    """The ceiling: rows per second this driver and node take when nothing is folded, written
    64 at a time (execute_concurrent), of the size a view row has."""
    body = json.dumps({"padding": "x" * 700})
    statement = store._session.prepare(  # noqa: SLF001 - the bench measures the store's node
        "INSERT INTO container_views (uuid, project_id, name, status, seq, body) "
        "VALUES (?, ?, ?, ?, ?, ?) USING TIMESTAMP ?")
    args = [(f"raw-{i}", "p", "n", "Running", 1, body, 1) for i in range(rows)]
    started = time.monotonic()
    execute_concurrent_with_args(store._session, statement, args, concurrency=64)  # noqa: SLF001
    return rows / (time.monotonic() - started)


def fold_live(containers: int, concurrency: int, publishers: int = 8,
              bus_kind: str = "rabbitmq") -> tuple[float, float]:
    """Events published through the RabbitMQ or Kafka bus (`bus_kind`; on a virtual host or
    namespace of its own, sequencers served here, the log in a fresh Cassandra keyspace) while
    the fold consumer folds them into Cassandra views in that keyspace: (events recorded per
    second by the publishers, events folded per second, first publish to last fold)."""
    stop = threading.Event()
    folded = [0]
    lock = threading.Lock()
    with contextlib.ExitStack() as cleanup:  # last made, first removed
        bus_url = cleanup.enter_context(fresh_bus(bus_kind, "fold"))
        keyspace = cleanup.enter_context(fresh_keyspace("bench"))
        log = CassandraLog(f"{CASSANDRA}/{keyspace}")
        cleanup.callback(log.close)
        bus = (KafkaBus(bus_url, log) if bus_kind == "kafka"
               else AmqpBus(bus_url, log, ("fold",)))
        cleanup.callback(bus.close)
        store = CassandraStore(["127.0.0.1"], 9042, keyspace)
        cleanup.callback(store.close)
        processors = Processors(bus, store)

        def fold(batch: Sequence[events.Envelope]) -> None:
            processors.fold(batch)
            with lock:
                folded[0] += len(batch)

        running: list[threading.Thread] = []
        try:
            running += bus.serve(stop)
            consumer = threading.Thread(target=bus.consume, daemon=True,
                                        args=("fold", EVENTS, fold, stop, concurrency,
                                              FOLD_BATCH))
            consumer.start()
            running.append(consumer)
            subjects = [str(uuid.uuid4()) for _ in range(containers)]
            spec: dict[str, object] = {"name": "b", "image": "busybox:local",
                                       "command": ["true"]}
            steps = [("container.create.requested", spec), *LIFE]
            total = containers * len(steps)
            share = [subjects[i::publishers] for i in range(publishers)]

            def publish(mine: list[str]) -> None:
                for kind, data in steps:
                    for start in range(0, len(mine), 10):
                        bus.publish([_envelope(kind, s, data) for s in mine[start:start + 10]])

            started = time.monotonic()
            threads = [threading.Thread(target=publish, args=(m,)) for m in share]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            published = time.monotonic() - started
            while folded[0] < total and time.monotonic() - started < 600:
                time.sleep(0.01)
            return total / published, folded[0] / (time.monotonic() - started)
        finally:
            stop.set()  # the sequencers and the consumer end before their bus goes
            deadline = time.monotonic() + 30
            for thread in running:
                thread.join(max(0.1, deadline - time.monotonic()))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="higgins bench fold", description=__doc__)
    parser.add_argument("--containers", type=int, default=500, help="10 events each")
    parser.add_argument("--concurrency", type=int, default=8, help="fold workers")
    parser.add_argument("--live", action="store_true",
                        help="also fold events as they arrive through a bus (--bus)")
    parser.add_argument("--bus", choices=BUSES, default=None,
                        help="the bus of --live (default rabbitmq); kafka: a namespace on "
                             "scripts/start-kafka.sh's broker")
    args = parser.parse_args([a for a in argv if a != "fold"])
    if args.bus and not args.live:
        parser.error("--bus is the bus of --live: give --live too")
    live_bus = args.bus or "rabbitmq"
    workdir = Path(tempfile.mkdtemp(prefix="higgins-fold-"))
    bus, total = make_log(workdir / "events.db", args.containers)
    sqlite_rate = fold_all(bus, SqliteStore(workdir / "views.db"), total, args.concurrency)
    with fresh_keyspace("bench") as keyspace:
        cassandra = CassandraStore(["127.0.0.1"], 9042, keyspace)
        try:
            cassandra_rate = fold_all(bus, cassandra, total, args.concurrency)
            raw_rate = raw_write_rate(cassandra, total)
        finally:
            cassandra.close()
    print(f"{total} events of {args.containers} containers, {args.concurrency} fold workers")
    print(f"sqlite store:    {sqlite_rate:8.0f} events/s")
    print(f"cassandra store: {cassandra_rate:8.0f} events/s "
          f"({cassandra_rate / sqlite_rate:.2f} of sqlite; H2 target >= 10,000/s: "
          f"{'met' if cassandra_rate >= 10_000 else 'NOT met'})")
    print(f"raw Cassandra writes, nothing folded, 64 in flight: {raw_rate:8.0f} rows/s "
          f"(the fold reaches {cassandra_rate / raw_rate:.2f} of it)")
    if args.live:
        arriving, live = fold_live(args.containers, args.concurrency, bus_kind=live_bus)
        name = {"rabbitmq": "RabbitMQ", "kafka": "Kafka"}[live_bus]
        print(f"live through {name}: published (recorded) {arriving:8.0f} events/s, folded "
              f"into Cassandra {live:8.0f} events/s (H4 target >= 10,000/s: "
              f"{'met' if live >= 10_000 else 'NOT met'})")
    return 0
