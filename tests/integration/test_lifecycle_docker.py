"""End to end through HTTP: Higgins drives real Docker containers (busybox:local)."""

from __future__ import annotations

import datetime
import subprocess
import sys
import uuid as uuidlib
from collections.abc import Iterator

import docker
import pytest

from tests.integration.conftest import (
    ALSO_KAFKA,
    BACKENDS,
    EMBEDDED_ONLY,
    Api,
    Higgins,
    docker_containers,
    push_to_registry,
    wait_for,
)

pytestmark = pytest.mark.docker


@ALSO_KAFKA
def test_run_makes_one_running_docker_container(api: Api, docker_client: docker.DockerClient,
                                                higgins: Higgins) -> None:
    created = api.create(name="web")
    shown = api.wait_status(created["uuid"], "Running")
    (container,) = docker_containers(docker_client, created["uuid"])
    assert container.status == "running"
    assert container.labels["higgins.host"] == higgins.host
    assert shown["host"] == higgins.host


def test_create_without_run_stops_at_created_and_start_runs_it(
        api: Api, docker_client: docker.DockerClient) -> None:
    uuid = api.create(run=False)["uuid"]
    api.wait_status(uuid, "Created")
    (container,) = docker_containers(docker_client, uuid)
    assert container.status == "created"
    assert api.action(uuid, "start").status_code == 202
    api.wait_status(uuid, "Running")


@ALSO_KAFKA
def test_stop_start_pause_unpause_reboot_follow_docker(
        api: Api, docker_client: docker.DockerClient) -> None:
    uuid = api.create()["uuid"]
    api.wait_status(uuid, "Running")
    steps = [("stop", "?timeout=1", "Stopped", "exited"), ("start", "", "Running", "running"),
             ("pause", "", "Paused", "paused"), ("unpause", "", "Running", "running"),
             ("reboot", "?timeout=1", "Running", "running")]
    for verb, query, status, docker_status in steps:
        assert api.action(uuid, verb, query).status_code == 202, verb
        api.wait_status(uuid, status)
        (container,) = docker_containers(docker_client, uuid)
        assert container.status == docker_status, verb


@EMBEDDED_ONLY
def test_kill_ends_stopped(api: Api) -> None:
    uuid = api.create()["uuid"]
    api.wait_status(uuid, "Running")
    assert api.action(uuid, "kill", "?signal=SIGKILL").status_code == 202
    assert api.wait_status(uuid, "Stopped")["status_detail"] == "Exited (137)"


def test_delete_running_without_stop_is_409_and_with_stop_removes(
        api: Api, docker_client: docker.DockerClient) -> None:
    uuid = api.create()["uuid"]
    api.wait_status(uuid, "Running")
    assert api.call("DELETE", f"/v1/containers/{uuid}").status_code == 409
    assert api.call("DELETE", f"/v1/containers/{uuid}?stop=True").status_code == 204
    api.wait_gone(uuid)
    assert docker_containers(docker_client, uuid) == []


@EMBEDDED_ONLY
def test_force_delete_removes_a_running_container(api: Api,
                                                  docker_client: docker.DockerClient) -> None:
    uuid = api.create()["uuid"]
    api.wait_status(uuid, "Running")
    assert api.call("DELETE", f"/v1/containers/{uuid}?force=True").status_code == 204
    api.wait_gone(uuid)
    assert docker_containers(docker_client, uuid) == []


@EMBEDDED_ONLY
def test_a_container_that_exits_by_itself_becomes_stopped_with_its_exit_code(api: Api) -> None:
    uuid = api.create(command=["sh", "-c", "exit 3"])["uuid"]
    assert api.wait_status(uuid, "Stopped")["status_detail"] == "Exited (3)"


@EMBEDDED_ONLY
def test_a_container_removed_behind_higgins_back_becomes_error(
        api: Api, docker_client: docker.DockerClient) -> None:
    uuid = api.create()["uuid"]
    api.wait_status(uuid, "Running")
    (container,) = docker_containers(docker_client, uuid)
    container.remove(force=True)
    shown = api.wait_status(uuid, "Error")
    assert "removed outside Higgins" in shown["status_reason"]


