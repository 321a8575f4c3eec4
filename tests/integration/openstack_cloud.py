"""A test Higgins behind the real Keystone with the OpenStack services of the project's
scripts (Glance, Neutron, Cinder) switched on, and the calls the tests of those integrations
share: openstacksdk connections as the Keystone personas, execute and delete through the API."""

from __future__ import annotations

import contextlib
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import openstack
import openstack.connection

from tests.integration.conftest import Api, Higgins, deployment, remove_host_containers
from tests.integration.test_keystone import AUTHTOKEN, KEYSTONE, token

# Higgins' service user (scripts/keystone/bootstrap.py): roles service and admin in `service`
CREDENTIALS = f"""[openstack]
auth_url = {KEYSTONE}
username = higgins
password = secret
project_name = service
"""


def services(*names: str) -> str:
    """INI lines: the service credentials and `[<name>] enabled` for each service named."""
    return CREDENTIALS + "".join(f"[{name}]\nenabled = true\n" for name in names)


@contextlib.contextmanager
def keystone_higgins(backend: str, workdir: Path, docker_client: docker.DockerClient,
                     config: str) -> Iterator[Higgins]:
    """Higgins on `backend` behind Keystone with `config` (INI) added; its host's containers
    removed after."""
    server = deployment(backend, workdir)
    server.config.write_text(server.config.read_text() + AUTHTOKEN + config)
    server.auth_headers = {"X-Auth-Token": token("demo_admin", "demo")[0]}
    try:
        server.start()
        yield server
    finally:
        server.close()
        remove_host_containers(docker_client, server.host)


def connect(user: str, project: str, password: str = "secret") -> openstack.connection.Connection:
    return openstack.connect(auth_url=KEYSTONE, username=user, password=password,
                             project_name=project, user_domain_id="default",
                             project_domain_id="default", region_name="RegionOne")


def member_api(server: Higgins, user: str = "demo_member", project: str = "demo") -> Api:
    return Api(server.url, {"X-Auth-Token": token(user, project)[0]})


def execute(api: Api, uuid: str, command: str) -> dict[str, Any]:
    """Run `command` in the container (Zun's execute, run=true): output and exit code."""
    query = urllib.parse.urlencode({"command": command, "run": "true"})
    answer = api.action(uuid, "execute", f"?{query}")
    assert answer.status_code == 200, answer.text
    ran: dict[str, Any] = answer.json()
    return ran


def delete(api: Api, uuid: str) -> None:
    """Delete the container (stopping it first) and wait until it is gone."""
    assert api.call("DELETE", f"/v1/containers/{uuid}?stop=True").status_code == 204
    api.wait_gone(uuid, 60)
