"""WIRING: Higgins as separate processes on the production backends: `higgins api`,
`higgins processor all|fold|scheduler` and `higgins agent`, each built from the same settings
(one INI file), and `higgins up --backend rabbitmq|kafka`, which runs the three together.
Side effects of `up --backend`: the agents' call key made once in state_path (mode 0600)."""

from __future__ import annotations

import ipaddress
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import flask

from higgins import api, folding
from higgins import bus as buses
from higgins import store as stores
from higgins.agents import calls
from higgins.agents.agent import Agent
from higgins.agents.docker_driver import DockerDriver
from higgins.agents.openstack_parts import OpenStackParts
from higgins.api.agent_calls import RemoteAgents
from higgins.bus.base import Bus
from higgins.runtime.processing import Processors, event_groups
from higgins.settings import AgentSettings, Settings
from higgins.store.base import Store

Progress = Callable[[str], None]

DEV_BUS_URLS = {"rabbitmq": "amqp://guest:guest@127.0.0.1:5672//",
                "kafka": "kafka://127.0.0.1:9092/higgins"}
DEV_STORE_URL = "cassandra://127.0.0.1:9042/higgins"
MIN_AUTH_KEY_LENGTH = 32
AUTH_KEY_FILE = "agent-auth.key"  # in state_path: the key `higgins up --backend` made


class StartRefused(RuntimeError):
    """A setting the process cannot safely run with; the message says what to set."""


def auth_key(settings: AgentSettings) -> str:
    """[agent] auth_key, without which `higgins api` and `higgins agent` do not start."""
    if not settings.auth_key:
        raise StartRefused(
            "no [agent] auth_key is set: the API signs its calls to the agents with it. Set "
            "the same key (at least 32 characters, e.g. from `openssl rand -hex 32`) in the "
            "config file of the API and of every agent")
    if len(settings.auth_key) < MIN_AUTH_KEY_LENGTH:
        raise StartRefused(f"[agent] auth_key is too short: give it at least "
                           f"{MIN_AUTH_KEY_LENGTH} characters (e.g. `openssl rand -hex 32`)")
    return settings.auth_key


def agent_address(settings: AgentSettings) -> str:
    """[agent] host_ip, unless it is every address of the host and that was not allowed."""
    try:
        unspecified = ipaddress.ip_address(settings.host_ip).is_unspecified
    except ValueError:  # a host name: it resolves to addresses of its own
        unspecified = False
    if unspecified and not settings.allow_any_address:
        raise StartRefused(
            f"[agent] host_ip is {settings.host_ip}, every address of this host: set it to "
            "the host's management address, which only the API hosts reach (or set [agent] "
            "allow_any_address = true where a firewall keeps the agent's port apart)")
    return settings.host_ip


def open_bus(conf: Settings) -> Bus:
    return buses.by_url(conf.bus.url, conf.bus.log_url, event_groups(conf.notifications),
                        conf.bus.partitions)


def api_app(conf: Settings) -> flask.Flask:
    key = auth_key(conf.agent)
    store = stores.by_url(conf.store_url)
    return api.configured_app(conf, open_bus(conf), store, RemoteAgents(store, key))


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
    key = auth_key(settings)
    agent_address(settings)
    bus: Bus = open_bus(conf)
    store: Store = stores.by_url(conf.store_url)
    driver = DockerDriver(settings.docker_url, settings.docker_api_version, settings.host)
    agent = Agent(settings.host, bus, store, driver, settings.availability_zone, settings.url,
                  dict(settings.labels), settings.reserved_host_memory_mb,
                  OpenStackParts.configured(conf, driver, store))
    agent.report()
    folding.current_host(bus, store, settings.host)
    progress(f"agent on host {settings.host!r} reported (calls at {settings.url}); reconciling")
    agent.reconcile()
    threads = agent.run(stop, settings.concurrency, settings.report_interval)
    return RunningAgent(agent, calls.create_app(agent, key), threads)


# -- `higgins up --backend rabbitmq|kafka` ---------------------------------------------------

ROLES = ("processor", "agent", "api")


def backend_config(conf: Settings, backend: str = "rabbitmq") -> str:
    """The INI lines that point the three processes at RabbitMQ (or Kafka) and Cassandra: the
    operator's own URLs when the config has them, the developer services' otherwise; and the
    agents' call key: the operator's, or the one made once in state_path."""
    dev_bus = DEV_BUS_URLS[backend]
    scheme = dev_bus.split("://")[0]
    bus_url = conf.bus.url if conf.bus.url.startswith(f"{scheme}://") else dev_bus
    store_url = conf.store_url if conf.store_url.startswith("cassandra://") else DEV_STORE_URL
    log_url = conf.bus.log_url if conf.bus.log_url.startswith("cassandra://") else store_url
    key = "" if conf.agent.auth_key else f"[agent]\nauth_key = {made_auth_key(conf)}\n"
    return f"[bus]\nurl = {bus_url}\nlog_url = {log_url}\n[store]\nurl = {store_url}\n{key}"


def made_auth_key(conf: Settings) -> str:
    """The key `higgins up --backend` gives its api and agent: made at the first start into
    state_path (readable by its owner only), the same at every start after."""
    path = conf.state_path / AUTH_KEY_FILE
    found = path.read_text().strip() if path.exists() else ""
    if len(found) >= MIN_AUTH_KEY_LENGTH:
        return found
    made = secrets.token_hex(32)
    _write_private(path, made + "\n")
    return made


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path`, readable by its owner only (it may hold the agents' key)."""
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as file:
        os.fchmod(file.fileno(), 0o600)  # a file an older Higgins made keeps its mode otherwise
        file.write(text)


def supervise(conf: Settings, config_files: list[str], progress: Progress,
              backend: str = "rabbitmq") -> int:
    """Run api, processor and agent as child processes until a signal or until one exits."""
    conf.state_path.mkdir(parents=True, exist_ok=True)
    generated = conf.state_path / f"backend-{backend}.conf"
    _write_private(generated, backend_config(conf, backend))
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
