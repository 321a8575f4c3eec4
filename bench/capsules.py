"""BENCHMARK: a two-container capsule from create to Running through Higgins, against the same
work on raw Docker (a sandbox and two containers joined to its network namespace), in one run.
Side effects: starts its own `higgins up` on 127.0.0.1, makes and removes Docker containers."""

from __future__ import annotations

import argparse
import contextlib
import json
import time
import uuid
from dataclasses import asdict
from typing import Any

import docker
import requests

from bench.lifecycle import COMMAND, HEADERS, IMAGE, Higgins, Result, _wait, measure

SANDBOX_IMAGE = "higgins-sandbox:1"  # imported by Higgins' agent at its first capsule
TEMPLATE = {"kind": "capsule", "metadata": {},
            "spec": {"containers": [{"image": IMAGE, "command": COMMAND}] * 2}}


def higgins_capsule(session: requests.Session, url: str, made: list[str]) -> float:
    started = time.monotonic()
    response = session.post(f"{url}/v1/capsules", json={"template": TEMPLATE},
                            headers=HEADERS, timeout=30)
    response.raise_for_status()
    ident = response.json()["uuid"]
    made.append(ident)

    def running() -> bool:
        shown = session.get(f"{url}/v1/capsules/{ident}", headers=HEADERS, timeout=30).json()
        if shown["status"] == "Error":
            raise RuntimeError(f"capsule {ident} failed: {shown['status_reason']}")
        return bool(shown["status"] == "Running")

    _wait(running, f"capsule {ident} Running")
    return time.monotonic() - started


def docker_capsule(client: docker.DockerClient, made: list[str]) -> float:
    """The same on raw Docker: the sandbox, then two containers in its network namespace."""
    started = time.monotonic()
    name = f"bench-raw-pod-{uuid.uuid4().hex[:12]}"
    sandbox = client.containers.run(SANDBOX_IMAGE, ["/pause"], detach=True, name=name)
    made.append(sandbox.id)
    members = [client.containers.run(IMAGE, COMMAND, detach=True,
                                     network_mode=f"container:{name}") for _ in range(2)]
    made.extend(member.id for member in members)

    def running() -> bool:
        states: list[dict[str, Any]] = [client.api.inspect_container(m.id)["State"]
                                        for m in members]
        return all(state["Running"] for state in states)

    _wait(running, f"{name} running")
    return time.monotonic() - started


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="higgins bench capsules")
    parser.add_argument("--count", type=int, default=10)
    args = parser.parse_args(argv[1:])
    client = docker.DockerClient(base_url="unix:///var/run/docker.sock", version="auto")
    server = Higgins()
    higgins_made: list[str] = []
    raw_made: list[str] = []
    session = requests.Session()
    try:
        server.start()
        higgins_capsule(session, server.url, higgins_made)  # warm-up: imports the sandbox
        results: list[Result] = [
            measure("docker", 1, args.count, lambda: docker_capsule(client, raw_made)),
            measure("higgins", 1, args.count,
                    lambda: higgins_capsule(session, server.url, higgins_made)),
        ]
    finally:
        for ident in higgins_made:
            with contextlib.suppress(requests.RequestException):
                session.delete(f"{server.url}/v1/capsules/{ident}", headers=HEADERS, timeout=30)
        for container_id in raw_made:
            with contextlib.suppress(docker.errors.NotFound):
                client.api.remove_container(container_id, force=True)
        time.sleep(3)  # let the agent remove the capsules before its process goes
        server.stop()
    raw, through = results
    print(json.dumps({"results": [asdict(r) for r in results],
                      "overhead_p50_ms": round(through.p50_ms - raw.p50_ms, 1),
                      "ratio_p50": round(raw.p50_ms / through.p50_ms, 2)}, indent=2))
    return 0
