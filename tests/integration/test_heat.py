"""Heat, unchanged, driving Higgins: the heat-api and heat-engine of scripts/start-heat.sh
(openstack-heat 27 with python-zunclient 5.5.0) run OS::Zun::Container stacks for demo_member,
through openstacksdk's orchestration proxy, against a Higgins behind the real Keystone in a
catalog region of its own. The stack requests carry that region in X-Region-Name: heat-api
hands it to the engine, which keeps it with the stack's credentials and finds Zun there.
Heat 27 has no OS::Zun::Capsule resource (OS::Zun::Container is its only Zun resource)."""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Iterator
from typing import Any

import docker
import openstack
import pytest
import requests

from tests.integration.conftest import Api, Higgins, docker_containers, wait_for
from tests.integration.test_clients import Catalog, keystone_cloud
from tests.integration.test_keystone import KEYSTONE

pytestmark = [pytest.mark.heat, pytest.mark.keystone, pytest.mark.docker]

HEAT = "http://127.0.0.1:8004"
SETTLED = 60  # seconds for a stack action to complete


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory,
          docker_client: docker.DockerClient) -> Iterator[tuple[Higgins, Catalog]]:
    answer = requests.get(f"{HEAT}/healthcheck", timeout=10)
    assert answer.status_code == 200, "Heat does not answer: run scripts/start-heat.sh"
    with keystone_cloud("embedded", tmp_path_factory.mktemp("heat"), docker_client) as cloud:
        yield cloud


def connect(user: str, region: str) -> openstack.connection.Connection:
    """`user` of project demo; the stacks it makes use the Zun of `region`."""
    connection = openstack.connect(
        auth_url=KEYSTONE, username=user, password="secret", project_name="demo",
        user_domain_id="default", project_domain_id="default", region_name="RegionOne",
        load_yaml_config=False, load_envvars=False)
    connection.orchestration.additional_headers["X-Region-Name"] = region
    return connection


@pytest.fixture(scope="module")
def heat(cloud: tuple[Higgins, Catalog]) -> Iterator[Any]:
    """demo_member's orchestration proxy."""
    connection = connect("demo_member", cloud[1].region)
    yield connection.orchestration
    connection.close()


def container_template(name: str, cpu: float, memory: int, command: str) -> dict[str, Any]:
    # busybox-term:local: its PID 1 shell stops on SIGTERM (busybox's sleep as PID 1 ignores
    # it, and each of Heat's deletes with stop=True would wait out Docker's 10 s)
    return {
        "heat_template_version": "2018-08-31",
        "resources": {"box": {"type": "OS::Zun::Container", "properties": {
            "name": name, "image": "busybox-term:local", "command": command, "cpu": cpu,
            "memory": memory, "labels": {"app": "heat-test"}}}},
        "outputs": {"name": {"value": {"get_attr": ["box", "name"]}}},
    }


def settle(heat: Any, stack: Any, status: str) -> None:
    """Wait for the stack's `status` (an ..._COMPLETE); fail at once on its ..._FAILED."""
    heat.wait_for_status(heat.get_stack(stack.id), status,
                         failures=[status.replace("COMPLETE", "FAILED")], interval=0.5,
                         wait=SETTLED)


def container_of(heat: Any, stack: Any) -> str:
    """The physical id (the Higgins container uuid) of the stack's `box`."""
    resources = {r.name: r for r in heat.resources(stack)}
    return str(resources["box"].physical_resource_id)


def docker_limits(container: Any) -> tuple[float, int]:
    """Docker's CPUs (a quota over a period, as Zun sets them) and memory in MiB, read now."""
    container.reload()
    limits = container.attrs["HostConfig"]
    return limits["CpuQuota"] / limits["CpuPeriod"], limits["Memory"] // 2**20


def test_a_stack_creates_updates_replaces_and_deletes_a_container(
        cloud: tuple[Higgins, Catalog], heat: Any, docker_client: docker.DockerClient) -> None:
    server, _ = cloud
    higgins = Api(server.url, server.auth_headers)
    name = f"heat-{uuidlib.uuid4().hex[:6]}"
    stack = heat.create_stack(name=f"stack-{name}",
                              template=container_template(name, 0.5, 128, "sleep 300"))
    try:
        settle(heat, stack, "CREATE_COMPLETE")
        uuid = container_of(heat, stack)
        shown = higgins.wait_status(uuid, "Running")
        assert (shown["name"], shown["image"]) == (name, "busybox-term:local")
        assert shown["command"] == ["sleep", "300"]
        assert (float(shown["cpu"]), int(shown["memory"])) == (0.5, 128)
        assert shown["labels"] == {"app": "heat-test"}
        [running] = docker_containers(docker_client, uuid)
        assert running.status == "running"
        assert docker_limits(running) == (0.5, 128)
        assert heat.get_stack(stack.id).outputs[0]["output_value"] == name

        # name, cpu and memory are updated in place: the same container follows
        renamed = f"{name}-2"
        heat.update_stack(stack, template=container_template(renamed, 1.0, 256, "sleep 300"))
        settle(heat, stack, "UPDATE_COMPLETE")
        assert container_of(heat, stack) == uuid
        shown = higgins.wait_status(uuid, "Running")
        assert (shown["name"], float(shown["cpu"]), int(shown["memory"])) == (renamed, 1.0, 256)
        [running] = docker_containers(docker_client, uuid)
        assert docker_limits(running) == (1.0, 256)

        # the command is not updatable: Heat replaces the container
        heat.update_stack(stack, template=container_template(renamed, 1.0, 256, "sleep 301"))
        settle(heat, stack, "UPDATE_COMPLETE")
        replacement = container_of(heat, stack)
        assert replacement != uuid
        assert higgins.wait_status(replacement, "Running")["command"] == ["sleep", "301"]
        higgins.wait_gone(uuid)
        wait_for(lambda: not docker_containers(docker_client, uuid), 30, f"{uuid} removed")
    finally:
        heat.delete_stack(stack)
        heat.wait_for_delete(stack, interval=0.5, wait=SETTLED)
    higgins.wait_gone(replacement)
    wait_for(lambda: not docker_containers(docker_client, replacement), 30,
             f"{replacement} removed")


def test_the_region_offers_zun_containers_and_heat_has_no_capsule_resource(heat: Any) -> None:
    types = heat.get("/resource_types").json()["resource_types"]
    assert sorted(t for t in types if t.startswith("OS::Zun::")) == ["OS::Zun::Container"]


def test_a_reader_may_not_create_stacks(cloud: tuple[Higgins, Catalog]) -> None:
    reader = connect("demo_reader", cloud[1].region)
    try:
        with pytest.raises(openstack.exceptions.ForbiddenException):
            reader.orchestration.create_stack(
                name=f"stack-{uuidlib.uuid4().hex[:6]}",
                template=container_template("never", 0.5, 128, "sleep 300"))
    finally:
        reader.close()
