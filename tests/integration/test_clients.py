"""The real clients, unchanged: `openstack appcontainer` (python-openstackclient + the
python-zunclient plugin, scripts/install-clients.sh) and `zun`, authenticated by the Keystone of
scripts/start-keystone.sh, against Higgins on each backend. The catalog sends them to this
test's Higgins through a region of its own."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import uuid as uuidlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
import requests

from tests.integration.conftest import (
    BACKENDS,
    EMBEDDED_AND_KAFKA,
    Higgins,
    deployment,
    docker_containers,
    push_to_registry,
    remove_host_containers,
    wait_for,
)
from tests.integration.test_keystone import AUTHTOKEN, KEYSTONE, token

pytestmark = [pytest.mark.keystone, pytest.mark.docker]

CLIENTS = Path(os.environ.get("HIGGINS_CLIENTS_VENV", "/var/lib/higgins-clients")) / "bin"


class Catalog:
    """A region whose container endpoint is this test's Higgins (admin calls to Keystone)."""

    def __init__(self, url: str) -> None:
        self.region = f"higgins-test-{uuidlib.uuid4().hex[:8]}"
        admin = token("admin", "admin", password="admin-secret")[0]
        self._headers = {"X-Auth-Token": admin}
        self._call("POST", "/regions", {"region": {"id": self.region}})
        services = self._call("GET", "/services?type=container")["services"]
        self.endpoint = self._call("POST", "/endpoints", {"endpoint": {
            "service_id": services[0]["id"], "interface": "public", "url": f"{url}/v1",
            "region_id": self.region}})["endpoint"]["id"]

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        answer = requests.request(method, f"{KEYSTONE}/v3{path}", json=body,
                                  headers=self._headers, timeout=30)
        answer.raise_for_status()
        return answer.json() if answer.content else None

    def close(self) -> None:
        self._call("DELETE", f"/endpoints/{self.endpoint}")
        self._call("DELETE", f"/regions/{self.region}")


@contextlib.contextmanager
def keystone_cloud(backend: str, workdir: Path, docker_client: docker.DockerClient,
                   config: str = "") -> Iterator[tuple[Higgins, Catalog]]:
    """Higgins on `backend` behind the real Keystone, in a catalog region of its own, with
    `config` (INI) added to its configuration."""
    server = deployment(backend, workdir)
    server.config.write_text(server.config.read_text() + AUTHTOKEN + config)
    server.auth_headers = {"X-Auth-Token": token("demo_admin", "demo")[0]}
    catalog = Catalog(server.url)
    try:
        server.start()
        yield server, catalog
    finally:
        server.close()
        catalog.close()
        remove_host_containers(docker_client, server.host)


# The command-line clients' runs (minutes of client start-ups) are on the embedded backend;
# python-zunclient as a library runs on every backend.
CLI_ON_EMBEDDED = pytest.mark.parametrize("cloud", ["embedded"], indirect=True)


@pytest.fixture(scope="module", params=BACKENDS)
def cloud(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
          docker_client: docker.DockerClient) -> Iterator[tuple[Higgins, Catalog]]:
    with keystone_cloud(request.param, tmp_path_factory.mktemp(f"clients-{request.param}"),
                        docker_client) as cloud:
        yield cloud


