"""BENCHMARK: the scheduler + fold event throughput with hosts that answer without Docker.
`--creates` containers are requested (container.create.requested, published in batches as the
API's would be) while the real scheduler places them, real agents on `--hosts` simulated hosts
answer each create command at once (created + started; no Docker), and the real fold writes
every event into the views. Measured: events through the pipeline per second (the four events
of each create, from the first publish until the fold has folded the last), and creates
Running per second. Everything runs in this process on one bus: embedded (SQLite), RabbitMQ or
Kafka (sequencers served here, the log and the views in a fresh Cassandra keyspace).
Side effects: temp SQLite files; a RabbitMQ virtual host or a Kafka namespace and a Cassandra
keyspace of its own (removed at the end)."""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from bench.lifecycle import CASSANDRA, fresh_bus, fresh_keyspace
from higgins import events, publishing
from higgins.agents.agent import Agent
from higgins.agents.docker_driver import Inventory
from higgins.agents.reconcile import Observed
from higgins.bus import by_url
from higgins.bus.base import Bus
from higgins.runtime.processing import Processors
from higgins.store import by_url as store_by_url
from higgins.store.base import Store

TARGET = 20_000  # events/s (H6: scheduler + fold, one broker)
EVENTS_PER_CREATE = 4  # create.requested, scheduled, created, started
BACKENDS = ("embedded", "rabbitmq", "kafka")


class AnsweringDriver:
    """A host that answers without Docker: every image is there, every create and start
    succeeds at once. The agent's own code (locks, drafts, tracking, publishing) runs as it
    does over Docker; only the engine's calls are gone."""

    def __init__(self, host: str) -> None:
        self.host = host
        self._made: set[str] = set()

    def inventory(self) -> Inventory:
        return Inventory(cpus=1024.0, memory_mb=4 * 1024 * 1024, runtimes=("runc",),
                         version="simulated", platform={}, disk_total_gb=100_000)

    def ensure_image(self, image: str, policy: str | None) -> None:
        """Every image is present."""

    def create(self, uuid: str, spec: dict[str, Any]) -> tuple[str, bool]:
        made_now = uuid not in self._made
        self._made.add(uuid)
        return f"simulated-{uuid}", made_now

    def act(self, uuid: str, verb: str, **options: Any) -> None:
        """Start, stop, pause: done at once."""

    def inspect(self, uuid: str) -> Observed | None:
        return None

    def managed(self) -> list[Observed]:
        return []

    def sandboxes(self) -> list[str]:
        return []

    def watch(self, stop: threading.Event) -> Iterator[str]:
        stop.wait()
        yield from ()


def _request(subject: str, now: str) -> events.Envelope:
    spec = {"name": f"pipe-{subject[:8]}", "image": "busybox:local", "command": ["true"],
            "run": True, "memory": 64, "cpu": 0.1}
    return events.Envelope(id=publishing.new_id(), type=str(events.EventType.CREATE_REQUESTED),
                           subject=subject, seq=0, time=now, project_id="bench",
                           user_id="bench", request_id="req-" + publishing.new_id(), data=spec)


def _backend(kind: str, cleanup: contextlib.ExitStack, hosts: Sequence[str]) -> tuple[Bus,
                                                                                      Store]:
    """The bus and the store of one run, removed with `cleanup`."""
    if kind == "embedded":
        workdir = Path(tempfile.mkdtemp(prefix="higgins-pipeline-"))
        bus = by_url(f"sqlite:///{workdir}/events.db")
        store = store_by_url(f"sqlite:///{workdir}/views.db")
    else:
        bus_url = cleanup.enter_context(fresh_bus(kind, "pipeline"))
        keyspace = cleanup.enter_context(fresh_keyspace("pipeline"))
        store = store_by_url(f"{CASSANDRA}/{keyspace}")
        cleanup.callback(store.close)
        groups = (*Processors.GROUPS, *(f"agent.{h}" for h in hosts))
        bus = by_url(bus_url, f"{CASSANDRA}/{keyspace}", groups)
    cleanup.callback(bus.close)
    return bus, store


