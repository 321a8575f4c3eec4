"""A bounded schemathesis run (pinned in its own venv by scripts/install-schemathesis.sh) against
a Higgins of its own, driven by the OpenAPI document that Higgins serves: every generated
request, valid or not, must get an answer that is not a 5xx. Deterministic (fixed seed) and
bounded (examples per operation, request timeout), on 127.0.0.1 only."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.integration.conftest import Api, Higgins, remove_host_containers

pytestmark = pytest.mark.docker

SCHEMATHESIS = Path(os.environ.get("HIGGINS_SCHEMATHESIS_VENV",
                                   "/var/lib/higgins-schemathesis")) / "bin/schemathesis"


@pytest.fixture
def server(tmp_path: Path, docker_client: docker.DockerClient) -> Iterator[Higgins]:
    higgins = Higgins(tmp_path)
    higgins.start()
    yield higgins
    higgins.close()
    remove_host_containers(docker_client, higgins.host)


def test_no_generated_request_gets_a_5xx(server: Higgins, tmp_path: Path) -> None:
    # Real identifiers for the path parameters, so the fuzzer reaches past the 404s: a running
    # container of its own, its project, the host, Zun's default quota class.
    made = Api(server.url).create(name="fuzz-target")
    config = tmp_path / "schemathesis.toml"
    config.write_text(f"""[parameters]
"path.ident" = "{made['uuid']}"
"path.project_id" = "{made['project_id']}"
"path.host" = "{server.host}"
"path.quota_class_name" = "default"
""")
    done = subprocess.run(
        [str(SCHEMATHESIS), "--config-file", str(config), "run",
         f"{server.url}/v1/openapi.json",
         "--checks", "not_a_server_error", "--max-examples", "25", "--seed", "20261129",
         "--generation-deterministic", "--workers", "2", "--request-timeout", "30",
         "--report", "junit", "--report-dir", str(tmp_path / "report")],
        capture_output=True, text=True, timeout=900, check=False,
        env={**os.environ, "NO_COLOR": "1"})
    assert done.returncode == 0, done.stdout[-20000:] + done.stderr[-5000:]
    counted = re.search(r"(\d+) generated, (\d+) passed", done.stdout)
    assert counted, done.stdout[-3000:]
    generated, passed = map(int, counted.groups())
    assert generated == passed and generated >= 500, done.stdout[-3000:]
