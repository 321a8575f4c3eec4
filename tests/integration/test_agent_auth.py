"""The agent's call API answers the API only: against the real `higgins agent` process of a
rabbitmq deployment, an unsigned call, a call signed with another key and a replayed signed call
are refused with 401 (and logged, without the key), while the API's own signed calls go
through. And `higgins api` / `higgins agent` do not start without a key, nor an agent on every
address; `higgins up --backend` makes its key once, readable by its owner only."""

from __future__ import annotations

import json
import secrets
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from higgins import settings
from higgins.processors import signing
from higgins.runtime import processes
from tests.integration.conftest import BACKENDS, Api, Deployment, Higgins, wait_for

RABBITMQ_ONLY = pytest.mark.parametrize("higgins", [BACKENDS[1]], indirect=True)
LOGS = {"stdout": True, "stderr": True, "timestamps": False, "tail": "all"}


def agent_call(deployment: Deployment, uuid: str, key: str | None,
               body: dict[str, object] = LOGS) -> tuple[str, bytes, dict[str, str]]:
    """A logs call to the deployment's agent: its URL, body and headers, signed with `key`
    as the API signs (or unsigned when `key` is None)."""
    path = f"/containers/{uuid}/logs"
    payload = json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if key is not None:
        call = signing.Call("POST", deployment.host, path, payload)
        headers |= signing.headers(key, call, time.time(), secrets.token_hex(16))
    return f"http://127.0.0.1:{deployment.agent_port}{path}", payload, headers


def send(url: str, payload: bytes, headers: dict[str, str]) -> requests.Response:
    return requests.post(url, data=payload, headers=headers, timeout=30)


@pytest.fixture(scope="module")
def printed(higgins: Higgins) -> str:
    """A container on the deployment's agent that printed a line and stopped: its uuid."""
    api = Api(higgins.url)
    uuid = api.create(command=["sh", "-c", "echo signed-and-sealed"])["uuid"]
    api.wait_status(uuid, "Stopped", timeout=60)
    return str(uuid)


@pytest.mark.docker
@RABBITMQ_ONLY
def test_the_apis_signed_calls_reach_the_agent(higgins: Higgins, printed: str) -> None:
    logs = Api(higgins.url).call("GET", f"/v1/containers/{printed}/logs")
    assert logs.status_code == 200, logs.text
    assert logs.json() == "signed-and-sealed\n"


@pytest.mark.docker
@RABBITMQ_ONLY
def test_the_apis_signed_exec_reaches_the_agent(higgins: Higgins) -> None:
    api = Api(higgins.url)
    uuid = api.create(command=["sleep", "300"])["uuid"]
    api.wait_status(uuid, "Running", timeout=60)
    ran = api.action(uuid, "execute", "?command=sh+-c+%22echo+hi%3B+exit+4%22")
    assert ran.status_code == 200, ran.text
    assert (ran.json()["output"], ran.json()["exit_code"]) == ("hi\n", 4)
    assert api.call("DELETE", f"/v1/containers/{uuid}?stop=True").status_code == 204


@pytest.mark.docker
@RABBITMQ_ONLY
@pytest.mark.parametrize(("key", "reason"), [
    (None, "unsigned call"),
    (secrets.token_hex(32), "bad signature"),
], ids=["unsigned", "wrong-key"])
def test_a_forged_call_to_the_agent_is_refused(higgins: Higgins, printed: str,
                                               key: str | None, reason: str) -> None:
    assert isinstance(higgins, Deployment)
    refused = send(*agent_call(higgins, printed, key))
    assert refused.status_code == 401
    assert refused.json() == {"error": f"Refused: {reason}."}
    assert "signed-and-sealed" not in refused.text
    logged = wait_for(lambda: _refusals(higgins, reason), 10, f"the agent logging {reason}")
    assert '"level": "warning"' in logged[-1] and "127.0.0.1" in logged[-1]