def run(catalog: Catalog, user: str, project: str, *args: str,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    """One client command as `user` of `project`, through the catalog's region."""
    env = {**os.environ, "OS_AUTH_URL": f"{KEYSTONE}/v3", "OS_IDENTITY_API_VERSION": "3",
           "OS_USERNAME": user, "OS_PASSWORD": "secret", "OS_PROJECT_NAME": project,
           "OS_USER_DOMAIN_ID": "default", "OS_PROJECT_DOMAIN_ID": "default",
           "OS_REGION_NAME": catalog.region}
    done = subprocess.run([str(CLIENTS / args[0]), *args[1:]], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    if check:
        assert done.returncode == 0, f"{args}: {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def appcontainer(catalog: Catalog, user: str, *args: str) -> Any:
    verb, *rest = args  # options before the positionals: `run` takes the rest as the command
    done = run(catalog, user, "demo", "openstack", "appcontainer", verb, "-f", "json", *rest)
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError as error:
        raise AssertionError(f"{args}: not JSON:\n{done.stdout}\n{done.stderr}") from error


@CLI_ON_EMBEDDED
def test_openstack_appcontainer_lifecycle(cloud: tuple[Higgins, Catalog],
                                          docker_client: docker.DockerClient) -> None:
    server, catalog = cloud
    name = f"cli-{uuidlib.uuid4().hex[:6]}"
    made = appcontainer(catalog, "demo_member", "run", "--name", name, "busybox:local",
                        "sleep", "300")
    uuid = made["uuid"]
    assert made["name"] == name

    def running() -> bool:
        return bool(appcontainer(catalog, "demo_member", "show", name)["status"] == "Running")

    wait_for(running, 60, f"{name} Running")
    assert len(docker_containers(docker_client, uuid)) == 1
    listed = appcontainer(catalog, "demo_reader", "list")
    assert [c["uuid"] for c in listed] == [uuid]

    said = run(catalog, "demo_member", "demo", "openstack", "appcontainer", "exec", name,
               "echo", "hello from higgins")
    assert said.stdout.strip() == "hello from higgins"

    others = run(catalog, "alt_member", "alt_demo", "openstack", "appcontainer", "show", name,
                 check=False)
    assert others.returncode != 0 and "could not be found" in others.stderr

    # The plugin reports a refused stop on stdout and exits 0 (as it does against Zun).
    refused = run(catalog, "demo_reader", "demo", "openstack", "appcontainer", "stop", name,
                  check=False)
    assert "Policy doesn't allow container:stop" in refused.stdout + refused.stderr
    assert appcontainer(catalog, "demo_member", "show", name)["status"] == "Running"

    run(catalog, "demo_member", "demo", "openstack", "appcontainer", "stop", name)
    wait_for(lambda: appcontainer(catalog, "demo_member", "show", name)["status"] == "Stopped",
             60, f"{name} Stopped")
    run(catalog, "demo_member", "demo", "openstack", "appcontainer", "delete", name)
    wait_for(lambda: not docker_containers(docker_client, uuid), 60, f"{name} removed")
    assert appcontainer(catalog, "demo_member", "list") == []


@CLI_ON_EMBEDDED
def test_zun_cli_and_admin_only_views(cloud: tuple[Higgins, Catalog]) -> None:
    server, catalog = cloud
    hosts = run(catalog, "demo_admin", "demo", "zun", "host-list").stdout
    assert server.host in hosts
    refused = run(catalog, "demo_member", "demo", "zun", "host-list", check=False)
    assert refused.returncode != 0 and "host:get_all" in refused.stderr
    listed = run(catalog, "demo_admin", "demo", "zun", "service-list").stdout
    assert server.host in listed and "zun-compute" in listed and "| up" in listed
    name = f"zun-{uuidlib.uuid4().hex[:6]}"
    run(catalog, "demo_member", "demo", "zun", "create", "--name", name, "busybox:local",
        "sleep", "300")
    assert name in run(catalog, "demo_member", "demo", "zun", "list").stdout
    run(catalog, "demo_member", "demo", "zun", "delete", name)


@pytest.mark.parametrize("cloud", EMBEDDED_AND_KAFKA, indirect=True)
def test_python_zunclient_as_a_library(cloud: tuple[Higgins, Catalog],
                                       docker_client: docker.DockerClient) -> None:
    """Member, reader, another project, an admin's quota and a bad token, as the library sees
    them (tests/integration/zunclient_scenario.py runs in the clients' venv)."""
    server, catalog = cloud
    name = f"lib-{uuidlib.uuid4().hex[:6]}"
    done = subprocess.run(
        [str(CLIENTS / "python"), str(Path(__file__).with_name("zunclient_scenario.py")),
         KEYSTONE, catalog.region, server.url, name],
        capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    uuid = seen["shown"]
    assert seen["running"] == "Running" and seen["listed"] == [uuid]
    assert "hello from logs" in seen["logs"]
    assert seen["exec"]["output"].strip() == "hi" and seen["exec"]["exit_code"] == 0
    assert seen["reader_listed"] == [uuid]
    assert seen["reader_stop"][0] == 403
    assert seen["other_listed"] == [] and seen["other_show"][0] == 404
    assert (seen["stopped"], seen["restarted"]) == ("Stopped", "Running")
    assert seen["quota"]["containers"] == {"limit": 1, "in_use": 1}
    assert seen["over_quota"][0] == 403
    assert "Quota exceeded for resources: ['containers']" in seen["over_quota"][1]
    assert seen["member_quota_update"][0] == 403
    assert seen["bad_token"][0] == 401
    assert seen["after_delete"] == []
    wait_for(lambda: not docker_containers(docker_client, uuid), 60, f"{name} removed")


CAPSULE_TEMPLATE = """\
kind: capsule
capsuleVersion: beta
metadata:
  name: {name}
spec:
  containers:
  - name: web
    image: busybox:local
    command: [sleep, "300"]
  - name: side
    image: busybox:local
    command: [sleep, "300"]
"""


@CLI_ON_EMBEDDED
def test_zun_cli_images_commit_and_capsules(cloud: tuple[Higgins, Catalog], tmp_path: Path,
                                            docker_client: docker.DockerClient) -> None:
    """`zun pull/image-*`, `zun commit` and `zun capsule-*` as an admin and a member."""
    server, catalog = cloud

    def zun(user: str, *args: str) -> str:
        return run(catalog, user, "demo", "zun", *args).stdout

    name = push_to_registry(docker_client)
    pulled = zun("demo_admin", "pull", name, server.host)
    image = next(line.split("|")[2].strip() for line in pulled.splitlines()
                 if line.startswith("| uuid"))
    wait_for(lambda: docker_client.images.list(name=name.rsplit(":", 1)[0]), 60, "the pull")
    assert image in zun("demo_admin", "image-list")
    wait_for(lambda: "sha256:" in zun("demo_admin", "image-show", image), 30, "the image id")
    zun("demo_admin", "image-delete", image)

    box = f"cli-{uuidlib.uuid4().hex[:6]}"
    zun("demo_member", "run", "--name", box, "busybox:local", "sleep", "300")
    wait_for(lambda: "Running" in zun("demo_member", "show", box), 60, f"{box} Running")
    said = zun("demo_member", "commit", box, f"higgins-cli:{box}")
    assert "has been accepted" in said, said
    wait_for(lambda: docker_client.images.list(name=f"higgins-cli:{box}"), 60, "the commit")
    zun("demo_member", "delete", "--force", box)

    capsule = f"pod-{uuidlib.uuid4().hex[:6]}"
    template = tmp_path / "capsule.yaml"
    template.write_text(CAPSULE_TEMPLATE.format(name=capsule))
    assert "accepted" in zun("demo_member", "capsule-create", "-f", str(template))
    wait_for(lambda: "Running" in zun("demo_member", "capsule-describe", capsule), 90,
             f"{capsule} Running")
    assert capsule in zun("demo_member", "capsule-list")
    zun("demo_member", "capsule-delete", capsule)
    wait_for(lambda: capsule not in zun("demo_member", "capsule-list"), 90, f"{capsule} gone")
