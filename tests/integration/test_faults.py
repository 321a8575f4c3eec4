"""Faults on the production backends, with real services: restart RabbitMQ, Kafka or
Cassandra, or kill -9 a processor or the API, in the middle of a stream of creates and again
of deletes (on RabbitMQ every fault; on Kafka its restart, and the kill -9 of one of two
processor processes sharing the partitions, a new member joining after it: rebalances under
load).
After each: every acknowledged create is Running exactly once (one Docker container), every
acknowledged delete is gone from the API and from Docker, and the views agree with Docker."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest
import requests

from tests.integration.conftest import (
    Api,
    Deployment,
    docker_containers,
    remove_host_containers,
    wait_for,
)
from tests.services import ROOT

pytestmark = [pytest.mark.cassandra]
RABBITMQ = pytest.mark.rabbitmq
KAFKA = pytest.mark.kafka

CREATES = 10
FAULT_AFTER = 3


def _script(name: str) -> None:
    subprocess.run([ROOT / "scripts" / name], check=True, timeout=180)


def restart_rabbitmq(deployment: Deployment) -> None:
    _script("stop-rabbitmq.sh")
    time.sleep(1)
    _script("start-rabbitmq.sh")


def restart_kafka(deployment: Deployment) -> None:
    _script("stop-kafka.sh")
    time.sleep(1)
    _script("start-kafka.sh")


def restart_cassandra(deployment: Deployment) -> None:
    _script("stop-cassandra.sh")
    time.sleep(1)
    _script("start-cassandra.sh")


def kill9_processor(deployment: Deployment) -> None:
    deployment.kill9_role("processor")
    deployment.start()  # starts what is not running, waits until it answers


def kill9_group_member(deployment: Deployment) -> None:
    """kill -9 the oldest of the group's processor processes mid-stream (the others take its
    partitions over once its session times out: a rebalance under load), then a new member
    joins (another rebalance, under the same load)."""
    members = [n for n, p in deployment.processes.items()
               if n.startswith("processor") and p.poll() is None]
    deployment.kill9_role(members[0])
    deployment.start_role("processor", name=f"processor-{deployment.starts + 1}")


def kill9_api(deployment: Deployment) -> None:
    deployment.kill9_role("api")
    deployment.start()


FAULTS: dict[str, Callable[[Deployment], None]] = {
    "rabbitmq-restart": restart_rabbitmq,
    "kafka-restart": restart_kafka,
    "cassandra-restart": restart_cassandra,
    "processor-kill9": kill9_processor,
    "api-kill9": kill9_api,
    "member-kill9": kill9_group_member,
}


@pytest.fixture
def cluster(request: pytest.FixtureRequest, tmp_path: Path,
            docker_client: docker.DockerClient) -> Iterator[Deployment]:
    """The production processes on RabbitMQ (or on the bus the test names) and Cassandra."""
    deployment = Deployment(tmp_path, getattr(request, "param", "rabbitmq"))
    try:
        deployment.start()
    except BaseException:
        deployment.close()  # what did start must not outlive the test
        raise
    yield deployment
    deployment.close()
    remove_host_containers(docker_client, deployment.host)


def _stream(calls: list[Callable[[], bool]], fault: Callable[[], None]) -> None:
    """Make the calls one after another from a thread (as a tenant's script would), and run
    `fault` once FAULT_AFTER of them were acknowledged; unacknowledged calls are not retried."""
    acknowledged = threading.Semaphore(0)

    def client() -> None:
        for call in calls:
            if call():
                acknowledged.release()

    thread = threading.Thread(target=client)
    thread.start()
    for _ in range(FAULT_AFTER):
        assert acknowledged.acquire(timeout=120), "the stream stalled before the fault"
    fault()
    thread.join(300)
    assert not thread.is_alive()


def _accepted(send: Callable[[], requests.Response], statuses: tuple[int, ...]) -> bool:
    """One attempt; a refused connection, no answer within the client's timeout or a 5xx is an
    unacknowledged call (allowed while the fault lasts), anything else must be the expected
    answer. (The API may take its whole publish deadline, 30 s, to answer 503 while a broker is
    down: as long as the client waits, so either side may give up first.)"""
    try:
        response = send()
    except (requests.ConnectionError, requests.Timeout):
        time.sleep(0.2)
        return False
    if response.status_code >= 500:
        return False
    assert response.status_code in statuses, response.text
    return True


def _creates(api: Api, prefix: str, created: list[str]) -> list[Callable[[], bool]]:
    """CREATES calls, each one attempt at a create; an acknowledged one's uuid goes to
    `created`."""

    def create(index: int) -> Callable[[], bool]:
        def call() -> bool:
            answer: list[requests.Response] = []

            def send() -> requests.Response:
                answer.append(api.call("POST", "/v1/containers?run=true", json={
                    "name": f"{prefix}-{index}", "image": "busybox:local",
                    "command": ["sleep", "300"]}))
                return answer[0]

            if _accepted(send, (202,)):
                created.append(answer[0].json()["uuid"])
                return True
            return False

        return call

    return [create(i) for i in range(CREATES)]


def _replay_agrees(cluster: Deployment) -> None:
    """`higgins replay --check`: the retained log folds into exactly the stored views."""
    checked = subprocess.run(
        [sys.executable, "-m", "higgins.cli", "--config-file", str(cluster.config), "replay",
         "--check"], capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize(("cluster", "fault"), [
    *(pytest.param("rabbitmq", fault, marks=RABBITMQ, id=fault)
      for fault in ("rabbitmq-restart", "cassandra-restart", "processor-kill9", "api-kill9")),
    *(pytest.param("kafka", fault, marks=KAFKA, id=f"kafka-{fault}")
      for fault in ("kafka-restart", "member-kill9")),
], indirect=["cluster"])
def test_acknowledged_creates_and_deletes_survive(
        fault: str, cluster: Deployment, docker_client: docker.DockerClient) -> None:
    api = Api(cluster.url)
    created: list[str] = []
    if fault == "member-kill9":  # a second member of the processor groups, sharing the work
        cluster.start_role("processor", name="processor-2")
        time.sleep(8)  # membership rounds: each holds some partitions

    _stream(_creates(api, fault, created), lambda: FAULTS[fault](cluster))
    assert len(created) >= FAULT_AFTER
    for uuid in created:
        api.wait_status(uuid, "Running", timeout=120)
        assert len(docker_containers(docker_client, uuid)) == 1, uuid

    deleted: list[str] = []

    def delete(uuid: str) -> Callable[[], bool]:
        def call() -> bool:
            if _accepted(lambda: api.call("DELETE", f"/v1/containers/{uuid}?force=True"),
                         (204, 404)):
                deleted.append(uuid)
                return True
            return False

        return call

    doomed = created[: len(created) // 2 + FAULT_AFTER]
    _stream([delete(uuid) for uuid in doomed], lambda: FAULTS[fault](cluster))
    for uuid in deleted:
        api.wait_gone(uuid, timeout=120)
        wait_for(lambda u=uuid: docker_containers(docker_client, u) == [], 60,  # type: ignore
                 f"{uuid} removed from Docker")
    _views_agree_with_docker(api, docker_client, cluster.host)
    assert cluster.dead_letters() == 0
    _replay_agrees(cluster)  # each container's events in order: the log folds into the views


def _views_agree_with_docker(api: Api, docker_client: docker.DockerClient, host: str) -> None:
    """Every container the API lists on this host is in Docker in the same state, and every
    Docker container of this host is listed."""
    def agree() -> bool:
        listed = {c["uuid"]: c["status"] for c in
                  api.call("GET", "/v1/containers").json()["containers"]
                  if c.get("host") == host and not c.get("task_state")}
        in_docker = {c.labels["higgins.uuid"]: c.status for c in docker_client.containers.list(
            all=True, filters={"label": f"higgins.host={host}"})}
        return set(listed) == set(in_docker) and all(
            (status == "Running") == (in_docker[uuid] == "running")
            for uuid, status in listed.items())

    wait_for(agree, 60, "views to agree with Docker")


def _handled(log: Path) -> int:
    """Events the fold processor of this process handled (one log line each)."""
    return sum('"message": "event container.' in line for line in log.read_text().splitlines())


@RABBITMQ  # on Kafka: the member-kill9 fault (two members, one killed mid-stream, one joining)
def test_two_processor_processes_share_the_work_and_cover_for_each_other(
        cluster: Deployment, docker_client: docker.DockerClient) -> None:
    api = Api(cluster.url)
    second = cluster.start_role("processor", name="processor-2")
    first = cluster.workdir / "processor-1.log"
    time.sleep(8)  # a couple of membership rounds: the first hands the second its share
    uuids = [api.create(name=f"shared-{i}")["uuid"] for i in range(12)]
    for uuid in uuids:
        api.wait_status(uuid, "Running", timeout=60)
        assert len(docker_containers(docker_client, uuid)) == 1
    assert _handled(first) > 0 and _handled(second) > 0, (_handled(first), _handled(second))

    cluster.kill9_role("processor")  # the other takes every queue over
    more = [api.create(name=f"after-{i}")["uuid"] for i in range(4)]
    for uuid in more:
        api.wait_status(uuid, "Running", timeout=60)
        assert len(docker_containers(docker_client, uuid)) == 1
    _views_agree_with_docker(api, docker_client, cluster.host)
    assert cluster.dead_letters() == 0
    _replay_agrees(cluster)


@RABBITMQ
def test_a_frozen_sequencer_is_deposed_and_its_late_writes_change_nothing(
        cluster: Deployment, docker_client: docker.DockerClient) -> None:
    """A processor frozen (SIGSTOP) in the middle of a stream: the broker drops its connections
    after missed heartbeats, the other processor takes its partitions over (a new lease
    epoch) and records what was waiting; thawed (SIGCONT), the deposed one's work in hand
    lands late. Every acknowledged create runs once, the log replays into the views."""
    api = Api(cluster.url)
    cluster.start_role("processor", name="processor-2")
    time.sleep(8)  # membership rounds: each processor holds some partitions
    frozen = cluster.processes["processor"]
    created: list[str] = []

    _stream(_creates(api, "frozen", created), lambda: frozen.send_signal(signal.SIGSTOP))
    try:
        for uuid in created:
            api.wait_status(uuid, "Running", timeout=120)
    finally:
        frozen.send_signal(signal.SIGCONT)
    time.sleep(5)  # what the deposed one had in hand lands now
    more = [api.create(name=f"thawed-{i}")["uuid"] for i in range(4)]
    for uuid in [*created, *more]:
        api.wait_status(uuid, "Running", timeout=120)
        assert len(docker_containers(docker_client, uuid)) == 1, uuid
    _views_agree_with_docker(api, docker_client, cluster.host)
    assert cluster.dead_letters() == 0
    _replay_agrees(cluster)
