"""BENCHMARK: `higgins replay` from a big log: N events of container lifecycles (a busy cloud's,
interleaved) written straight into a fresh log, then folded into fresh SQLite views by the code
`higgins replay --into` runs (runtime/replay.rebuild), timed. Side effects: temp files; with
--backend cassandra a keyspace (the log) and a RabbitMQ virtual host (the bus the log belongs
to), both removed at the end."""

from __future__ import annotations

import argparse
import datetime
import functools
import itertools
import json
import os
import random
import resource
import shutil
import sqlite3
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cassandra.concurrent import execute_concurrent
from cassandra.query import BatchStatement, BatchType

from higgins import bus as buses
from higgins import events
from higgins.bus.amqp import AmqpBus
from higgins.bus.base import EVENTS, Bus, command_stream
from higgins.bus.cassandra_log import CassandraLog
from higgins.bus.embedded import EmbeddedBus
from higgins.processors import capsules, containers, hosts, images
from higgins.processors.model import folded
from higgins.runtime import replay
from higgins.store.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 60.0
HOSTS = [f"compute-{i:02d}" for i in range(16)]
PROJECTS = [uuid.UUID(int=i).hex for i in range(1, 41)]
IMAGES = ["busybox:local", "nginx:1.27", "redis:7.4", "python:3.11-slim", "postgres:16"]
EPOCH = datetime.datetime(2026, 11, 24, tzinfo=datetime.UTC)
REPORT_EVERY = datetime.timedelta(seconds=60)  # each host's report interval
SAMPLE_EVERY = 997  # every n-th envelope generated is validated against schemas/


@dataclass
class Row:
    """One recorded envelope as the log keeps it."""

    stream: str
    envelope: events.Envelope
    body: str


Step = tuple[str, dict[str, Any], tuple[str, dict[str, Any]] | None]  # event, data, command


def lifecycle(rng: random.Random, name: str, host: str) -> list[Step]:
    """One container from its create to its delete (most), each action with its agent command:
    scheduled, created, started, a few stop/start rounds, sometimes a failure or a rename."""
    spec: dict[str, Any] = {
        "name": name, "image": rng.choice(IMAGES), "command": ["sleep", "3600"],
        "entrypoint": [], "cpu": rng.choice([None, 0.5, 1.0, 2.0]),
        "memory": rng.choice([None, 256, 512, 1024]),
        "environment": {"ROLE": rng.choice(["web", "worker", "cache"])},
        "labels": {"team": f"t{rng.randrange(8)}"}, "workdir": None, "hostname": None,
        "restart_policy": {}, "auto_remove": False, "interactive": False, "tty": False,
        "image_pull_policy": None, "run": True}
    command = {**spec, "project_id": "", "injected_files": {}}
    container_id = uuid.UUID(int=rng.getrandbits(128)).hex * 2
    steps: list[Step] = [
        ("container.create.requested", spec, None),
        ("container.scheduled", {"host": host}, ("agent.container.create", command)),
        ("container.created", {"container_id": container_id, "host": host}, None)]
    if rng.random() < 0.03:
        return [*steps[:2], ("container.failed", {"reason": "image not found"}, None)]
    steps.append(("container.started", {}, None))
    for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
        steps += [("container.stop.requested", {"timeout": 10}, ("agent.container.stop",
                                                                 {"timeout": 10})),
                  ("container.stopped", {"exit_code": 0}, None),
                  ("container.start.requested", {}, ("agent.container.start", {})),
                  ("container.started", {}, None)]
    if rng.random() < 0.1:
        steps.append(("container.renamed", {"name": f"{name}-renamed"}, None))
    if rng.random() < 0.8:  # the rest keep running
        delete = {"force": False, "stop": True}
        steps += [("container.delete.requested", delete,
                   ("agent.container.delete", {**delete, "container_id": container_id})),
                  ("container.stopped", {"exit_code": 137}, None),
                  ("container.deleted", {}, None)]
    return steps