@pytest.mark.docker
@RABBITMQ_ONLY
def test_a_replayed_signed_call_is_refused(higgins: Higgins, printed: str) -> None:
    assert isinstance(higgins, Deployment)
    captured = agent_call(higgins, printed, higgins.auth_key)
    first = send(*captured)
    assert first.status_code == 200, first.text
    assert first.json() == {"logs": "signed-and-sealed\n"}
    replayed = send(*captured)
    assert replayed.status_code == 401
    assert replayed.json() == {"error": "Refused: nonce already used."}


@pytest.mark.docker
@RABBITMQ_ONLY
def test_a_signed_call_with_an_altered_body_is_refused(higgins: Higgins, printed: str) -> None:
    assert isinstance(higgins, Deployment)
    url, _, headers = agent_call(higgins, printed, higgins.auth_key)
    altered = json.dumps({**LOGS, "tail": 1}).encode()
    assert send(url, altered, headers).status_code == 401


@pytest.mark.docker
@RABBITMQ_ONLY
def test_the_agents_log_never_holds_the_key(higgins: Higgins, printed: str) -> None:
    assert isinstance(higgins, Deployment)
    send(*agent_call(higgins, printed, None))
    for log in higgins.workdir.glob("*.log"):
        assert higgins.auth_key not in log.read_text(errors="replace"), log.name


def _refusals(deployment: Deployment, reason: str) -> list[str]:
    return [line for log in sorted(deployment.workdir.glob("agent-*.log"))
            for line in log.read_text(errors="replace").splitlines()
            if "refused a call" in line and reason in line]


# -- starting without a key, or on every address ---------------------------------------------

def start(tmp_path: Path, role: str, agent_options: str) -> subprocess.CompletedProcess[str]:
    """`higgins <role>` with only `[agent]` options set: refused before it opens anything."""
    config = tmp_path / "higgins.conf"
    config.write_text(f"[DEFAULT]\nstate_path = {tmp_path / 'state'}\n"
                      "[bus]\nurl = amqp://guest:guest@127.0.0.1:1//\n"
                      f"[agent]\n{agent_options}\n")
    return subprocess.run([sys.executable, "-m", "higgins.cli", "--config-file", str(config),
                           role], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("role", "options", "said"), [
    ("api", "", "no [agent] auth_key is set"),
    ("agent", "", "no [agent] auth_key is set"),
    ("agent", "auth_key = short", "[agent] auth_key is too short"),
    ("agent", f"auth_key = {'k' * 32}\nhost_ip = 0.0.0.0", "[agent] host_ip is 0.0.0.0"),
    ("agent", f"auth_key = {'k' * 32}\nhost_ip = ::", "[agent] host_ip is ::"),
], ids=["api-without-key", "agent-without-key", "short-key", "any-ipv4", "any-ipv6"])
def test_a_process_without_what_it_needs_refuses_to_start(
        tmp_path: Path, role: str, options: str, said: str) -> None:
    started = start(tmp_path, role, options)
    assert started.returncode == 1
    assert said in started.stderr
    assert "k" * 32 not in started.stderr + started.stdout


def test_up_with_a_backend_makes_its_key_once_readable_by_its_owner_only(
        tmp_path: Path) -> None:
    conf = settings.load([], [str(_config(tmp_path, ""))])
    first = processes.backend_config(conf)
    key_file = tmp_path / "state" / processes.AUTH_KEY_FILE
    key = key_file.read_text().strip()
    assert len(key) >= processes.MIN_AUTH_KEY_LENGTH
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert f"[agent]\nauth_key = {key}\n" in first
    assert processes.backend_config(conf) == first


def test_up_with_a_backend_keeps_the_operators_key(tmp_path: Path) -> None:
    conf = settings.load([], [str(_config(tmp_path, f"[agent]\nauth_key = {'o' * 32}\n"))])
    assert "auth_key" not in processes.backend_config(conf)
    assert not (tmp_path / "state" / processes.AUTH_KEY_FILE).exists()


def _config(tmp_path: Path, text: str) -> Path:
    (tmp_path / "state").mkdir()
    config = tmp_path / "higgins.conf"
    config.write_text(f"[DEFAULT]\nstate_path = {tmp_path / 'state'}\n{text}")
    return config
