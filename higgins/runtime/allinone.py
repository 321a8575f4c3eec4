"""WIRING: the embedded all-in-one (`higgins up`): SQLite log and views, processors, one local
agent on the local Docker engine, and the API, in one process."""

from __future__ import annotations

import fcntl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO, TypeVar

import flask

from higgins import api, folding
from higgins import store as stores
from higgins.agents.agent import Agent
from higgins.agents.docker_driver import DockerDriver
from higgins.agents.openstack_parts import OpenStackParts
from higgins.api.agent_calls import LocalAgents
from higgins.bus.embedded import EmbeddedBus
from higgins.runtime.processing import Processors
from higgins.settings import Settings
from higgins.store.base import Store

Progress = Callable[[str], None]
T = TypeVar("T")


@dataclass
class AllInOne:
    bus: EmbeddedBus
    store: Store
    agent: Agent
    app: flask.Flask
    stop: threading.Event
    threads: list[threading.Thread]
    lock: TextIO

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=15)
        self.lock.close()


class StateInUse(RuntimeError):
    """Another Higgins already runs on this state directory."""


def lock_state(path: Path, *, shared: bool = False) -> TextIO:
    """Hold a lock on the state directory for the life of the process: an all-in-one holds it
    exclusively (two on one log would run two agents for one host); readers of the log that
    need it still (replay) share it with each other, never with a running all-in-one."""
    path.mkdir(parents=True, exist_ok=True)
    handle = open(path / "higgins.lock", "a")  # noqa: SIM115 - held until the process ends
    try:
        fcntl.flock(handle, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError as error:
        handle.close()
        raise StateInUse(f"another higgins is already running on {path}") from error
    return handle


def start(settings: Settings, progress: Progress = lambda line: None) -> AllInOne:
    """Open the log and views, start processors and the agent; the caller serves `app`."""
    lock = lock_state(settings.state_path)
    progress(f"state in {settings.state_path}")
    bus = EmbeddedBus.from_url(settings.bus_url)
    store = stores.by_url(settings.store_url)
    agent_settings = settings.agent
    driver = DockerDriver(agent_settings.docker_url, agent_settings.docker_api_version,
                          agent_settings.host)
    inventory = driver.inventory()
    progress(f"Docker engine {inventory.version} at {agent_settings.docker_url}: "
             f"{inventory.cpus:g} CPUs, {inventory.memory_mb} MiB")
    agent = Agent(agent_settings.host, bus, store, driver, agent_settings.availability_zone,
                  labels=dict(agent_settings.labels),
                  reserved_memory_mb=agent_settings.reserved_host_memory_mb,
                  openstack=OpenStackParts.configured(settings, driver, store))
    agent.report()
    folding.current_host(bus, store, agent_settings.host)
    progress(f"agent on host {agent_settings.host!r} reported; reconciling with Docker")
    agent.reconcile()
    stop = threading.Event()
    threads = Processors.configured(bus, store, settings).run(stop)
    threads += agent.run(stop, agent_settings.concurrency, agent_settings.report_interval)
    progress("processors fold, scheduler, audit and webhooks consuming the event log"
             + ("; notifications to " + settings.notifications.url.split("@")[-1]
                if settings.notifications.url else "; notifications off"))
    app = api.configured_app(settings, bus, store, LocalAgents({agent_settings.host: agent}))
    return AllInOne(bus, store, agent, app, stop, threads, lock)


