"""BENCHMARK: create acknowledgements (202s) per second through the API and their latency, from
Debian's `wrk`, with a project already holding 0, 1,000, 10,000 containers.
Side effects: per measurement a fresh Higgins of its own on 127.0.0.1 (for rabbitmq or kafka a
virtual host or namespace and a keyspace of its own, removed at the end); the creates name an
absent image with pull policy `never`, so they fail on the agent and no Docker container is
made (any labelled with the run's host are removed anyway)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import docker
import requests

from bench.lifecycle import BUSES, HEADERS, Higgins
from higgins.agents.docker_images import LABEL_HOST

IMAGE = "higgins-bench/absent:1"  # absent on purpose: each container fails fast on the agent
BODY = {"name": "bench-api", "image": IMAGE, "command": ["true"], "image_pull_policy": "never"}
PROJECT = "default"  # the project of `[api] auth_strategy = noauth` without X-Project-Id
UNLIMITED = {"containers": -1, "cpu": -1, "memory": -1, "disk": -1}
LUA = Path(__file__).with_name("api_create.lua")
THREADS = 2
FILL_WORKERS = 32
FILL_RETRIES = 50
VIEW_WAIT_SECONDS = 300.0
# H4 item 9: acks/s at least, p99 ms at most; and no fall of the rate as the held count grows
TARGETS = {"embedded": (1000.0, 50.0), "rabbitmq": (500.0, 100.0), "kafka": (500.0, 100.0)}
LEVEL_RATIO = 0.90  # "no fall": within this fraction of the held-0 rate, given the noise


@dataclass
class Run:
    backend: str
    held: int
    connections: int
    fill_seconds: float
    settle_seconds: float  # after the fill, until none of the project's containers is Creating
    acks: int
    other: int
    seconds: float
    acks_per_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    socket_errors: int
    timeouts: int
    viewed: int
    view_wait_seconds: float
    drain_seconds: float  # after wrk, until none is Creating: the pipeline behind the 202s
    load: float  # 1-minute load average as wrk started: other work on the machine shows here
    cpu_ms_per_ack: float  # Higgins' processes from wrk's start to the drain: steadier than rates
    sample: str


def unlimit(url: str) -> None:
    response = requests.put(f"{url}/v1/quotas/{PROJECT}", json=UNLIMITED, headers=HEADERS,
                            timeout=30)
    response.raise_for_status()


def fill(url: str, count: int) -> tuple[float, int]:
    """Create `count` containers, FILL_WORKERS at a time, retrying 503s (a busy quota says "try
    again"); the seconds that took and the retries."""
    sessions = [requests.Session() for _ in range(FILL_WORKERS)]

    def create(index: int) -> int:
        for retries in range(FILL_RETRIES):
            response = sessions[index % FILL_WORKERS].post(f"{url}/v1/containers", json=BODY,
                                                           headers=HEADERS, timeout=120)
            if response.status_code == 202:
                return retries
            if response.status_code != 503:
                break
            time.sleep(0.01 * (retries + 1))
        raise RuntimeError(f"create answered {response.status_code}: {response.text[:300]}")

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=FILL_WORKERS) as pool:
        retried = sum(pool.map(create, range(count)))
    return time.monotonic() - started, retried


def run_wrk(url: str, connections: int, duration: float) -> dict[str, Any]:
    """wrk with bench/api_create.lua: the figures of its HIGGINS_BENCH line."""
    command = ["wrk", f"-t{THREADS}", f"-c{connections}", f"-d{duration:g}s", "--timeout", "30s",
               "-s", str(LUA), url]
    done = subprocess.run(command, env={**os.environ, "HIGGINS_BENCH_BODY": json.dumps(BODY)},
                          capture_output=True, text=True, timeout=duration + 120, check=True)
    figures: dict[str, Any] = {"sample": ""}
    for line in done.stdout.splitlines():
        if line.startswith("HIGGINS_BENCH "):
            figures.update((k, float(v)) for k, v in (p.split("=") for p in line.split()[1:]))
        elif line.startswith("HIGGINS_BENCH_SAMPLE "):
            figures["sample"] = line.split(" ", 1)[1]
    if "acks" not in figures:
        raise RuntimeError(f"wrk printed no figures:\n{done.stdout}\n{done.stderr}")
    return figures


def count_views(url: str) -> int:
    """The project's containers as its list shows them, following `next` links if it pages."""
    counted, next_url = 0, f"{url}/v1/containers"
    while next_url:
        page = requests.get(next_url, headers=HEADERS, timeout=300).json()
        counted += len(page["containers"])
        next_url = page.get("next")
    return counted


