"""BENCHMARK: publishes per second and publish latency of the embedded log (SQLite WAL, fsync per
commit) from 1, 16 and 64 publishing threads, one transaction per publish against group commit,
in one run. Side effects: temp SQLite files, removed at the end."""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from higgins import events
from higgins.bus.embedded import EmbeddedBus

MODES = (False, True)  # group_commit: the baseline first, then group commit


@dataclass(frozen=True)
class Result:
    mode: str
    threads: int
    publishes: int
    per_second: float
    p50_ms: float
    p99_ms: float
    commits: int
    largest_group: int


def _envelope(subject: str, n: int) -> events.Envelope:
    """A container.stopped: small, like most of what the API and the agents publish."""
    return events.Envelope(id=str(uuid.uuid4()), type="container.stopped", subject=subject,
                           seq=0, time="2026-11-24T00:00:00+00:00", project_id="p",
                           user_id="u", request_id="req-bench", data={"exit_code": n})


def measure(path: Path, group_commit: bool, threads: int, publishes: int) -> Result:
    """`threads` threads released together, each publishing one event at a time on its own
    containers and on a few every thread shares, until `publishes` were acknowledged."""
    bus = EmbeddedBus(path, group_commit=group_commit)
    each = max(1, publishes // threads)
    work = [[_envelope(f"c{t}-{n % 8}" if n % 4 else f"shared-{n % 3}", n) for n in range(each)]
            for t in range(threads)]
    latencies: list[list[float]] = [[] for _ in range(threads)]
    barrier = threading.Barrier(threads + 1)

    def publish_all(worker: int) -> None:
        barrier.wait()
        for envelope in work[worker]:
            started = time.perf_counter()
            bus.publish([envelope])
            latencies[worker].append(time.perf_counter() - started)

    pool = [threading.Thread(target=publish_all, args=(t,)) for t in range(threads)]
    for thread in pool:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - started
    bus.close()
    every = sorted(s for worker in latencies for s in worker)
    cuts = statistics.quantiles(every, n=100, method="inclusive")
    return Result("group commit" if group_commit else "one per publish", threads, len(every),
                  len(every) / elapsed, cuts[49] * 1000, cuts[98] * 1000, bus.commits,
                  bus.largest_group)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="higgins bench embedded_log", description=__doc__)
    parser.add_argument("--publishes", type=int, default=2000, help="per thread count and mode")
    parser.add_argument("--concurrency", default="1,16,64", help="publishing threads, e.g. 1,16")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args([a for a in argv if a != "embedded_log"])
    workdir = Path(tempfile.mkdtemp(prefix="higgins-log-"))
    results: list[Result] = []
    try:
        for threads in [int(c) for c in args.concurrency.split(",")]:
            for grouped in MODES:
                path = workdir / f"{threads}-{'grouped' if grouped else 'single'}.db"
                results.append(measure(path, grouped, threads, args.publishes))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print("| threads | mode | publishes/s | p50 ms | p99 ms | commits | largest group |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r.threads} | {r.mode} | {r.per_second:,.0f} | {r.p50_ms:.2f} | "
              f"{r.p99_ms:.2f} | {r.commits:,} of {r.publishes:,} | {r.largest_group} |")
    for single, grouped in zip(results[::2], results[1::2], strict=True):
        print(f"{single.threads} threads: group commit "
              f"{grouped.per_second / single.per_second:.2f}x the publishes/s, "
              f"p50 {grouped.p50_ms / single.p50_ms:.2f}x, "
              f"p99 {grouped.p99_ms / single.p99_ms:.2f}x")
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))
    return 0


if __name__ == "__main__":  # `higgins bench embedded_log`, or python -m bench.embedded_log
    sys.exit(main(sys.argv[1:]))
