"""BENCHMARK: create-to-Running through Higgins against the same work on raw Docker, in one run.
Side effects: starts its own `higgins up` on 127.0.0.1 (for rabbitmq or kafka on a virtual host
or namespace and a keyspace of its own, removed at the end), makes and removes Docker
containers."""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import docker
import requests

IMAGE = "busybox:local"
COMMAND = ["sleep", "300"]
HEADERS = {"OpenStack-API-Version": "container 1.40"}
WAIT_SECONDS = 60.0
# H4's targets (the throughput ratio is judged at every concurrency level measured)
TARGETS: dict[str, float | None] = {"overhead_p50_ms": 20.0, "throughput_ratio": 0.90,
                                    "idle_rss_mb": 150.0}
# ... and on the production backends (api, processor and agent processes; kafka is judged
# against rabbitmq's, so the two are recorded side by side)
SERVICES_TARGETS: dict[str, float | None] = {"overhead_p50_ms": 60.0, "throughput_ratio": 0.80,
                                             "idle_rss_mb": 150.0}
# "events": a Higgins container counts as Running at the time its container.started event
# was recorded (read from the log afterwards), raw Docker's when its start call returned, so
# the waiting clients' polling neither adds its interval nor competes for the CPU much (they
# poll every 100 ms); "poll": both are polled every --poll-ms until they show running.
TIMING = "events"
ROOT = Path(__file__).resolve().parent.parent
# the backends on the services of scripts/start-*.sh: a bus of their own and Cassandra
BUSES = ("rabbitmq", "kafka")
KAFKA = "127.0.0.1:9092"
CASSANDRA = "cassandra://127.0.0.1:9042"


@contextmanager
def fresh_bus(backend: str, purpose: str) -> Iterator[str]:
    """The URL of a bus of the caller's own: a fresh virtual host of scripts/start-rabbitmq.sh's
    broker, or a fresh namespace on scripts/start-kafka.sh's (its topics are made by the first
    process that opens the bus). Side effects: makes the virtual host; afterwards deletes it, or
    every topic of the namespace and the (empty) data directories its consumer groups' faust
    apps made in this process's working directory."""
    name = f"higgins-{purpose}-{uuid.uuid4().hex[:8]}"
    if backend == "kafka":
        from higgins.bus.kafka import delete_namespace

        try:
            yield f"kafka://{KAFKA}/{name}"
        finally:
            delete_namespace(KAFKA, name)
            for datadir in Path.cwd().glob(f"{name}.*-data"):
                shutil.rmtree(datadir, ignore_errors=True)
        return
    if backend != "rabbitmq":
        raise ValueError(f"no bus of its own for backend {backend!r}; use one of {BUSES}")
    script = ROOT / "scripts" / "rabbitmq-vhost.sh"
    subprocess.run([script, name], check=True)
    try:
        yield f"amqp://guest:guest@127.0.0.1:5672/{name}"
    finally:
        subprocess.run([script, "--delete", name], check=True)


@contextmanager
def fresh_keyspace(purpose: str) -> Iterator[str]:
    """The name of a keyspace of the caller's own on scripts/start-cassandra.sh's node (made by
    whoever connects first; its URL is f"{CASSANDRA}/{name}"). Side effect: the keyspace is
    dropped afterwards."""
    keyspace = f"higgins_{purpose}_{uuid.uuid4().hex[:8]}"
    try:
        yield keyspace
    finally:
        from cassandra.cluster import Cluster

        cluster = Cluster(["127.0.0.1"], port=9042, protocol_version=5)
        try:
            cluster.connect().execute(f"DROP KEYSPACE IF EXISTS {keyspace}")
        finally:
            cluster.shutdown()


@dataclass
class Result:
    mode: str
    concurrency: int
    count: int
    p50_ms: float
    p95_ms: float
    throughput: float


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def _summarise(mode: str, concurrency: int, latencies: list[float], wall: float) -> Result:
    return Result(mode, concurrency, len(latencies), statistics.median(latencies) * 1000,
                  _percentile(latencies, 0.95) * 1000, len(latencies) / wall)


