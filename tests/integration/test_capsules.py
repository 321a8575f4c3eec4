"""Zun's capsules on every backend with a real Docker engine: the containers of a capsule run
on one host in one network namespace (one reaches the other on 127.0.0.1), are listed with the
capsule rather than as containers, and go with it, sandbox and all."""

from __future__ import annotations

from typing import Any

import docker
import pytest

from tests.integration.conftest import ALSO_KAFKA, Api, Higgins, wait_for

pytestmark = pytest.mark.docker

SERVER = "while true; do echo hello-from-peer | nc -l -p 8080; done"


def capsule_shown(api: Api, uuid: str) -> dict[str, Any] | None:
    return api.found(f"/v1/capsules/{uuid}")


def labelled(client: docker.DockerClient, capsule: str) -> list[Any]:
    return list(client.containers.list(all=True, filters={"label": f"higgins.capsule={capsule}"}))


@ALSO_KAFKA
def test_a_capsules_containers_share_one_network_namespace(
        higgins: Higgins, docker_client: docker.DockerClient) -> None:
    api = Api(higgins.url)
    template = {"kind": "capsule", "capsuleVersion": "beta",
                "metadata": {"name": "pair", "labels": {"app": "web"}},
                "spec": {"restartPolicy": "Never", "containers": [
                    {"name": "server", "image": "busybox:local", "command": ["sh", "-c"],
                     "args": [SERVER], "resources": {"requests": {"cpu": 0.1, "memory": 32}}},
                    {"name": "client", "image": "busybox:local",
                     "command": ["sleep", "300"]}]}}
    asked = api.call("POST", "/v1/capsules", json={"template": template})
    assert asked.status_code == 202, asked.text
    uuid = asked.json()["uuid"]
    shown = wait_for(lambda: (c := capsule_shown(api, uuid)) and c["status"] == "Running" and c,
                     90, "the capsule to run")
    assert (shown["name"], shown["labels"], shown["cpu"], shown["memory"]) == \
        ("pair", {"app": "web"}, 0.1, "32")
    server, client = shown["containers"]
    assert {server["status"], client["status"]} == {"Running"}
    assert server["name"] == "capsule-pair-server" and server["host"] == higgins.host

    def answered() -> str | None:
        ran = api.call("POST", f"/v1/containers/{client['uuid']}/execute",
                       params={"command": "sh -c 'echo | nc 127.0.0.1 8080'"}).json()
        return ran["output"] if "hello-from-peer" in (ran["output"] or "") else None

    wait_for(answered, 30, "the client to reach the server on 127.0.0.1")
    listed = api.call("GET", "/v1/containers").json()["containers"]
    assert not {server["uuid"], client["uuid"]} & {c["uuid"] for c in listed}
    assert uuid in [c["uuid"] for c in api.call("GET", "/v1/capsules").json()["capsules"]]
    assert api.call("DELETE", f"/v1/containers/{client['uuid']}").status_code == 409

    assert len(labelled(docker_client, uuid)) == 3  # two containers and the sandbox
    assert api.call("DELETE", "/v1/capsules/pair").status_code == 204
    wait_for(lambda: capsule_shown(api, uuid) is None, 90, "the capsule to go")
    wait_for(lambda: not labelled(docker_client, uuid), 30, "its Docker containers to go")


def test_a_capsule_with_volumes_is_a_clear_501(higgins: Higgins) -> None:
    template = {"kind": "capsule", "metadata": {},
                "spec": {"containers": [{"image": "busybox:local"}],
                         "volumes": [{"name": "v", "cinder": {"size": 1}}]}}
    response = Api(higgins.url).call("POST", "/v1/capsules", json={"template": template})
    assert response.status_code == 501
    assert "volumes" in response.json()["errors"][0]["detail"]
