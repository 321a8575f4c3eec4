"""BENCHMARK: events folded into views per second, SQLite store against Cassandra store, on the
same generated log in one run. Side effects: temp SQLite files; a keyspace on the Cassandra node
of scripts/start-cassandra.sh (dropped at the end)."""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from cassandra.concurrent import execute_concurrent_with_args

from higgins import events
from higgins.bus.amqp import AmqpBus
from higgins.bus.base import EVENTS
from higgins.bus.cassandra_log import CassandraLog
from higgins.bus.embedded import EmbeddedBus
from higgins.runtime.processing import FOLD_BATCH, Processors
from higgins.store.base import Store
from higgins.store.cassandra import CassandraStore
from higgins.store.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parent.parent
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


def fold_live(containers: int, concurrency: int, publishers: int = 8) -> tuple[float, float]:
    """Events published through the RabbitMQ bus (sequencers served here, the log in
    Cassandra) while the fold consumer folds them into Cassandra views: (events recorded per
    second by the publishers, events folded per second, first publish to last fold)."""
    vhost = f"higgins-fold-{uuid.uuid4().hex[:8]}"
    keyspace = f"higgins_bench_{uuid.uuid4().hex[:8]}"
    subprocess.run([ROOT / "scripts" / "rabbitmq-vhost.sh", vhost], check=True)
    log = CassandraLog(f"cassandra://127.0.0.1:9042/{keyspace}")
    bus = AmqpBus(f"amqp://guest:guest@127.0.0.1:5672/{vhost}", log, ("fold",))
    store = CassandraStore(["127.0.0.1"], 9042, keyspace)
    stop = threading.Event()
    folded = [0]
    lock = threading.Lock()
    processors = Processors(bus, store)

    def fold(batch: Sequence[events.Envelope]) -> None:
        processors.fold(batch)
        with lock:
            folded[0] += len(batch)

    try:
        bus.serve(stop)
        threading.Thread(target=bus.consume, daemon=True,
                         args=("fold", EVENTS, fold, stop, concurrency, FOLD_BATCH)).start()
        subjects = [str(uuid.uuid4()) for _ in range(containers)]
        spec: dict[str, object] = {"name": "b", "image": "busybox:local", "command": ["true"]}
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
        stop.set()
        time.sleep(1)
        log.drop()
        bus.close()
        store.close()
        subprocess.run([ROOT / "scripts" / "rabbitmq-vhost.sh", "--delete", vhost], check=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="higgins bench fold", description=__doc__)
    parser.add_argument("--containers", type=int, default=500, help="10 events each")
    parser.add_argument("--concurrency", type=int, default=8, help="fold workers")
    parser.add_argument("--live", action="store_true",
                        help="also fold events as they arrive through RabbitMQ")
    args = parser.parse_args([a for a in argv if a != "fold"])
    workdir = Path(tempfile.mkdtemp(prefix="higgins-fold-"))
    bus, total = make_log(workdir / "events.db", args.containers)
    sqlite_rate = fold_all(bus, SqliteStore(workdir / "views.db"), total, args.concurrency)
    keyspace = f"higgins_bench_{uuid.uuid4().hex[:8]}"
    cassandra = CassandraStore(["127.0.0.1"], 9042, keyspace)
    try:
        cassandra_rate = fold_all(bus, cassandra, total, args.concurrency)
        raw_rate = raw_write_rate(cassandra, total)
    finally:
        cassandra._session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}")  # noqa: SLF001
        cassandra.close()
    print(f"{total} events of {args.containers} containers, {args.concurrency} fold workers")
    print(f"sqlite store:    {sqlite_rate:8.0f} events/s")
    print(f"cassandra store: {cassandra_rate:8.0f} events/s "
          f"({cassandra_rate / sqlite_rate:.2f} of sqlite; H2 target >= 10,000/s: "
          f"{'met' if cassandra_rate >= 10_000 else 'NOT met'})")
    print(f"raw Cassandra writes, nothing folded, 64 in flight: {raw_rate:8.0f} rows/s "
          f"(the fold reaches {cassandra_rate / raw_rate:.2f} of it)")
    if args.live:
        arriving, live = fold_live(args.containers, args.concurrency)
        print(f"live through RabbitMQ: published (recorded) {arriving:8.0f} events/s, folded "
              f"into Cassandra {live:8.0f} events/s (H4 target >= 10,000/s: "
              f"{'met' if live >= 10_000 else 'NOT met'})")
    return 0
