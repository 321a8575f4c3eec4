"""BENCHMARK: events out. (1) Event-to-webhook latency: from an event's time in the log to the
receiver's 2xx, through a whole Higgins (embedded or rabbitmq+cassandra) with one subscriber on
127.0.0.1, under a steady stream of creates. (2) Notifications per second the notifier sustains
into RabbitMQ (publisher confirms) over a generated log of lifecycles, every message counted in
a queue bound to the exchange.
Side effects: a fresh Higgins of its own (its creates name an absent image, so they fail on the
agent and no Docker container is made), a RabbitMQ vhost per run, dropped at the end."""

from __future__ import annotations

import argparse
import datetime
import http.server
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import requests

from bench.api import BODY, fresh_higgins
from bench.fold import make_log
from bench.lifecycle import HEADERS, ROOT

TARGETS = {"p50_ms": 50.0, "p99_ms": 250.0}


class Receiver:
    """Answers 204 to every POST and notes when, by webhook-id and the event's time."""

    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}  # webhook-id -> latency seconds (first arrival)
        self.requested: dict[str, float] = {}  # container uuid -> when its create arrived
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver would offer

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                self.send_response(204)
                self.send_header("content-length", "0")
                self.end_headers()
                answered = time.time()
                event = json.loads(body)["data"]
                sent = datetime.datetime.fromisoformat(event["time"]).timestamp()
                receiver.arrivals.setdefault(self.headers["webhook-id"], answered - sent)
                if event["type"] == "container.create.requested":
                    receiver.requested.setdefault(event["subject"], answered)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def latency(backend: str, creates: int, rate: float) -> dict[str, Any]:
    """`creates` creates at `rate` per second; every event of theirs delivered once: p50/p99."""
    receiver = Receiver()
    with fresh_higgins(backend, "[webhooks]\nallowed_networks = 127.0.0.0/8\n") as server:
        made = requests.post(f"{server.url}/v1/subscriptions", headers=HEADERS, timeout=30,
                             json={"url": receiver.url, "event_types": ["container.*"]})
        made.raise_for_status()
        session = requests.Session()
        started = time.monotonic()
        acked: dict[str, float] = {}  # uuid -> when its 202 came (after the log committed it)
        for index in range(creates):
            time.sleep(max(0.0, started + index / rate - time.monotonic()))
            answer = session.post(f"{server.url}/v1/containers", json=BODY, headers=HEADERS,
                                  timeout=30)
            answer.raise_for_status()
            acked[answer.json()["uuid"]] = time.time()
        expected = creates * 3  # create.requested, scheduled, failed (the absent image)
        deadline = time.monotonic() + 120
        while len(receiver.arrivals) < expected and time.monotonic() < deadline:
            time.sleep(0.1)
    receiver.server.shutdown()
    values = [v * 1000 for v in receiver.arrivals.values()]
    # commit-to-2xx: a create's 202 comes once the log committed it, so its webhook's 2xx
    # minus the 202 is at most the commit-to-2xx time (by the few ms from commit to 202)
    after_ack = [(receiver.requested[u] - at) * 1000 for u, at in acked.items()
                 if u in receiver.requested]
    return {"backend": backend, "creates": creates, "rate": rate, "events": len(values),
            "expected": expected, "p50_ms": statistics.median(after_ack),
            "p99_ms": _percentile(after_ack, 0.99), "max_ms": max(after_ack),
            "from_event_time_p50_ms": statistics.median(values),
            "from_event_time_p99_ms": _percentile(values, 0.99)}


def notifications(containers: int) -> dict[str, Any]:
    """The notifier over a generated log of `containers` lifecycles, into a fresh vhost."""
    import kombu

    from higgins.bus.notifications import NotificationPublisher
    from higgins.notifying import Notifier
    from higgins.store.sqlite import SqliteStore

    vhost = f"higgins-bench-{uuid.uuid4().hex[:8]}"
    subprocess.run([ROOT / "scripts" / "rabbitmq-vhost.sh", vhost], check=True)
    url = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    try:
        with tempfile.TemporaryDirectory() as workdir, kombu.Connection(url) as connection:
            bus, total = make_log(Path(workdir) / "events.db", containers)
            exchange = kombu.Exchange("higgins", type="topic", durable=False)
            queue = kombu.Queue("notifications.info", exchange, routing_key="notifications.info")
            queue(connection.channel()).declare()
            publisher = NotificationPublisher(url, "higgins", ["notifications"], "higgins.bench")
            notifier = Notifier(bus, SqliteStore(Path(workdir) / "views.db"), publisher.send)
            log = [e for s in bus.subjects() for e in bus.history(s)]
            started = time.monotonic()
            for at in range(0, len(log), 256):
                notifier.handle(log[at:at + 256])
            seconds = time.monotonic() - started
            sent = queue(connection.channel()).queue_declare(passive=True).message_count
            publisher.close()
            bus.close()
    finally:
        subprocess.run([ROOT / "scripts" / "rabbitmq-vhost.sh", "--delete", vhost], check=True)
    return {"events": total, "notifications": sent, "seconds": seconds,
            "per_second": sent / seconds}


def main(argv: list[str]) -> int:
    options = argparse.ArgumentParser(prog="higgins bench webhooks")
    options.add_argument("--backend", choices=("embedded", "rabbitmq", "kafka", "both"),
                         default="both", help="both: embedded and rabbitmq")
    options.add_argument("--creates", type=int, default=300)
    options.add_argument("--rate", type=float, default=20.0, help="creates per second")
    options.add_argument("--notify-containers", type=int, default=2000,
                         help="lifecycles (10 events each) for the notifications figure; 0: skip")
    wanted = options.parse_args(argv[1:] if argv[:1] == ["webhooks"] else argv)
    backends = ("embedded", "rabbitmq") if wanted.backend == "both" else (wanted.backend,)
    for backend in backends:
        row = latency(backend, wanted.creates, wanted.rate)
        verdict = ", ".join(f"{name} {'met' if row[name] <= limit else 'NOT met'}"
                            for name, limit in TARGETS.items())
        print(f"webhooks {backend}: {row['events']}/{row['expected']} events delivered; "
              f"commit(202)-to-2xx p50 {row['p50_ms']:.1f} ms, p99 {row['p99_ms']:.1f} ms, "
              f"max {row['max_ms']:.1f} ms at {row['rate']:g} creates/s ({verdict}); "
              f"from the event's time (set before the commit) p50 "
              f"{row['from_event_time_p50_ms']:.1f} ms, p99 {row['from_event_time_p99_ms']:.1f}")
        print(json.dumps(row), file=sys.stderr)
    if wanted.notify_containers:
        row = notifications(wanted.notify_containers)
        print(f"notifier: {row['notifications']} notifications from {row['events']} events in "
              f"{row['seconds']:.1f} s: {row['per_second']:.0f}/s sustained (confirmed)")
        print(json.dumps(row), file=sys.stderr)
    return 0
