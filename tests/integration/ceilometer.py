"""EDGE (test harness): the real `ceilometer-agent-notification` of scripts/install-ceilometer.sh
as a subprocess on a RabbitMQ virtual host, metering with etc/ceilometer/meters.d into a JSON
file in its work directory (the file publisher; no Gnocchi, no database). Starts a process
group and, once stopped, leaves nothing running.

Start-up measured here: 3.5 s from spawn until its queue has a consumer on a quiet machine (2.6 s
of imports, 0.5 s compiling the meter definitions' JSONPaths), up to 9 s while other suites
ran; a graceful stop takes ~0.4 s."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kombu
import kombu.exceptions

from tests.integration.conftest import wait_for
from tests.services import ROOT

VENV = Path(os.environ.get("HIGGINS_CEILOMETER_VENV", "/var/lib/higgins-ceilometer"))
METERS = ROOT / "etc" / "ceilometer" / "meters.d"
# oslo.messaging's notification queue for topic `notifications` and priority INFO: one queue
# bound to every control exchange Ceilometer listens on, with the routing key of its name.
QUEUE = "notifications.info"
Sample = dict[str, Any]


class Ceilometer:
    """One notification agent listening on `exchange` of the broker at `transport_url` (an
    `amqp://` URL as tests.services.rabbitmq_vhost gives), declared `durable` or not, writing
    samples to workdir/samples."""

    def __init__(self, workdir: Path, transport_url: str, exchange: str = "higgins",
                 durable: bool = True) -> None:
        self.workdir = workdir
        self.transport_url = transport_url
        self.exchange = exchange
        self.durable = durable  # must equal the publisher's: Higgins' [notifications] durable
        self.samples_path = workdir / "samples"
        self.log_path = workdir / "ceilometer-agent-notification.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.start_seconds = 0.0

    def start(self) -> None:
        agent = VENV / "bin" / "ceilometer-agent-notification"
        if not agent.exists():
            raise RuntimeError(f"{agent} is missing: run scripts/install-ceilometer.sh")
        config = self._write_config()
        began = time.monotonic()
        with open(self.log_path, "ab") as log:
            # A session of its own: stop() ends cotyledon's master and its worker together.
            self.process = subprocess.Popen(
                [str(agent), "--config-file", str(config)], stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
                env={**os.environ, "PYTHONWARNINGS": "ignore::DeprecationWarning"})
        try:
            with kombu.Connection(self.transport_url) as connection:
                wait_for(lambda: self._consuming(connection), 60,
                         f"ceilometer consuming {QUEUE} (log: {self.log_path})")
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - began

    def samples(self) -> list[Sample]:
        """Every sample written so far, oldest first (a line still being written is left out)."""
        try:
            text = self.samples_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        lines = text.split("\n")[:-1]  # the last piece has no newline yet (or is empty)
        return [json.loads(line) for line in lines if line]

    def wait_for_samples(self, predicate: Callable[[list[Sample]], bool],
                         timeout: float = 30.0) -> list[Sample]:
        """The samples, once `predicate` holds for them."""
        def probe() -> list[Sample] | None:
            self._check_running()
            samples = self.samples()
            return samples if predicate(samples) else None
        return wait_for(probe, timeout, f"samples in {self.samples_path}")

    def stop(self) -> None:
        if self.process is None:
            return
        group = self.process.pid  # the session leader's pid is its process group's id
        if self.process.poll() is None:
            self.process.terminate()  # cotyledon passes SIGTERM on to its worker
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(group, signal.SIGKILL)  # whatever of the group outlived the master
        except ProcessLookupError:
            pass
        self.process.wait(10)
        self.process = None

    def _write_config(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        pipeline = self.workdir / "pipeline.yaml"
        pipeline.write_text(
            "---\nsources:\n  - name: higgins_source\n    meters: ['*']\n"
            "    sinks: [file_sink]\nsinks:\n  - name: file_sink\n    publishers:\n"
            f"      - file://{self.samples_path}?json\n")
        config = self.workdir / "ceilometer.conf"
        config.write_text(
            f"[DEFAULT]\ntransport_url = {self._oslo_url()}\npipeline_cfg_file = {pipeline}\n"
            "[notification]\n"
            f"notification_control_exchanges = {self.exchange}\n"
            "pipelines = meter\nworkers = 1\n"
            "[meter]\n"
            # Only Higgins' definitions: Ceilometer's own (Nova, Glance...) add ~2 s of start-up.
            f"meter_definitions_dirs = {METERS}\n"
            "[oslo_messaging_notifications]\ntopics = notifications\n"
            # The exchange's durability: a declare that differs from the publisher's fails.
            f"[oslo_messaging_rabbit]\namqp_durable_queues = {str(self.durable).lower()}\n")
        return config

    def _oslo_url(self) -> str:
        """oslo.messaging names the scheme `rabbit`, kombu `amqp`."""
        scheme, rest = self.transport_url.split("://", 1)
        return f"rabbit://{rest}" if scheme in ("amqp", "pyamqp") else self.transport_url

    def _check_running(self) -> None:
        if self.process is None or self.process.poll() is not None:
            raise AssertionError(f"ceilometer-agent-notification is not running; "
                                 f"see {self.log_path}")

    def _consuming(self, connection: kombu.Connection) -> bool:
        """Its queue has a consumer: oslo.messaging declares the exchange, the queue and the
        binding before it consumes, so notifications published from now on are metered."""
        self._check_running()
        channel = connection.channel()
        try:
            channel.exchange_declare(self.exchange, "topic", passive=True)
            declared = channel.queue_declare(QUEUE, passive=True)
        except kombu.exceptions.ChannelError:  # 404: not declared yet (the broker closed it)
            return False
        channel.close()
        return int(declared.consumer_count) > 0
