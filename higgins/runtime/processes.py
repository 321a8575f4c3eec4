"""WIRING: Higgins as separate processes on the production backends: `higgins api`,
`higgins processor all|fold|scheduler` and `higgins agent`, each built from the same settings
(one INI file), and `higgins up --backend rabbitmq|kafka`, which runs the three together."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import flask

from higgins import api, folding
from higgins import bus as buses
from higgins import store as stores
from higgins.agents import calls
from higgins.agents.agent import Agent
from higgins.agents.docker_driver import DockerDriver
from higgins.api.agent_calls import RemoteAgents
from higgins.bus.base import Bus
from higgins.runtime.processing import Processors, event_groups
from higgins.settings import Settings
from higgins.store.base import Store

Progress = Callable[[str], None]

DEV_BUS_URLS = {"rabbitmq": "amqp://guest:guest@127.0.0.1:5672//",
                "kafka": "kafka://127.0.0.1:9092/higgins"}
DEV_STORE_URL = "cassandra://127.0.0.1:9042/higgins"


def open_bus(conf: Settings) -> Bus:
    return buses.by_url(conf.bus.url, conf.bus.log_url, event_groups(conf.notifications),
                        conf.bus.partitions)


def api_app(conf: Settings) -> flask.Flask:
    store = stores.by_url(conf.store_url)
    return api.configured_app(conf, open_bus(conf), store, RemoteAgents(store))


def start_processors(conf: Settings, names: tuple[str, ...],
                     stop: threading.Event) -> list[threading.Thread]:
    return Processors.configured(open_bus(conf), stores.by_url(conf.store_url), conf).run(
        stop, names, conf.processor_concurrency)


@dataclass
class RunningAgent:
    agent: Agent
    app: flask.Flask
    threads: list[threading.Thread]


def start_agent(conf: Settings, stop: threading.Event,
                progress: Progress = lambda line: None) -> RunningAgent:
    settings = conf.agent
    bus: Bus = open_bus(conf)
    store: Store = stores.by_url(conf.store_url)
    driver = DockerDriver(settings.docker_url, settings.docker_api_version, settings.host)
    agent = Agent(settings.host, bus, store, driver, settings.availability_zone, settings.url)
    agent.report()
    folding.current_host(bus, store, settings.host)
    progress(f"agent on host {settings.host!r} reported (calls at {settings.url}); reconciling")
    agent.reconcile()
    return RunningAgent(agent, calls.create_app(agent), agent.run(stop, settings.concurrency,
                                                                  settings.report_interval))


# -- `higgins up --backend rabbitmq|kafka` ---------------------------------------------------

ROLES = ("processor", "agent", "api")


def backend_config(conf: Settings, backend: str = "rabbitmq") -> str:
    """The INI lines that point the three processes at RabbitMQ (or Kafka) and Cassandra: the
    operator's own URLs when the config has them, the developer services' otherwise."""
    dev_bus = DEV_BUS_URLS[backend]
    scheme = dev_bus.split("://")[0]
    bus_url = conf.bus.url if conf.bus.url.startswith(f"{scheme}://") else dev_bus
    store_url = conf.store_url if conf.store_url.startswith("cassandra://") else DEV_STORE_URL
    log_url = conf.bus.log_url if conf.bus.log_url.startswith("cassandra://") else store_url
    return f"[bus]\nurl = {bus_url}\nlog_url = {log_url}\n[store]\nurl = {store_url}\n"


def supervise(conf: Settings, config_files: list[str], progress: Progress,
              backend: str = "rabbitmq") -> int:
    """Run api, processor and agent as child processes until a signal or until one exits."""
    conf.state_path.mkdir(parents=True, exist_ok=True)
    generated = conf.state_path / f"backend-{backend}.conf"
    generated.write_text(backend_config(conf, backend))
    files = [arg for f in [*config_files, str(generated)] for arg in ("--config-file", f)]
    children: dict[str, subprocess.Popen[bytes]] = {}
    stopping = threading.Event()

    def shutdown(signum: int, frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    for role in ROLES:
        command = [sys.executable, "-m", "higgins.cli", *files, role]
        if role == "processor":
            command.append("all")
        children[role] = subprocess.Popen(command, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        progress(f"started higgins {role} (pid {children[role].pid})")
    exited = ""
    while not stopping.is_set() and not exited:
        exited = next((role for role, child in children.items() if child.poll() is not None), "")
        stopping.wait(0.2)
    if exited:
        print(f"higgins {exited} exited with {children[exited].returncode}; stopping the others",
              file=sys.stderr)
    for child in children.values():
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + 20
    for child in children.values():
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
    return 1 if exited else 0