class Cloud:
    """Lifecycles in flight side by side, one event at a time from a random one, a host report
    every interval per host; each subject's seq counted, the clock advancing per event."""

    def __init__(self, seed: int, in_flight: int, events_per_second: float) -> None:
        self.rng = random.Random(seed)
        self.in_flight = in_flight
        self.tick = datetime.timedelta(seconds=1 / events_per_second)
        self.containers = 0
        self.events = 0

    def rows(self, total: int) -> Iterator[Row]:
        """`total` events (and the commands recorded with them), in log order."""
        active: list[_Lifecycle] = []
        seqs: dict[str, int] = {}
        now, next_report = EPOCH, EPOCH
        while self.events < total:
            now += self.tick
            if now >= next_report:
                for host in HOSTS[:total - self.events]:
                    yield from self._record(events.host_subject(host), "", host, seqs, now,
                                            ("host.reported", _report(host), None))
                next_report += REPORT_EVERY
                continue
            if len(active) < self.in_flight:
                host = self.rng.choice(HOSTS)
                active.append(_Lifecycle(
                    str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
                    self.rng.choice(PROJECTS), host,
                    lifecycle(self.rng, f"app-{self.rng.getrandbits(32):08x}", host)))
            index = self.rng.randrange(len(active))
            life = active[index]
            yield from self._record(life.subject, life.project, life.host, seqs, now,
                                    life.steps[life.done])
            life.done += 1
            if life.done == len(life.steps):
                active[index] = active[-1]
                active.pop()

    def _record(self, subject: str, project: str, host: str, seqs: dict[str, int],
                now: datetime.datetime, step: Step) -> Iterator[Row]:
        kind, data, command = step
        seq = seqs[subject] = seqs.get(subject, 0) + 1
        self.events += 1
        self.containers += seq == 1 and project != ""
        yield _row(EVENTS, _envelope(self.rng, kind, subject, seq, now, project, data),
                   self.events)
        if command is not None:
            kind, data = command
            if "project_id" in data:
                data = {**data, "project_id": project}
            yield _row(command_stream(host), _envelope(self.rng, kind, subject, 0, now, project,
                                                       data), self.events)


@dataclass
class _Lifecycle:
    subject: str
    project: str
    host: str
    steps: list[Step]
    done: int = 0


def _report(host: str) -> dict[str, Any]:
    return {"host": host, "cpus": 32.0, "memory_mb": 131072, "runtimes": ["runc"],
            "driver_version": "27.3.1", "architecture": "x86_64", "os_type": "linux",
            "os": "Ubuntu 24.04", "kernel_version": "6.8.0", "disk_total_gb": 900,
            "availability_zone": "nova", "agent_url": f"http://{host}:9518"}


def _envelope(rng: random.Random, kind: str, subject: str, seq: int, now: datetime.datetime,
              project: str, data: dict[str, Any]) -> events.Envelope:
    return events.Envelope(
        id=str(uuid.UUID(int=rng.getrandbits(128), version=4)), type=kind, subject=subject,
        seq=seq, time=now.isoformat(timespec="microseconds"), project_id=project,
        user_id="u-" + project[:8], request_id=f"req-{rng.getrandbits(64):016x}", data=data)


def _row(stream: str, envelope: events.Envelope, count: int) -> Row:
    if count % SAMPLE_EVERY == 0:
        events.validate(envelope)  # raises on anything the schemas refuse
    return Row(stream, envelope, json.dumps(envelope))


def write_embedded(path: Path, rows: Iterator[Row], chunk: int = 50_000) -> None:
    """Append the rows to a fresh embedded log as EmbeddedBus records them, in bulk."""
    EmbeddedBus(path).close()  # its schema
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous=OFF")  # the bench's own file, written once
    db.execute("PRAGMA cache_size=-1000000")  # the id index's pages stay in memory (1 GB)
    while True:
        page = [(r.stream, r.envelope["id"], r.envelope["subject"], r.envelope["seq"], r.body)
                for r in itertools.islice(rows, chunk)]
        if not page:
            break
        db.execute("BEGIN")  # a transaction per chunk (the connection is in autocommit)
        db.executemany("INSERT INTO log (stream, id, subject, seq, body) "
                       "VALUES (?, ?, ?, ?, ?)", page)
        db.execute("COMMIT")
    db.close()