class Higgins:
    """A `higgins up` of the benchmark's own, on a free port, with a fresh state directory; for
    rabbitmq or kafka with a bus (`fresh_bus`) and a keyspace (`fresh_keyspace`) of its own,
    removed by `stop`."""

    def __init__(self, backend: str = "embedded") -> None:
        self.backend = backend
        self.workdir = Path(tempfile.mkdtemp(prefix="higgins-bench-"))
        self.host = f"bench-{uuid.uuid4().hex[:8]}"
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        (self.workdir / "higgins.conf").write_text(
            f"[DEFAULT]\nhost = {self.host}\nstate_path = {self.workdir / 'state'}\n"
            f"log_level = WARNING\n[api]\nport = {self.port}\n"
            # unlimited, yet every create still reserves on the ledger (its cost is measured)
            "[quota]\ncontainers = -1\ncpu = -1\nmemory = -1\n")
        self.process: subprocess.Popen[bytes] | None = None
        self._log: Any = None
        self._services = contextlib.ExitStack()  # closed by stop
        self.store_url = ""  # the Cassandra keyspace's, on rabbitmq and kafka
        if backend in BUSES:
            with contextlib.ExitStack() as services:  # removed again if what follows fails
                bus_url = services.enter_context(fresh_bus(backend, "bench"))
                keyspace = services.enter_context(fresh_keyspace("bench"))
                self.store_url = f"{CASSANDRA}/{keyspace}"
                with open(self.workdir / "higgins.conf", "a") as conf:
                    conf.write(f"[bus]\nurl = {bus_url}\n[store]\nurl = {self.store_url}\n"
                               f"[agent]\nport = {free_port()}\n")
                self._services = services.pop_all()

    def start(self) -> None:
        """Run `higgins up` in the work directory (where the faust apps of a kafka backend put
        their data directories) and wait until its agent's host is reported."""
        with open(self.workdir / "higgins.log", "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "higgins.cli", "--config-file",
                 str(self.workdir / "higgins.conf"), "up", "--backend", self.backend],
                stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)
        _wait(lambda: _answers(self.url), f"higgins on {self.url}")
        _wait(lambda: self.host in requests.get(f"{self.url}/v1/hosts", timeout=5).text,
              f"host {self.host} reported")

    def processes(self) -> dict[str, int]:
        """`higgins up` and, on rabbitmq or kafka, each process it runs (by role): their
        pids."""
        assert self.process is not None
        pids = {"higgins up": self.process.pid}
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        for child in children.read_text().split() if children.exists() else []:
            argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
            role = next((a.decode() for a in argv if a in (b"api", b"processor", b"agent")),
                        child)
            pids[f"higgins {role}"] = int(child)
        return pids

    def rss_mb(self) -> dict[str, float]:
        """Resident memory of each of `processes`."""
        return {name: _rss_mb(pid) for name, pid in self.processes().items()}

    def started_at(self, uuid: str) -> float:
        """When the container's container.started event was recorded (epoch seconds)."""
        if self._log is None:
            if self.store_url:
                from higgins.bus.cassandra_log import CassandraLog

                self._log = CassandraLog(self.store_url)
            else:
                from higgins.bus.embedded import EmbeddedBus

                self._log = EmbeddedBus(self.workdir / "state" / "events.db")
        started = [e for e in self._log.history(uuid) if e["type"] == "container.started"]
        if not started:
            raise RuntimeError(f"no container.started recorded for {uuid}")
        return datetime.datetime.fromisoformat(started[0]["time"]).timestamp()

    def stop(self) -> None:
        """Terminate `higgins up`; for rabbitmq or kafka remove its bus (the virtual host, or
        the namespace's topics) and drop its keyspace, even if it died."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self._log is not None:
            self._log.close()
            self._log = None
        self._services.close()


def free_port() -> int:
    """A port on 127.0.0.1 free right now (the socket that found it is closed again)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        status: int = requests.get(url + "/", timeout=1).status_code
        return status == 200
    except requests.ConnectionError:
        return False


POLL_SECONDS = 0.005