@EMBEDDED_ONLY
def test_auto_remove_container_is_deleted_when_it_exits(api: Api) -> None:
    uuid = api.create(command=["true"], auto_remove=True)["uuid"]
    api.wait_gone(uuid)


@EMBEDDED_ONLY
@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param({"image": "no-such-image:local", "image_pull_policy": "never"},
                     "was not found", id="missing-image-never-pull"),
        pytest.param({"image": "no-such-image:local"}, "Failed to pull image",
                     id="missing-image-no-registry"),
        pytest.param({"command": ["/no/such/binary"]}, "no such file", id="bad-command"),
    ],
)
def test_runtime_failures_end_in_error_with_the_reason(api: Api, body: dict[str, str],
                                                       reason: str) -> None:
    uuid = api.create(**body)["uuid"]
    shown = api.wait_status(uuid, "Error", timeout=60)
    assert reason.lower() in shown["status_reason"].lower()
    assert api.call("DELETE", f"/v1/containers/{uuid}").status_code == 204
    api.wait_gone(uuid)


@EMBEDDED_ONLY
def test_settings_reach_docker(api: Api, docker_client: docker.DockerClient) -> None:
    uuid = api.create(environment={"GREETING": "hi"}, labels={"team": "blue"},
                      workdir="/tmp", memory="64m", cpu=0.5, hostname="box1")["uuid"]
    api.wait_status(uuid, "Running")
    (container,) = docker_containers(docker_client, uuid)
    config, host_config = container.attrs["Config"], container.attrs["HostConfig"]
    assert "GREETING=hi" in config["Env"]
    assert config["Labels"]["team"] == "blue"
    assert config["WorkingDir"] == "/tmp" and config["Hostname"] == "box1"
    assert host_config["Memory"] == 64 * 1024 * 1024
    assert (host_config["CpuPeriod"], host_config["CpuQuota"]) == (100_000, 50_000)
    assert api.show(uuid)["memory"] == "64"  # type: ignore[index]


@EMBEDDED_ONLY
def test_logs_return_what_the_container_printed(api: Api) -> None:
    uuid = api.create(command=["sh", "-c", "echo one; echo two >&2; echo three"])["uuid"]
    api.wait_status(uuid, "Stopped")
    response = api.call("GET", f"/v1/containers/{uuid}/logs?stdout=True&stderr=False")
    assert response.status_code == 200
    assert response.json() == "one\nthree\n"
    everything = api.call("GET", f"/v1/containers/{uuid}/logs").json()
    assert sorted(everything.splitlines()) == ["one", "three", "two"]


@EMBEDDED_ONLY
def test_logs_tail_returns_the_last_lines(api: Api) -> None:
    uuid = api.create(command=["sh", "-c", "echo one; echo two; echo three"])["uuid"]
    api.wait_status(uuid, "Stopped")
    assert api.call("GET", f"/v1/containers/{uuid}/logs?tail=2").json() == "two\nthree\n"


@pytest.mark.parametrize("fresh_deployment", BACKENDS, indirect=True)  # suite time
def test_restart_reconciles_what_happened_while_down(
        fresh_deployment: Higgins, docker_client: docker.DockerClient) -> None:
    fresh_higgins = fresh_deployment
    fresh_higgins.start()
    api = Api(fresh_higgins.url)
    uuid = api.create()["uuid"]
    api.wait_status(uuid, "Running")
    fresh_higgins.stop()
    (container,) = docker_containers(docker_client, uuid)
    container.stop(timeout=1)
    fresh_higgins.start()
    assert api.wait_status(uuid, "Stopped")["status_detail"] == "Exited (137)"


@ALSO_KAFKA
def test_every_change_is_an_event_in_order(higgins: Higgins, api: Api) -> None:
    uuid = api.create()["uuid"]
    api.wait_status(uuid, "Running")
    bus = higgins.open_bus()
    history = wait_for(lambda: bus.history(uuid) if len(bus.history(uuid)) >= 4 else None)
    assert [e["type"] for e in history] == [
        "container.create.requested", "container.scheduled", "container.created",
        "container.started"]
    assert [e["seq"] for e in history] == [1, 2, 3, 4]
    bus.close()