def write_cassandra(log: CassandraLog, rows: Iterator[Row], chunk: int = 20_000) -> None:
    """Write the events as a log writer of epoch 1 would (log_events, log_subjects), a batch
    per subject per chunk (one partition: one write); commands go to RabbitMQ, not the log.
    log_event_ids (publish's idempotence) is not written: replay does not read it."""
    session = log._session  # noqa: SLF001 - the bench writes the log's own tables
    write = session.prepare("INSERT INTO log_events (subject, seq, epoch, id, body) "
                            "VALUES (?, ?, 1, ?, ?)")
    subject_row = session.prepare("INSERT INTO log_subjects (subject) VALUES (?)")
    while True:
        page = list(itertools.islice(rows, chunk))
        if not page:
            break
        by_subject: dict[str, list[Row]] = {}
        for row in page:
            if row.stream == EVENTS:
                by_subject.setdefault(row.envelope["subject"], []).append(row)
        statements: list[tuple[Any, Any]] = []
        for subject, mine in by_subject.items():
            batch = BatchStatement(batch_type=BatchType.UNLOGGED)
            for row in mine:
                batch.add(write, (subject, row.envelope["seq"], row.envelope["id"], row.body))
            statements.append((batch, ()))
            if mine[0].envelope["seq"] == 1:
                statements.append((subject_row, (subject,)))
        execute_concurrent(session, statements, concurrency=64, raise_on_first_error=True)


def timed_replay(bus: Bus, views: Path, spread: replay.Spread) -> tuple[float, int]:
    """runtime/replay.rebuild, as `higgins replay --into` runs it: (seconds, views written).
    Prints the load on the machine as it starts (it is shared) and the CPU time it took."""
    load = os.getloadavg()[0]
    cpu = _cpu_seconds()
    started = time.monotonic()
    written = replay.rebuild(bus, SqliteStore(views), None, spread)
    elapsed = time.monotonic() - started
    print(f"replay: 1-minute load {load:.2f} as it started; {_cpu_seconds() - cpu:.1f} CPU-s "
          f"in {spread.parts} processes")
    return elapsed, written


def subject_by_subject(bus: Bus, views: Path) -> tuple[float, int]:
    """The baseline: replay as it was before read_log (one history read per subject, one save
    per view, one process): (seconds, views written)."""
    folds = {"container": containers.fold, "host": hosts.fold, "image": images.fold,
             "capsule": capsules.fold}
    store = SqliteStore(views)
    started = time.monotonic()
    written = 0
    for subject in bus.subjects():
        state = folded(folds[events.subject_kind(subject)], bus.history(subject))
        if state is not None:
            store.save_all([state])
            written += 1
    return time.monotonic() - started, written


def _cpu_seconds() -> float:
    """User + system time of this process and its finished children (replay's processes)."""
    mine, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                          resource.RUSAGE_CHILDREN))
    return mine.ru_utime + mine.ru_stime + children.ru_utime + children.ru_stime


Timings = tuple[float, float, int, float | None]


def on_embedded(workdir: Path, total: int, cloud: Cloud, processes: int, baseline: bool,
                ) -> Timings:
    """(seconds to write the log, seconds to replay it, views written, seconds the baseline
    took to replay it)."""
    url = f"sqlite://{workdir / 'events.db'}"
    started = time.monotonic()
    write_embedded(workdir / "events.db", cloud.rows(total))
    written_in = time.monotonic() - started
    bus = buses.by_url(url)
    try:
        spread = replay.Spread(functools.partial(buses.by_url, url), processes)
        seconds, views = timed_replay(bus, workdir / "views.db", spread)
        before = subject_by_subject(bus, workdir / "views-before.db") if baseline else None
        return written_in, seconds, views, _same_views(before, workdir)
    finally:
        bus.close()