def _wait(probe: Callable[[], bool], what: str, timeout: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(POLL_SECONDS)
    raise TimeoutError(f"timed out waiting for {what}")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def higgins_run_one(session: requests.Session, url: str, made: list[str],
                    server: Higgins | None = None) -> float:
    """POST ?run=true, then poll until Running; the seconds to Running (see TIMING)."""
    wall = time.time()
    started = time.monotonic()
    response = session.post(f"{url}/v1/containers?run=true", headers=HEADERS, timeout=30,
                            json={"image": IMAGE, "command": COMMAND})
    response.raise_for_status()
    ident = response.json()["uuid"]
    made.append(ident)

    def running() -> bool:
        shown = session.get(f"{url}/v1/containers/{ident}", headers=HEADERS, timeout=30).json()
        if shown["status"] == "Error":
            raise RuntimeError(f"container {ident} failed: {shown['status_reason']}")
        return bool(shown["status"] == "Running")

    _wait(running, f"{ident} Running")
    if TIMING == "events" and server is not None:
        return server.started_at(ident) - wall
    return time.monotonic() - started


def docker_run_one(client: docker.DockerClient, made: list[str]) -> float:
    """The same work on raw Docker: create + start, until inspect says running."""
    started = time.monotonic()
    container = client.containers.run(IMAGE, COMMAND, detach=True,
                                      name=f"bench-raw-{uuid.uuid4().hex[:12]}")
    made.append(container.id)
    if TIMING == "events":
        return time.monotonic() - started  # its start call returned: the moment it runs

    def running() -> bool:
        attrs: dict[str, Any] = client.api.inspect_container(container.id)
        return attrs["State"]["Running"] is True

    _wait(running, f"{container.id} running")
    return time.monotonic() - started


def measure(mode: str, concurrency: int, count: int, one: Callable[[], float]) -> Result:
    """`count` runs of `one` on `concurrency` threads. With --timing events the throughput is
    concurrency / mean latency (the clients' gaps between noticing Running and the next create
    left out); with --timing poll, count / the wall time of the round."""
    started = time.time()

    def timed(_: int) -> tuple[float, float]:
        begun = time.time()
        return begun, one()

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        runs = list(pool.map(timed, range(count)))
    latencies = [latency for _, latency in runs]
    if TIMING == "events":
        # closed loop (Little's law): `concurrency` containers always on their way, each
        # taking its latency; the clients' own gaps (noticing Running) are not the system's
        span = sum(latencies) / concurrency
    else:
        span = max(begun + latency for begun, latency in runs) - started
    return _summarise(mode, concurrency, latencies, span)


def cleanup(url: str | None, client: docker.DockerClient, higgins_made: list[str],
            raw_made: list[str]) -> None:
    for ident in higgins_made:
        if url:
            requests.delete(f"{url}/v1/containers/{ident}?force=True", headers=HEADERS,
                            timeout=30)
    for container_id in raw_made:
        with contextlib.suppress(docker.errors.NotFound):
            client.api.remove_container(container_id, force=True)
    if url:
        _wait(lambda: not requests.get(f"{url}/v1/containers", headers=HEADERS,
                                       timeout=30).json()["containers"], "Higgins cleanup")
    higgins_made.clear()
    raw_made.clear()


@contextmanager
def higgins_under_test(url: str | None,
                       backend: str = "embedded") -> Iterator[tuple[str, Higgins | None]]:
    if url:
        yield url, None
        return
    server = Higgins(backend)
    try:
        server.start()
        yield server.url, server
    finally:
        server.stop()


def run_rounds(url: str, client: docker.DockerClient, count: int,
               levels: list[int], server: Higgins | None = None) -> list[Result]:
    """Alternate raw Docker and Higgins per concurrency level, so noise hits both."""
    results: list[Result] = []
    session = requests.Session()
    higgins_made: list[str] = []
    raw_made: list[str] = []
    try:
        for concurrency in levels:
            results.append(measure("docker", concurrency, count,
                                   lambda: docker_run_one(client, raw_made)))
            cleanup(None, client, higgins_made, raw_made)
            results.append(measure("higgins", concurrency, count,
                                   lambda: higgins_run_one(session, url, higgins_made,
                                                           server)))
            cleanup(url, client, higgins_made, raw_made)
    finally:
        cleanup(url, client, higgins_made, raw_made)
    return results


def comparisons(results: list[Result]) -> list[dict[str, Any]]:
    rows = []
    for level in sorted({r.concurrency for r in results}):
        raw = next(r for r in results if r.mode == "docker" and r.concurrency == level)
        ours = next(r for r in results if r.mode == "higgins" and r.concurrency == level)
        rows.append({"concurrency": level,
                     "overhead_p50_ms": ours.p50_ms - raw.p50_ms,
                     "overhead_p95_ms": ours.p95_ms - raw.p95_ms,
                     "throughput_ratio": ours.throughput / raw.throughput})
    return rows


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _against(value: float, relation: str, target: float | None) -> str:
    if target is None:
        return "(no target)"
    ok = value <= target if relation == "<=" else value >= target
    return f"(target {relation} {target:g}: {_met(ok)})"


def report(results: list[Result], rows: list[dict[str, Any]], rss: dict[str, float]) -> str:
    lines = [f"{'mode':<8} {'conc':>4} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'per s':>7}"]
    lines += [f"{r.mode:<8} {r.concurrency:>4} {r.count:>4} {r.p50_ms:>8.1f} {r.p95_ms:>8.1f} "
              f"{r.throughput:>7.2f}" for r in results]
    lines.append("")
    for row in rows:
        lines.append(
            f"concurrency {row['concurrency']}: overhead p50 {row['overhead_p50_ms']:+.1f} ms "
            f"{_against(row['overhead_p50_ms'], '<=', TARGETS['overhead_p50_ms'])}, "
            f"p95 {row['overhead_p95_ms']:+.1f} ms; throughput ratio "
            f"{row['throughput_ratio']:.2f} "
            f"{_against(row['throughput_ratio'], '>=', TARGETS['throughput_ratio'])}")
    for moment, value in rss.items():
        lines.append(f"RSS of {moment}: {value:.1f} MB "
                     f"{_against(value, '<=', TARGETS['idle_rss_mb'])}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="higgins bench lifecycle", description=__doc__)
    parser.add_argument("--count", type=int, default=20, help="containers per measurement")
    parser.add_argument("--concurrency", default="1,4", help="comma-separated levels")
    parser.add_argument("--url", help="measure an already running Higgins instead")
    parser.add_argument("--backend", choices=("embedded", *BUSES), default="embedded",
                        help="rabbitmq or kafka: `higgins up --backend rabbitmq|kafka` (api, "
                             "processor and agent processes on the services of "
                             "scripts/start-*.sh)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--poll-ms", type=float, default=None,
                        help="how often a waiting client asks for the status (default 100 "
                             "with --timing events, 10 with --timing poll)")
    parser.add_argument("--timing", choices=("events", "poll"), default="events",
                        help="events: Running when container.started was recorded (start "
                             "returned, for raw Docker); poll: when a client saw it")
    args = parser.parse_args([a for a in argv if a != "lifecycle"])
    global POLL_SECONDS, TIMING
    TIMING = args.timing if args.url is None else "poll"
    POLL_SECONDS = (args.poll_ms or (100.0 if TIMING == "events" else 10.0)) / 1000
    levels = [int(x) for x in args.concurrency.split(",")]
    client = docker.DockerClient(base_url="unix:///var/run/docker.sock", version="auto")
    rss: dict[str, float] = {}
    if args.backend in BUSES:
        TARGETS.update(SERVICES_TARGETS)
    with higgins_under_test(args.url, args.backend) as (url, server):
        if server is not None:
            time.sleep(3)
            rss |= {f"{name} idle after start": mb for name, mb in server.rss_mb().items()}
        results = run_rounds(url, client, args.count, levels, server)
        if server is not None:
            time.sleep(3)
            rss |= {f"{name} idle after the run": mb
                    for name, mb in server.rss_mb().items()}
    rows = comparisons(results)
    print(report(results, rows, rss))
    if args.json:
        args.json.write_text(json.dumps({"results": [asdict(r) for r in results],
                                         "comparisons": rows, "rss_mb": rss,
                                         "targets": TARGETS, "pid": os.getpid()}, indent=2))
    client.close()
    return 0