def wait_for_views(url: str, expected: int) -> tuple[int, float]:
    """Count the views until at least `expected` exist (or VIEW_WAIT_SECONDS pass)."""
    started = time.monotonic()
    viewed = count_views(url)
    while viewed < expected and time.monotonic() - started < VIEW_WAIT_SECONDS:
        time.sleep(1)
        viewed = count_views(url)
    return viewed, time.monotonic() - started


def _stat(pid: int) -> list[str]:
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return []


def cpu_seconds(pid: int) -> float:
    """CPU time used so far by a process and its children (`higgins up --backend
    rabbitmq|kafka` runs api, processor and agent as children), from /proc."""
    children = [int(p.name) for p in Path("/proc").iterdir()
                if p.name.isdigit() and _stat(int(p.name))[1:2] == [str(pid)]]
    ticks = sum(int(f[11]) + int(f[12]) for f in map(_stat, [pid, *children]) if f)
    return ticks / os.sysconf("SC_CLK_TCK")


def settle(url: str) -> float:
    """Wait until no container of the project is Creating (each fails on the agent in the end);
    the seconds that took. Each ask reads every view, so asking waits 4 times as long as the
    last answer took: the asking costs Higgins at most a fifth of its time."""
    started = time.monotonic()
    while True:
        asked = time.monotonic()
        if not requests.get(f"{url}/v1/containers", params={"status": "Creating", "limit": 1},
                            headers=HEADERS, timeout=60).json()["containers"]:
            return time.monotonic() - started
        if time.monotonic() - started > VIEW_WAIT_SECONDS:
            raise TimeoutError(f"containers still Creating after {VIEW_WAIT_SECONDS:g} s")
        time.sleep(max(0.2, 4 * (time.monotonic() - asked)))


def remove_labelled(host: str) -> None:
    """Docker containers an agent of `host` made (none are expected: the image is absent)."""
    client = docker.DockerClient(base_url="unix:///var/run/docker.sock", version="auto")
    for container in client.containers.list(all=True, filters={"label": f"{LABEL_HOST}={host}"}):
        container.remove(force=True)
    client.close()


@contextmanager
def fresh_higgins(backend: str, config: str = "") -> Iterator[Higgins]:
    """A Higgins of this measurement's own (with `config`, INI lines, added to its
    configuration), stopped and cleaned up whatever happens."""
    server = Higgins(backend)
    with open(server.workdir / "higgins.conf", "a") as conf:
        conf.write(config)
    failed = True
    try:
        server.start()
        unlimit(server.url)
        yield server
        failed = False
    finally:
        server.stop()
        remove_labelled(server.host)
        if failed and (server.workdir / "higgins.log").exists():
            tail = (server.workdir / "higgins.log").read_text(errors="replace")[-3000:]
            print(f"--- end of {server.workdir / 'higgins.log'}:\n{tail}", file=sys.stderr)
        shutil.rmtree(server.workdir, ignore_errors=True)