def on_cassandra(workdir: Path, total: int, cloud: Cloud, processes: int, baseline: bool,
                 ) -> Timings:
    """The same on a fresh keyspace, read through the RabbitMQ bus `higgins replay` opens."""
    vhost = f"higgins-replay-{uuid.uuid4().hex[:8]}"
    log_url = f"cassandra://127.0.0.1:9042/higgins_bench_{uuid.uuid4().hex[:8]}"
    amqp_url = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    subprocess.run([ROOT / "scripts" / "rabbitmq-vhost.sh", vhost], check=True)
    log = CassandraLog(log_url)
    try:
        bus = AmqpBus(amqp_url, log)
        started = time.monotonic()
        write_cassandra(log, cloud.rows(total))
        written_in = time.monotonic() - started
        spread = replay.Spread(functools.partial(buses.by_url, amqp_url, log_url), processes)
        seconds, views = timed_replay(bus, workdir / "views.db", spread)
        before = subject_by_subject(bus, workdir / "views-before.db") if baseline else None
        return written_in, seconds, views, _same_views(before, workdir)
    finally:
        log.drop()
        log.close()
        subprocess.run([ROOT / "scripts" / "rabbitmq-vhost.sh", "--delete", vhost], check=True)


def _same_views(before: tuple[float, int] | None, workdir: Path) -> float | None:
    """The baseline's seconds, once its views are found equal to replay's, row for row."""
    if before is None:
        return None
    tables = {}
    for name in ("views.db", "views-before.db"):
        db = sqlite3.connect(workdir / name)
        tables[name] = [sorted(db.execute(f"SELECT * FROM {table}"))
                        for table in ("containers", "hosts", "images", "capsules")]
        db.close()
    if tables["views.db"] != tables["views-before.db"]:
        raise AssertionError("replay and the baseline wrote different views")
    return before[0]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="higgins bench replay", description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the log")
    parser.add_argument("--backend", choices=("embedded", "cassandra"), default="embedded",
                        help="where the log lives (the views are SQLite either way)")
    parser.add_argument("--in-flight", type=int, default=2_000,
                        help="lifecycles under way at once (how much they interleave)")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1,
                        help="replay's processes (as `higgins replay --processes`)")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the baseline (the replay before: subject by subject)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args([a for a in argv if a != "replay"])
    workdir = Path(tempfile.mkdtemp(prefix="higgins-replay-"))
    cloud = Cloud(args.seed, args.in_flight, events_per_second=500)
    run = on_cassandra if args.backend == "cassandra" else on_embedded
    try:
        written_in, seconds, views, before = run(workdir, args.events, cloud, args.processes,
                                                 not args.no_baseline)
    finally:
        shutil.rmtree(workdir)  # a million events take ~1 GB
    if views != cloud.containers + len(HOSTS):
        print(f"replay wrote {views} views of {cloud.containers + len(HOSTS)} subjects")
        return 1
    print(f"{cloud.events} events of {cloud.containers} containers and {len(HOSTS)} hosts, "
          f"{args.in_flight} lifecycles in flight; the log ({args.backend}) written in "
          f"{written_in:.1f} s")
    print(f"replay into fresh views ({args.processes} processes): {seconds:6.1f} s, "
          f"{cloud.events / seconds:8.0f} events/s, {views} views "
          f"(target <= {TARGET_SECONDS:.0f} s for 1,000,000 events: "
          f"{'met' if seconds * 1_000_000 / cloud.events <= TARGET_SECONDS else 'NOT met'})")
    if before is not None:
        print(f"baseline, subject by subject (a history read per subject, a save per view, one "
              f"process): {before:6.1f} s, {cloud.events / before:8.0f} events/s; replay takes "
              f"{seconds / before:.2f} of it")
    return 0
