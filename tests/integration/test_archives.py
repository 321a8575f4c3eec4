"""put_archive / get_archive through the agent on every backend: a tar put into a running
container comes back out, base64 from 1.25 and as a string of its bytes before."""

from __future__ import annotations

import base64
import io
import tarfile

import pytest

from tests.integration.conftest import Api, Higgins

pytestmark = pytest.mark.docker


def tar_of(name: str, content: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def member_of(tar: bytes, name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(tar)) as opened:
        extracted = opened.extractfile(name)
        assert extracted is not None
        return extracted.read()


def test_a_tar_put_into_a_container_comes_back(higgins: Higgins) -> None:
    api = Api(higgins.url)
    uuid = api.create(name="archives")["uuid"]
    api.wait_status(uuid, "Running", timeout=60)
    # busybox:local is FROM scratch: /bin is its only directory (no /tmp)
    put = api.call("POST", f"/v1/containers/{uuid}/put_archive?path=/bin",
                   json={"data": base64.b64encode(tar_of("note.txt", b"Random text")).decode()})
    assert put.status_code == 200, put.text
    got = api.call("GET", f"/v1/containers/{uuid}/get_archive?path=/bin/note.txt")
    assert got.status_code == 200, got.text
    body = got.json()
    assert member_of(base64.b64decode(body["data"]), "note.txt") == b"Random text"
    assert (body["stat"]["name"], body["stat"]["size"]) == ("note.txt", 11)

    legacy = Api(higgins.url, {"OpenStack-API-Version": "container 1.20"})
    old = legacy.call("GET", f"/v1/containers/{uuid}/get_archive?path=/bin/note.txt").json()
    assert member_of(old["data"].encode("latin-1"), "note.txt") == b"Random text"
    missing = api.call("GET", f"/v1/containers/{uuid}/get_archive?path=/nowhere")
    assert missing.status_code == 409 and "nowhere" in missing.json()["errors"][0]["detail"]
    api.call("DELETE", f"/v1/containers/{uuid}?force=True")


def test_an_injected_file_is_in_the_container_before_it_starts(higgins: Higgins) -> None:
    api = Api(higgins.url)
    content = base64.b64encode(b"Random text").decode()
    made = api.create(name="injected", command=["sh", "-c", "cat /data/testfile; echo; sleep 300"],
                      mounts=[{"type": "bind", "source": content,
                               "destination": "/data/testfile"}])
    api.wait_status(made["uuid"], "Running", timeout=60)
    said = api.call("POST", f"/v1/containers/{made['uuid']}/execute",
                    json={"command": "cat /data/testfile"}).json()
    assert said["output"] == "Random text" and said["exit_code"] == 0
    logs = api.call("GET", f"/v1/containers/{made['uuid']}/logs").json()
    assert "Random text" in logs
    api.call("DELETE", f"/v1/containers/{made['uuid']}?force=True")