@pytest.fixture(scope="module")
def registry_image(docker_client: docker.DockerClient) -> str:
    return push_to_registry(docker_client)


@EMBEDDED_ONLY
@pytest.mark.parametrize("policy", ["ifnotpresent", "always"])
def test_an_image_missing_locally_is_pulled_from_the_registry(
        api: Api, docker_client: docker.DockerClient, registry_image: str, policy: str) -> None:
    uuid = api.create(image=registry_image, image_pull_policy=policy)["uuid"]
    api.wait_status(uuid, "Running", timeout=60)
    (container,) = docker_containers(docker_client, uuid)
    assert registry_image in container.image.tags


@EMBEDDED_ONLY
def test_logs_with_timestamps_and_since(api: Api) -> None:
    uuid = api.create(command=["sh", "-c", "echo early; sleep 2; echo late; sleep 300"])["uuid"]
    api.wait_status(uuid, "Running")
    wait_for(lambda: "late" in api.call("GET", f"/v1/containers/{uuid}/logs").json(), 15)
    stamped = api.call("GET", f"/v1/containers/{uuid}/logs?timestamps=True").json()
    first = stamped.splitlines()[0]
    assert first.endswith(" early") and first[:4].isdigit() and "T" in first.split()[0]
    early_second = datetime.datetime.strptime(first[:19], "%Y-%m-%dT%H:%M:%S")
    since = (early_second + datetime.timedelta(seconds=1)).strftime("%Y-%m-%d %H:%M:%S,000")
    later = api.call("GET", f"/v1/containers/{uuid}/logs", params={"since": since}).json()
    assert later == "late\n"


@EMBEDDED_ONLY
def test_execute_returns_output_and_exit_code(api: Api) -> None:
    uuid = api.create()["uuid"]
    api.wait_status(uuid, "Running")
    ran = api.action(uuid, "execute", "?command=sh+-c+%22echo+hi%3B+exit+4%22").json()
    assert (ran["output"], ran["exit_code"]) == ("hi\n", 4)
    assert len(ran["exec_id"]) == 64 and ran["proxy_url"] is None
    created = api.action(uuid, "execute", "?command=ls&run=false").json()
    assert created["output"] is None and created["exec_id"]


@EMBEDDED_ONLY
def test_top_and_stats_describe_the_running_container(api: Api) -> None:
    uuid = api.create(name="observed", memory="64m")["uuid"]
    api.wait_status(uuid, "Running")
    top = api.call("GET", f"/v1/containers/{uuid}/top?ps_args=None").json()
    assert "PID" in top["Titles"]
    assert any("sleep" in " ".join(p) for p in top["Processes"])
    stats = api.call("GET", f"/v1/containers/{uuid}/stats").json()
    assert set(stats) == {"CONTAINER", "CPU %", "MEM USAGE(MiB)", "MEM LIMIT(MiB)", "MEM %",
                          "BLOCK I/O(B)", "NET I/O(B)"}
    assert stats["CONTAINER"] == "observed" and stats["MEM LIMIT(MiB)"] == 64


@EMBEDDED_ONLY
def test_execute_top_stats_need_a_running_container(api: Api) -> None:
    uuid = api.create(run=False)["uuid"]
    api.wait_status(uuid, "Created")
    assert api.action(uuid, "execute", "?command=ls").status_code == 409
    assert api.call("GET", f"/v1/containers/{uuid}/top").status_code == 409
    assert api.call("GET", f"/v1/containers/{uuid}/stats").status_code == 409


def test_update_changes_limits_in_docker_and_answers_with_them(
        api: Api, docker_client: docker.DockerClient) -> None:
    uuid = api.create(memory="64m", cpu=0.5)["uuid"]
    api.wait_status(uuid, "Running")
    response = api.call("PATCH", f"/v1/containers/{uuid}", json={"memory": "128", "cpu": "1"})
    assert response.status_code == 200, response.text
    assert (response.json()["memory"], response.json()["cpu"]) == ("128", 1.0)
    (container,) = docker_containers(docker_client, uuid)
    assert container.attrs["HostConfig"]["Memory"] == 128 * 1024 * 1024
    assert container.attrs["HostConfig"]["CpuQuota"] == 100_000