def measure(backend: str, held: int, connections: int, duration: float) -> Run:
    """One row: a fresh Higgins holding `held` containers, then wrk for `duration` seconds."""
    with fresh_higgins(backend) as server:
        fill_seconds, retried = fill(server.url, held)
        settle_seconds = settle(server.url)
        print(f"{backend}: {held} containers held after {fill_seconds:.1f} s"
              f"{f' ({held / fill_seconds:.0f}/s, {retried} retried 503s)' if held else ''}"
              f", all failed on the agent {settle_seconds:.1f} s later; "
              f"wrk, {connections} connections, {duration:g} s", file=sys.stderr)
        assert server.process is not None
        load, cpu = os.getloadavg()[0], cpu_seconds(server.process.pid)
        figures = run_wrk(server.url, connections, duration)
        drain_seconds = settle(server.url)
        cpu = cpu_seconds(server.process.pid) - cpu
        viewed, waited = wait_for_views(server.url, held + int(figures["acks"]))
    acks = int(figures["acks"])
    return Run(backend, held, connections, fill_seconds, settle_seconds, acks,
               int(figures["other"]), figures["seconds"], acks / figures["seconds"],
               figures["p50_us"] / 1000, figures["p99_us"] / 1000, figures["max_us"] / 1000,
               int(figures["socket_errors"]), int(figures["timeouts"]), viewed - held, waited,
               drain_seconds, load, cpu * 1000 / max(acks, 1), figures["sample"])


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def table(runs: list[Run]) -> list[str]:
    lines = [f"{'backend':<9} {'held':>6} {'conns':>5} {'fill s':>6} {'settle':>6} "
             f"{'acks/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'non202':>6} {'errors':>6} "
             f"{'acked':>6} {'viewed':>6} {'drain':>6} {'load':>5} {'cpu ms/ack':>10}"]
    lines += [f"{r.backend:<9} {r.held:>6} {r.connections:>5} {r.fill_seconds:>6.1f} "
              f"{r.settle_seconds:>6.1f} {r.acks_per_s:>7.1f} {r.p50_ms:>7.1f} {r.p99_ms:>7.1f} "
              f"{r.other:>6} {r.socket_errors + r.timeouts:>6} {r.acks:>6} {r.viewed:>6} "
              f"{r.drain_seconds:>6.1f} {r.load:>5.1f} {r.cpu_ms_per_ack:>10.2f}"
              for r in runs]
    lines += ["fill s / settle: creating the held containers / until none is Creating after",
              "non202 / errors: answers other than 202 / socket errors and timeouts (wrk)",
              "acked: 202s wrk saw; viewed: the list's growth over the held count, which may",
              "  exceed acked by up to the connections (creates in flight when wrk stopped)",
              "drain: seconds after wrk until none is Creating (the pipeline behind the 202s)",
              "load: 1-minute load average as wrk started; cpu ms/ack: CPU of Higgins'",
              "  processes from wrk's start to the drain, per 202 (the whole failing create)"]
    lines += [f"first non-202 ({r.backend}, held {r.held}, {r.connections} connections): "
              f"{r.sample}" for r in runs if r.sample]
    return lines


def verdicts(runs: list[Run]) -> list[str]:
    """Each row against its backend's targets, then each rate against the held-0 rate."""
    lines = []
    for r in runs:
        rate, p99 = TARGETS[r.backend]
        lines.append(f"{r.backend}, held {r.held}, {r.connections} connections: "
                     f"{r.acks_per_s:.0f} acks/s (target >= {rate:g}: "
                     f"{_met(r.acks_per_s >= rate)}), p99 {r.p99_ms:.1f} ms (target <= {p99:g}: "
                     f"{_met(r.p99_ms <= p99)}), every ack viewed: {_met(r.viewed >= r.acks)}")
    for r in runs:
        base = next((b for b in runs if (b.backend, b.connections) == (r.backend, r.connections)
                     and b.held == min(x.held for x in runs)), r)
        if base is not r:
            ratio = r.acks_per_s / base.acks_per_s
            lines.append(f"{r.backend}, {r.connections} connections: held {r.held} runs at "
                         f"{ratio:.2f} of held {base.held}'s rate (target: no fall, "
                         f">= {LEVEL_RATIO:.2f}: {_met(ratio >= LEVEL_RATIO)})")
    return lines


def _levels(text: str) -> list[int]:
    return [int(x) for x in text.split(",")]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="higgins bench api", description=__doc__)
    parser.add_argument("--backend", default="embedded",
                        help=f"comma-separated: embedded, {', '.join(BUSES)} (`higgins up "
                             f"--backend {'|'.join(BUSES)}` on the services of "
                             f"scripts/start-*.sh)")
    parser.add_argument("--held", default="0,1000,10000",
                        help="comma-separated: containers the project holds before wrk starts")
    parser.add_argument("--connections", default="16,64", help="comma-separated wrk levels")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of each wrk run")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv[1:] if argv[:1] == ["api"] else argv)
    backends = args.backend.split(",")
    if unknown := set(backends) - set(TARGETS):
        parser.error(f"unknown backend {', '.join(sorted(unknown))}; use "
                     f"{', '.join(TARGETS)}")
    if shutil.which("wrk") is None:
        print("higgins bench api needs wrk: apt-get install wrk (scripts/install.sh does)",
              file=sys.stderr)
        return 2
    runs: list[Run] = []
    try:
        for backend in backends:
            for held in _levels(args.held):
                for connections in _levels(args.connections):
                    runs.append(measure(backend, held, connections, args.duration))
    finally:  # what was measured, even when a later measurement failed
        print("\n".join(table(runs) + [""] + verdicts(runs)))
        if args.json:
            args.json.write_text(json.dumps({"runs": [asdict(r) for r in runs],
                                             "targets": TARGETS, "level_ratio": LEVEL_RATIO},
                                            indent=2))
    return 0
