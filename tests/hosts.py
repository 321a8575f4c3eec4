"""Test hosts on this machine, as tests use them: scripts/start-hosts.sh makes each one a
network namespace on the bridge `higgins-hosts` (10.77.0.1/24) with a Docker engine of its own
inside; `run_in` starts a process (a Higgins agent) in a host's namespace, and `Relay` lets such
processes reach the services that listen on the machine's 127.0.0.1 only (RabbitMQ, Cassandra)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.services import ROOT

BRIDGE_ADDRESS = "10.77.0.1"  # the machine on the hosts' bridge: their default route


@dataclass(frozen=True)
class Host:
    name: str  # also its agent's host name in the tests
    netns: str
    address: str  # 10.77.0.(10+i), on the bridge
    docker_url: str  # unix:///run/higgins-hosts/host-i/docker.sock, its engine


def start_hosts(n: int) -> list[Host]:
    """Hosts 1..n, started (or found running) by scripts/start-hosts.sh, healthy."""
    done = subprocess.run([ROOT / "scripts" / "start-hosts.sh", str(n)], check=True,
                          capture_output=True, text=True)
    # after its progress lines, the script prints one line per host: name address engine
    listed = [line.split() for line in done.stdout.splitlines()
              if line.startswith("higgins-host-")]
    return [Host(name, name, address, url) for name, address, url in listed]


def stop_hosts() -> None:
    """Every host's engine, namespace and veth, and the bridge, gone (scripts/stop-hosts.sh)."""
    subprocess.run([ROOT / "scripts" / "stop-hosts.sh"], check=True, capture_output=True)


def stop_engine(host: Host, timeout: float = 30.0) -> None:
    """Stop one host's Docker engine, as its machine going down would (dockerd stops its
    containers: killed after --shutdown-timeout 2 s); start_hosts starts it again, with its
    containers' records, as after a reboot."""
    pidfile = Path(host.docker_url.removeprefix("unix://")).parent / "docker.pid"
    pid = int(pidfile.read_text().strip())
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the engine of {host.name} (pid {pid}) did not stop")
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def run_in(host: Host, argv: list[str], **popen: Any) -> subprocess.Popen[bytes]:
    """`argv` run in the host's network namespace (`ip netns exec` execs it: the Popen's pid
    is the command's own, so terminate() reaches it)."""
    return subprocess.Popen(["ip", "netns", "exec", host.netns, *argv], **popen)


class Relay:
    """TCP from BRIDGE_ADDRESS:port, which every host reaches, to 127.0.0.1:port, where the
    machine's services listen; one thread per direction of each connection."""

    def __init__(self, ports: Iterable[int]) -> None:
        self.ports = tuple(ports)
        self._listeners: list[socket.socket] = []
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    def __enter__(self) -> Relay:
        for port in self.ports:
            listener = socket.create_server((BRIDGE_ADDRESS, port))
            self._listeners.append(listener)
            threading.Thread(target=self._accept, args=(listener, port), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        for listener in self._listeners:
            listener.shutdown(socket.SHUT_RDWR)  # wakes its accept() (close alone does not)
            listener.close()
        with self._lock:
            for sock in self._open:
                _shut(sock)  # wakes its pumps, which close it

    def _accept(self, listener: socket.socket, port: int) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # shut down by __exit__
            try:
                service = socket.create_connection(("127.0.0.1", port), timeout=5)
            except OSError:
                client.close()  # the service is away: the client sees its connection dropped
                continue
            service.settimeout(None)
            threading.Thread(target=self._connect, args=(client, service), daemon=True).start()

    def _connect(self, client: socket.socket, service: socket.socket) -> None:
        with self._lock:
            self._open.update((client, service))
        upstream = threading.Thread(target=_pump, args=(client, service), daemon=True)
        upstream.start()
        _pump(service, client)
        upstream.join()
        with self._lock:
            self._open.difference_update((client, service))
        client.close()
        service.close()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
        sink.shutdown(socket.SHUT_WR)  # pass the end of the stream on
    except OSError:  # a reset, or __exit__: the other direction ends too
        _shut(source)
        _shut(sink)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