@EMBEDDED_ONLY
def test_an_update_docker_refuses_is_409_and_changes_nothing(api: Api) -> None:
    uuid = api.create(memory="64m")["uuid"]
    api.wait_status(uuid, "Running")
    response = api.call("PATCH", f"/v1/containers/{uuid}", json={"memory": "5"})
    assert response.status_code == 409, response.text
    assert "Docker refused" in response.json()["errors"][0]["detail"]
    shown = api.wait_status(uuid, "Running")
    assert shown["memory"] == "64"


def test_actions_history_records_finish_times_and_failures(api: Api) -> None:
    uuid = api.create()["uuid"]
    api.wait_status(uuid, "Running")
    api.action(uuid, "stop", "?timeout=1")
    api.wait_status(uuid, "Stopped")
    listed = api.call("GET", f"/v1/containers/{uuid}/container_actions").json()
    assert [(a["action"], a["message"]) for a in listed["containerActions"]] == [
        ("stop", None), ("create", None)]
    assert all(a["finish_time"] for a in listed["containerActions"])
    failed = api.create(image="no-such-image:local", image_pull_policy="never")["uuid"]
    api.wait_status(failed, "Error")
    (create,) = api.call("GET", f"/v1/containers/{failed}/container_actions").json()[
        "containerActions"]
    assert create["message"] == "Error"
    shown = api.call("GET", f"/v1/containers/{failed}/container_actions/"
                            f"{create['request_id']}").json()
    assert "was not found" in shown["events"][0]["traceback"]


def test_admins_see_the_host_with_its_inventory_and_containers(
        api: Api, higgins: Higgins) -> None:
    uuid = api.create(memory="32m", cpu=0.25, disk=1)["uuid"]
    api.wait_status(uuid, "Running")
    (host,) = (h for h in api.call("GET", "/v1/hosts").json()["hosts"]
               if h["hostname"] == higgins.host)
    assert host["cpus"] >= 1 and host["mem_total"] > 0 and "runc" in host["runtimes"]
    assert host["os_type"] == "linux" and host["architecture"] and host["disk_total"] > 0
    assert host["total_containers"] >= 1 and host["mem_used"] >= 32
    assert host["cpu_used"] >= 0.25 and host["disk_used"] >= 1
    assert api.call("GET", f"/v1/hosts/{host['uuid']}").json()["hostname"] == higgins.host
    member = Api(higgins.url, {"X-Roles": "member"})
    assert member.call("GET", "/v1/hosts").status_code == 403
    zones = member.call("GET", "/v1/availability_zones").json()["availability_zones"]
    assert {"availability_zone": "nova"} in zones


@pytest.fixture
def keyspace() -> Iterator[str]:
    """A keyspace of the test's own on the node of scripts/start-cassandra.sh, dropped after."""
    from cassandra.cluster import Cluster

    name = f"higgins_e2e_{uuidlib.uuid4().hex[:8]}"
    yield name
    cluster = Cluster(["127.0.0.1"], port=9042)
    cluster.connect().execute(f"DROP KEYSPACE IF EXISTS {name}")
    cluster.shutdown()


@pytest.mark.cassandra
def test_views_in_cassandra_behind_the_embedded_log(
        fresh_higgins: Higgins, docker_client: docker.DockerClient, keyspace: str) -> None:
    fresh_higgins.config.write_text(fresh_higgins.config.read_text() +
                                    f"[store]\nurl = cassandra://127.0.0.1:9042/{keyspace}\n")
    fresh_higgins.start()
    api = Api(fresh_higgins.url)
    uuid = api.create(name="in-cassandra")["uuid"]
    api.wait_status(uuid, "Running")
    assert api.show("in-cassandra")["uuid"] == uuid  # type: ignore[index]
    assert api.action(uuid, "stop", "?timeout=1").status_code == 202
    api.wait_status(uuid, "Stopped")
    assert api.call("DELETE", f"/v1/containers/{uuid}").status_code == 204
    api.wait_gone(uuid)
    assert docker_containers(docker_client, uuid) == []
    fresh_higgins.stop()
    checked = subprocess.run(
        [sys.executable, "-m", "higgins.cli", "--config-file", str(fresh_higgins.config),
         "replay", "--check"], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
