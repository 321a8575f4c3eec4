"""A test deployment across the test hosts of scripts/start-hosts.sh (tests/hosts.py): a
rabbitmq `Deployment` whose extra agents run inside the hosts' network namespaces, each on its
host's own Docker engine, reaching RabbitMQ and Cassandra through the relay on the bridge."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

import docker
import requests

from tests.hosts import BRIDGE_ADDRESS, Host, Relay, run_in, start_hosts
from tests.integration.conftest import V140, Deployment, remove_host_containers, wait_for


@contextlib.contextmanager
def engine(host: Host) -> Iterator[docker.DockerClient]:
    """A client of the host's own Docker engine."""
    client = docker.DockerClient(base_url=host.docker_url, version="auto")
    try:
        yield client
    finally:
        client.close()


def agent_override(server: Deployment, host: Host, agent: str = "") -> str:
    """The host's agent: its name, engine and address; RabbitMQ and Cassandra through the
    relay on the bridge (they listen on the machine's 127.0.0.1, which a namespace has not);
    `agent`: more `[agent]` options (INI lines)."""
    bus_url = server.amqp_url.replace("@127.0.0.1:", f"@{BRIDGE_ADDRESS}:")
    return (f"[DEFAULT]\nhost = {host.name}\n[bus]\nurl = {bus_url}\n"
            f"[store]\nurl = cassandra://{BRIDGE_ADDRESS}:9042/{server.keyspace}\n"
            f"[docker]\nurl = {host.docker_url}\n"
            f"[agent]\nhost_ip = {host.address}\nport = 9518\n{agent}")


def start_agent(server: Deployment, host: Host, agent: str = "") -> None:
    """(Again) the host's agent, in its namespace."""
    server.start_agent_process(host.name, agent_override(server, host, agent),
                               functools.partial(run_in, host))


def listed(server: Deployment) -> set[str]:
    """The hosts /v1/hosts lists (none while the API is not up yet)."""
    try:
        answer = requests.get(server.url + "/v1/hosts", headers={**V140, **server.auth_headers},
                              timeout=5).json()
    except requests.RequestException:
        return set()
    return {h["hostname"] for h in answer["hosts"]}


@contextlib.contextmanager
def across(server: Deployment, hosts: list[Host], docker_client: docker.DockerClient,
           machine_agent: bool = True, agent: str = "",
           relayed: tuple[int, ...] = ()) -> Iterator[Deployment]:
    """`server` running with an agent in each host (and, with `machine_agent`, its own on the
    machine's engine) until the block ends; then closed, and every container it left in the
    hosts' engines (an engine a test stopped is started again for that) removed. RabbitMQ,
    Cassandra and the `relayed` ports of the machine are relayed to the hosts."""
    with Relay([5672, 9042, *relayed]):
        try:
            if machine_agent:
                server.start()
            else:
                server.start_role("processor")
                server.start_role("api")
            for host in hosts:
                start_agent(server, host, agent)
            wait_for(lambda: listed(server) >= {h.name for h in hosts}, 90,
                     "the hosts' agents reported")
            yield server
        finally:
            server.close()
            remove_host_containers(docker_client, server.host)
            start_hosts(len(hosts))
            for host in hosts:
                with engine(host) as client:
                    remove_host_containers(client, host.name)
