"""BENCHMARK: where one create's time goes, hop by hop, on a backend: sequential creates through
a fresh Higgins, each hop's wall time from the recorded events' times, each process's CPU per
create from /proc, and (with --py-spy) the functions each process spent its samples in.
Side effects: starts its own Higgins on 127.0.0.1, makes and removes Docker containers, and
with --py-spy runs py-spy (scripts/install-bench-tools.sh) against its processes."""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import os
import signal
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import docker
import requests

from bench.lifecycle import BUSES, COMMAND, HEADERS, IMAGE, Higgins, cleanup, docker_run_one

PY_SPY = Path("/var/lib/higgins-bench/bin/py-spy")
# (hop, from, to): the client's request, the API's recording, each event's recording
HOPS = (("api: request to 202", "sent", "acknowledged"),
        ("api: request to create.requested recorded", "sent", "container.create.requested"),
        ("scheduler: create.requested to scheduled", "container.create.requested",
         "container.scheduled"),
        ("agent: scheduled to started (incl. Docker)", "container.scheduled",
         "container.started"),
        ("total: request to started", "sent", "container.started"))


def _ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def one_create(session: requests.Session, server: Higgins) -> dict[str, float]:
    """Marks (epoch seconds) of one create's moments, from the client and from the log."""
    marks = {"sent": time.time()}
    answer = session.post(f"{server.url}/v1/containers?run=true", headers=HEADERS, timeout=30,
                          json={"image": IMAGE, "command": COMMAND})
    answer.raise_for_status()
    marks["acknowledged"] = time.time()
    uuid = answer.json()["uuid"]
    deadline = time.monotonic() + 60
    while session.get(f"{server.url}/v1/containers/{uuid}", headers=HEADERS,
                      timeout=30).json()["status"] != "Running":
        if time.monotonic() > deadline:
            raise TimeoutError(f"{uuid} did not run")
        time.sleep(0.05)
    server.started_at(uuid)  # opens the log reader
    for event in server._log.history(uuid):  # noqa: SLF001 - the bench's own reader
        marks.setdefault(event["type"], datetime.datetime.fromisoformat(
            event["time"]).timestamp())
    session.delete(f"{server.url}/v1/containers/{uuid}?force=True", headers=HEADERS,
                   timeout=30)
    return marks


def profile(pids: dict[str, int], workdir: Path) -> list[subprocess.Popen[bytes]]:
    """py-spy on every process until `stop_profiles` (SIGINT makes it write what it has)."""
    return [subprocess.Popen([str(PY_SPY), "record", "--pid", str(pid), "--rate", "200",
                              "--format", "raw", "--nonblocking",
                              "--output", str(workdir / f"{name}.txt")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for name, pid in pids.items()]


def stop_profiles(spies: list[subprocess.Popen[bytes]]) -> None:
    for spy in spies:
        spy.send_signal(signal.SIGINT)
    for spy in spies:
        try:
            spy.wait(30)
        except subprocess.TimeoutExpired:
            spy.kill()


def top_functions(path: Path, count: int = 8) -> list[tuple[str, float]]:
    """The leaf frames with the largest share of a process's samples (idle waits included)."""
    if not path.exists():
        return []
    own: collections.Counter[str] = collections.Counter()
    for line in path.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        own[stack.split(";")[-1]] += int(samples)
    total = sum(own.values()) or 1
    return [(frame, 100 * n / total) for frame, n in own.most_common(count)]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="higgins bench hops", description=__doc__)
    parser.add_argument("--backend", choices=("embedded", *BUSES), default="embedded")
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--py-spy", action="store_true", help="profile every process too")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args([a for a in argv if a != "hops"])
    client = docker.DockerClient(base_url="unix:///var/run/docker.sock", version="auto")
    server = Higgins(args.backend)
    report: dict[str, Any] = {"backend": args.backend, "count": args.count}
    try:
        server.start()
        session = requests.Session()
        one_create(session, server)  # warm: first images, first connections
        pids = server.processes()
        spies = profile(pids, server.workdir) if args.py_spy else []
        before = {name: _ticks(pid) for name, pid in pids.items()}
        runs = [one_create(session, server) for _ in range(args.count)]
        cpu = {name: (_ticks(pid) - before[name]) * 1000 / os.sysconf("SC_CLK_TCK")
               / args.count for name, pid in pids.items()}
        stop_profiles(spies)
        raw: list[str] = []
        docker_ms = [docker_run_one(client, raw) * 1000 for _ in range(args.count)]
        cleanup(None, client, [], raw)
        report["hops_p50_ms"] = {hop: statistics.median(1000 * (r[end] - r[start])
                                                        for r in runs)
                                 for hop, start, end in HOPS}
        report["docker_create_start_p50_ms"] = statistics.median(docker_ms)
        report["cpu_ms_per_create"] = cpu
        if spies:
            report["top_functions"] = {name: top_functions(server.workdir / f"{name}.txt")
                                       for name in pids}
    finally:
        server.stop()
        client.close()
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0
