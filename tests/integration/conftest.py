"""Fixtures: a real Higgins driving the real Docker engine started by scripts/start-docker.sh,
on either backend: `embedded` (one `higgins up` process, own state dir) or `rabbitmq` (the
processes `higgins processor all`, `higgins agent` and `higgins api` on the RabbitMQ and
Cassandra of scripts/start-*.sh, in a virtual host and keyspace of their own). Each has its own
host name and ports on 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid as uuidlib
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any, TypeVar

import docker
import pytest
import requests

from higgins import events, publishing
from higgins.agents.agent import Agent
from higgins.agents.docker_driver import DockerDriver
from higgins.api.identity import DEFAULT_PROJECT
from higgins.bus.base import Bus
from higgins.bus.embedded import EmbeddedBus
from higgins.store.sqlite import SqliteStore
from tests.hosts import Host, start_hosts, stop_hosts
from tests.services import kafka_namespace, kafka_records, keyspace, rabbitmq_vhost

V140 = {"OpenStack-API-Version": "container 1.40"}
T = TypeVar("T")


def wait_for(probe: Callable[[], T | None], timeout: float = 30.0, what: str = "") -> T:
    """Poll `probe` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or probe}; last={last!r}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Higgins:
    """One `higgins up` process; restartable on the same state, killable with SIGKILL."""

    backend = "embedded"

    def __init__(self, workdir: Path) -> None:
        self.host = f"test-{uuidlib.uuid4().hex[:8]}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        self.config = workdir / "higgins.conf"
        self.config.write_text(
            f"[DEFAULT]\nhost = {self.host}\nstate_path = {workdir / 'state'}\n"
            f"[api]\nport = {self.port}\n"
            # webhooks to the tests' receivers on 127.0.0.1, retried within seconds
            "[webhooks]\nallowed_networks = 127.0.0.0/8\nretry_schedule = 1,2,2,4,8\n"
            "retry_poll = 0.2\ntimeout = 5\n"
        )
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.auth_headers: dict[str, str] = {}  # X-Auth-Token when it runs with Keystone

    def open_bus(self) -> Bus:
        """The deployment's bus, to read its log (the caller closes it)."""
        from higgins import settings
        from higgins.runtime import processes

        return processes.open_bus(settings.load([], [str(self.config)]))

    def close(self) -> None:
        self.stop()

    def start(self) -> None:
        self.starts += 1
        with open(self.workdir / f"higgins-{self.starts}.log", "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "higgins.cli", "--config-file", str(self.config), "up"],
                stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        wait_for(self._answers, 60, f"higgins on {self.url}")

    def _answers(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"higgins exited with {self.process.returncode}; "
                                 f"see {self.workdir}")
        try:
            return requests.get(self.url + "/", timeout=1).status_code == 200
        except requests.ConnectionError:
            return False

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill9()


class Deployment(Higgins):
    """The production shape: processor, agent and API as separate processes on RabbitMQ (or
    Kafka) and Cassandra; each process can be started, stopped or killed on its own."""

    ROLES = ("processor", "agent", "api")

    def __init__(self, workdir: Path, backend: str = "rabbitmq") -> None:
        super().__init__(workdir)
        self.backend = backend
        self._namespace: contextlib.AbstractContextManager[str]
        if backend == "kafka":
            self._namespace = kafka_namespace("e2e")
            self.kafka_namespace = self._namespace.__enter__()
            bus_url = f"kafka://127.0.0.1:9092/{self.kafka_namespace}"
            self.amqp_url = ""
        else:
            self._namespace = rabbitmq_vhost("e2e")
            self.amqp_url = bus_url = self._namespace.__enter__()
        self.keyspace = keyspace("e2e")
        self.agent_port = free_port()
        self.auth_key = secrets.token_hex(32)  # the API signs its calls to the agent with it
        self.config.write_text(
            self.config.read_text() +
            f"[bus]\nurl = {bus_url}\n[store]\nurl = cassandra://127.0.0.1:9042/{self.keyspace}\n"
            f"[agent]\nport = {self.agent_port}\nauth_key = {self.auth_key}\n")
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self) -> None:
        for role in self.ROLES:
            if role not in self.processes or self.processes[role].poll() is not None:
                self.start_role(role)
        wait_for(self._answers, 60, f"higgins on {self.url}")
        wait_for(self._host_listed, 60, f"host {self.host} reported")

    def start_role(self, role: str, name: str = "") -> Path:
        """Start one process (`name` tells a second one of a role apart); its log file."""
        self.starts += 1
        name = name or role
        command = [sys.executable, "-m", "higgins.cli", "--config-file", str(self.config), role]
        log_path = self.workdir / f"{name}-{self.starts}.log"
        with open(log_path, "wb") as log:
            self.processes[name] = subprocess.Popen(
                [*command, "all"] if role == "processor" else command,
                stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        if role == "api":
            self.process = self.processes[name]
        return log_path

    # -- one more agent, e.g. on a test host of tests/hosts.py --------------------------------

    def start_agent_process(self, name: str, override: str,
                            run: Callable[..., subprocess.Popen[bytes]] = subprocess.Popen,
                            ) -> Path:
        """Start another `higgins agent` (`name` tells it apart) on the deployment's config
        file followed by `override` (INI text whose values win: the host name, `[docker] url`,
        `[agent] host_ip`, ...), launched by `run(argv, **popen_kwargs)` (e.g. tests.hosts.run_in
        for a host's network namespace); stopped and killed with the other processes. Its log
        file."""
        self.starts += 1
        override_file = self.workdir / f"{name}.conf"
        override_file.write_text(override)
        log_path = self.workdir / f"{name}-{self.starts}.log"
        with open(log_path, "wb") as log:
            self.processes[name] = run(
                [sys.executable, "-m", "higgins.cli", "--config-file", str(self.config),
                 "--config-file", str(override_file), "agent"],
                stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        return log_path

    def _host_listed(self) -> bool:
        hosts = requests.get(self.url + "/v1/hosts", headers={**V140, **self.auth_headers},
                             timeout=5).json()["hosts"]
        return any(h["hostname"] == self.host for h in hosts)

    def dead_letters(self) -> int:
        """Messages parked in the dead-letter queue (poison); 0 when nothing went wrong."""
        if self.backend == "kafka":
            return kafka_records(f"{self.kafka_namespace}.dead-letters")
        import kombu

        with kombu.Connection(self.amqp_url) as connection:
            declared = connection.channel().queue_declare("higgins.dead-letters", passive=True)
            return int(declared.message_count)

    def kill9_role(self, name: str) -> None:
        self.processes[name].send_signal(signal.SIGKILL)
        self.processes[name].wait(10)

    def kill9(self) -> None:
        for name in self.processes:
            self.kill9_role(name)

    def stop(self) -> None:
        for child in self.processes.values():
            if child.poll() is None:
                child.terminate()
        for child in self.processes.values():
            try:
                child.wait(20)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(10)

    def close(self) -> None:
        self.stop()
        from cassandra.cluster import Cluster

        cluster = Cluster(["127.0.0.1"], port=9042)
        cluster.connect().execute(f"DROP KEYSPACE IF EXISTS {self.keyspace}")
        cluster.shutdown()
        self._namespace.__exit__(None, None, None)


BACKENDS = ["embedded", pytest.param("rabbitmq",
                                     marks=[pytest.mark.rabbitmq, pytest.mark.cassandra])]
KAFKA = pytest.param("kafka", marks=[pytest.mark.kafka, pytest.mark.cassandra])
# Suites that show what the Kafka bus does differently (delivery, faults, replay, events out)
# run on it too; the others run on embedded and rabbitmq (README: what runs where).
ALL_BACKENDS = [*BACKENDS, KAFKA]


# Tests of what every backend does the same way (the agent and Docker, the dispatcher's rules)
# run on the embedded backend only, to keep the suite's time in bounds; the rabbitmq backend
# runs a representative subset of each file (README: what runs where).
EMBEDDED_ONLY = pytest.mark.parametrize("higgins", ["embedded"], indirect=True)
# The representative subset that also runs on Kafka (the rest of a file runs on embedded and
# rabbitmq): what shows the bus's delivery, order and read-back, not the agent's Docker work.
ALSO_KAFKA = pytest.mark.parametrize("higgins", ALL_BACKENDS, indirect=True)


@pytest.fixture(scope="module")
def hosts() -> Iterator[list[Host]]:
    """Two test hosts (scripts/start-hosts.sh: a network namespace and a Docker engine each)
    for the tests of one module; nothing outlives it: engines, namespaces, veths, the bridge."""
    try:
        yield start_hosts(2)
    finally:
        stop_hosts()


@contextlib.contextmanager
def local_agent(tmp_path: Path, docker_client: docker.DockerClient,
                purpose: str) -> Iterator[Agent]:
    """An Agent of a host of its own (named after `purpose`) on the machine's Docker engine,
    an embedded bus and a SQLite store in `tmp_path`; its containers removed afterwards."""
    host = f"{purpose}-{uuidlib.uuid4().hex[:8]}"
    try:
        yield Agent(host, EmbeddedBus(tmp_path / "events.db"), SqliteStore(tmp_path / "views.db"),
                    DockerDriver("unix:///var/run/docker.sock", "auto", host))
    finally:
        remove_host_containers(docker_client, host)


def stamped(kind: str, subject: str, **data: Any) -> events.Envelope:
    """An event or command envelope stamped now, as the scheduler stamps what it sends."""
    return events.Envelope(id=str(uuidlib.uuid4()), type=kind, subject=subject, seq=0,
                           time=publishing.utc_now(), project_id="p", user_id="u",
                           request_id="req-1", data=dict(data))


def configure(server: Higgins, section: str, lines: str) -> None:
    """Add `lines` (INI, ending in a newline) to the `[section]` of the server's config file,
    before it starts; the section is added when the file has none."""
    text = server.config.read_text()
    header = f"[{section}]\n"
    server.config.write_text(text.replace(header, header + lines, 1) if header in text
                             else text + header + lines)


def deployment(backend: str, workdir: Path) -> Higgins:
    return Higgins(workdir) if backend == "embedded" else Deployment(workdir, backend)


class Api:
    """A thin client of the Zun API as a tenant sees it."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        self.url = url
        self.headers = {**V140, **(headers or {})}

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(method, self.url + path, headers=self.headers, timeout=30,
                                **kwargs)

    def create(self, run: bool = True, **body: Any) -> dict[str, Any]:
        body = {"image": "busybox:local", "command": ["sleep", "300"], **body}
        response = self.call("POST", f"/v1/containers?run={str(run).lower()}", json=body)
        assert response.status_code == 202, response.text
        created: dict[str, Any] = response.json()
        return created

    def show(self, ident: str) -> dict[str, Any] | None:
        """The container, None when it is not found; a 503 (a service recovering from a fault)
        is asked again, as a client would, for up to 60 s."""
        deadline = time.monotonic() + 60
        response = self.call("GET", f"/v1/containers/{ident}")
        while response.status_code == 503 and time.monotonic() < deadline:
            time.sleep(0.2)
            response = self.call("GET", f"/v1/containers/{ident}")
        if response.status_code == 404:
            return None
        assert response.status_code == 200, response.text
        shown: dict[str, Any] = response.json()
        return shown

    def found(self, path: str) -> dict[str, Any] | None:
        """The resource at `path` (an image, a capsule), None when it is not found."""
        response = self.call("GET", path)
        if response.status_code == 404:
            return None
        assert response.status_code == 200, response.text
        shown: dict[str, Any] = response.json()
        return shown

    def wait_status(self, ident: str, status: str, timeout: float = 30) -> dict[str, Any]:
        def settled() -> dict[str, Any] | None:
            shown = self.show(ident)
            return shown if shown and shown["status"] == status and not shown["task_state"] \
                else None

        return wait_for(settled, timeout, f"{ident} to be {status}")

    def wait_gone(self, ident: str, timeout: float = 30) -> None:
        wait_for(lambda: self.show(ident) is None, timeout, f"{ident} to be deleted")

    def action(self, ident: str, verb: str, query: str = "") -> requests.Response:
        return self.call("POST", f"/v1/containers/{ident}/{verb}{query}")


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    client = docker.DockerClient(base_url="unix:///var/run/docker.sock", version="auto")
    yield client
    client.close()


def push_to_registry(client: docker.DockerClient) -> str:
    """busybox:local pushed under a new name to the local registry of
    scripts/start-registry.sh, and absent locally: pulling it needs the registry."""
    subprocess.run(["scripts/start-registry.sh"], check=True)
    name = f"127.0.0.1:5050/busybox:pull-{uuidlib.uuid4().hex[:8]}"
    client.images.get("busybox:local").tag(name)
    client.images.push(name)
    client.images.remove(name)
    return name


def remove_host_containers(client: docker.DockerClient, host: str) -> None:
    for container in client.containers.list(all=True, filters={"label": f"higgins.host={host}"}):
        container.remove(force=True)


@pytest.fixture(scope="session", params=BACKENDS)
def higgins(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
            docker_client: docker.DockerClient) -> Iterator[Higgins]:
    server = deployment(request.param, tmp_path_factory.mktemp(f"higgins-{request.param}"))
    try:
        server.start()
    except BaseException:
        server.close()  # what did start must not outlive the session
        raise
    # One deployment serves the whole session in noauth's default project, which would pass
    # Zun's default quotas; quotas are tested where they are set (test_quotas.py, clients).
    Api(server.url).call("PUT", f"/v1/quotas/{DEFAULT_PROJECT}",
                         json={"containers": -1, "cpu": -1, "memory": -1}).raise_for_status()
    yield server
    server.close()
    remove_host_containers(docker_client, server.host)


@pytest.fixture
def fresh_higgins(tmp_path: Path, docker_client: docker.DockerClient) -> Iterator[Higgins]:
    """An embedded Higgins of the test's own, for tests that kill or restart it."""
    server = Higgins(tmp_path)
    yield server
    server.close()
    remove_host_containers(docker_client, server.host)


# Suites whose every run costs a Higgins (or a cloud) of their own run on embedded and kafka
# (suite time; the RabbitMQ bus keeps its session deployment's suites, restart-reconcile and
# the faults).
EMBEDDED_AND_KAFKA = ["embedded", KAFKA]


@pytest.fixture(params=EMBEDDED_AND_KAFKA)
def fresh_deployment(request: pytest.FixtureRequest, tmp_path: Path,
                     docker_client: docker.DockerClient) -> Iterator[Higgins]:
    """A Higgins of the test's own on each backend, for tests that restart it."""
    server = deployment(request.param, tmp_path)
    yield server
    server.close()
    remove_host_containers(docker_client, server.host)


@pytest.fixture
def api(higgins: Higgins) -> Api:
    return Api(higgins.url)


def docker_containers(client: docker.DockerClient, uuid: str) -> list[Any]:
    return list(client.containers.list(all=True, filters={"label": f"higgins.uuid={uuid}"}))


_NOISE = ("cassandra.", "protocol version")


def _troubles(workdir: Path, limit: int = 30) -> str:
    """The warnings and errors the processes of a deployment logged (their last `limit`)."""
    lines = [f"{log.name}: {line[:600]}"
             for log in sorted(workdir.glob("*.log"))
             for line in log.read_text(errors="replace").splitlines()
             if ('"level": "error"' in line or '"level": "warning"' in line
                 or line.startswith("Traceback")) and not any(n in line for n in _NOISE)]
    return "\n".join(lines[-limit:])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item,
                             call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    """A failed test against a Higgins shows what its processes complained about (CI keeps
    only what pytest prints)."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    for value in getattr(item, "funcargs", {}).values():
        if isinstance(value, Higgins):
            report.sections.append((f"higgins logs ({value.workdir})", _troubles(value.workdir)))