def run(kind: str, creates: int, host_count: int, concurrency: int, batch: int) -> dict[str,
                                                                                      float]:
    """One measurement on a fresh bus and store: figures by name."""
    hosts = [f"sim-{i}-{uuid.uuid4().hex[:6]}" for i in range(host_count)]
    stop = threading.Event()
    folded = [0]
    started_events = [0]
    lock = threading.Lock()
    with contextlib.ExitStack() as cleanup:  # last made, first removed
        bus, store = _backend(kind, cleanup, hosts)
        processors = Processors(bus, store)
        real_fold = processors.fold

        def counting_fold(batch_: Sequence[events.Envelope]) -> None:
            real_fold(batch_)
            with lock:
                folded[0] += len(batch_)
                started_events[0] += sum(1 for e in batch_
                                         if e["type"] == events.EventType.STARTED)

        processors.fold = counting_fold  # type: ignore[method-assign]
        running: list[threading.Thread] = []
        try:
            running += processors.run(stop, ("fold", "scheduler", "log"), concurrency)
            agents = [Agent(h, bus, store, AnsweringDriver(h)) for h in hosts]  # type: ignore[arg-type]
            for agent in agents:
                agent.report()
                running += agent.run(stop, concurrency=4)
            deadline = time.monotonic() + 60
            while len(store.list_hosts()) < host_count:
                if time.monotonic() > deadline:
                    raise RuntimeError("the simulated hosts' reports were not folded in 60 s")
                time.sleep(0.05)
            with lock:
                before = folded[0]
            subjects = [publishing.new_id() for _ in range(creates)]
            began = time.monotonic()
            for start in range(0, creates, batch):
                now = publishing.utc_now()
                bus.publish([_request(s, now) for s in subjects[start:start + batch]])
            published = time.monotonic() - began
            deadline = time.monotonic() + 900
            while started_events[0] < creates and time.monotonic() < deadline:
                time.sleep(0.01)
            elapsed = time.monotonic() - began
            with lock:
                through = folded[0] - before
            return {"events": through, "seconds": elapsed, "events_per_s": through / elapsed,
                    "creates_per_s": started_events[0] / elapsed,
                    "publish_per_s": creates / published, "running": started_events[0]}
        finally:
            stop.set()
            deadline = time.monotonic() + 30
            for thread in running:
                thread.join(max(0.1, deadline - time.monotonic()))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="higgins bench pipeline", description=__doc__)
    parser.add_argument("--backend", default="kafka",
                        help=f"comma-separated, of {','.join(BACKENDS)} (default kafka)")
    parser.add_argument("--creates", type=int, default=2000)
    parser.add_argument("--hosts", type=int, default=10, help="simulated hosts, one agent each")
    parser.add_argument("--concurrency", type=int, default=8,
                        help="workers per processor ([processor] concurrency)")
    parser.add_argument("--batch", type=int, default=50, help="creates per publish")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args([a for a in argv if a != "pipeline"])
    kinds = args.backend.split(",")
    if unknown := [k for k in kinds if k not in BACKENDS]:
        parser.error(f"unknown backend {unknown}; use {BACKENDS}")
    print(f"{args.creates} creates ({EVENTS_PER_CREATE} events each) on {args.hosts} simulated "
          f"hosts, {args.concurrency} workers per processor, {args.batch} per publish")
    for kind in kinds:
        for number in range(1, args.runs + 1):
            got = run(kind, args.creates, args.hosts, args.concurrency, args.batch)
            verdict = "met" if got["events_per_s"] >= TARGET else "NOT met"
            print(f"{kind} run {number}: {got['events']:.0f} events folded in "
                  f"{got['seconds']:.1f} s = {got['events_per_s']:,.0f} events/s "
                  f"({got['creates_per_s']:,.0f} creates Running/s; {got['running']:.0f} of "
                  f"{args.creates} Running; published {got['publish_per_s']:,.0f} creates/s); "
                  f"H6 target >= {TARGET:,}/s: {verdict}")
    return 0
