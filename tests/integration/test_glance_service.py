"""The Glance of scripts/start-glance.sh as Higgins uses it: found in the Keystone catalog, a
`docker save` tarball stored as a docker/raw image by a project member and read back
whole, invisible to another project; Glance's default policy, unchanged."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
import requests

pytestmark = [pytest.mark.glance, pytest.mark.keystone]

KEYSTONE = "http://127.0.0.1:5000"


class Session:
    """A persona's project-scoped token and the image endpoint its catalog names."""

    def __init__(self, user: str, project: str) -> None:
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"id": "default"}, "password": "secret"}}},
            "scope": {"project": {"name": project, "domain": {"id": "default"}}}}}
        answer = requests.post(f"{KEYSTONE}/v3/auth/tokens", json=body, timeout=30)
        answer.raise_for_status()
        self.headers = {"X-Auth-Token": answer.headers["X-Subject-Token"]}
        self.project_id = answer.json()["token"]["project"]["id"]
        self.glance = image_endpoint(answer.json()["token"]["catalog"])

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return requests.request(method, f"{self.glance}{path}", headers=headers, timeout=60,
                                **kwargs)


def image_endpoint(catalog: list[dict[str, Any]]) -> str:
    """The public URL of the catalog's `image` service in RegionOne."""
    (service,) = (entry for entry in catalog if entry["type"] == "image")
    (endpoint,) = (e for e in service["endpoints"]
                   if e["interface"] == "public" and e["region_id"] == "RegionOne")
    return str(endpoint["url"]).rstrip("/")


@pytest.fixture(scope="module")
def sessions() -> dict[str, Session]:
    return {user: Session(user, project) for user, project in (
        ("demo_member", "demo"), ("demo_reader", "demo"), ("alt_member", "alt_demo"))}


@pytest.fixture(scope="module")
def busybox_tarball() -> bytes:
    return subprocess.run(["/usr/bin/docker", "save", "busybox:local"], check=True,
                          capture_output=True, timeout=60).stdout


@pytest.fixture
def image(sessions: dict[str, Session]) -> Iterator[dict[str, Any]]:
    """A queued docker/raw image of demo_member's, deleted afterwards."""
    member = sessions["demo_member"]
    created = member.call("POST", "/v2/images", json={
        "name": "higgins-busybox", "container_format": "docker", "disk_format": "raw"})
    assert created.status_code == 201, created.text
    yield created.json()
    member.call("DELETE", f"/v2/images/{created.json()['id']}")


def test_glance_is_the_catalogs_image_service(sessions: dict[str, Session]) -> None:
    assert sessions["demo_member"].glance == "http://127.0.0.1:9292"


def test_member_uploads_a_docker_tarball_and_reads_it_back_whole(
        sessions: dict[str, Session], image: dict[str, Any], busybox_tarball: bytes) -> None:
    member = sessions["demo_member"]
    # Glance's default visibility is `shared`: the owner's alone until it adds members.
    assert (image["visibility"], image["status"]) == ("shared", "queued")
    assert image["owner"] == member.project_id
    uploaded = member.call("PUT", f"/v2/images/{image['id']}/file", data=busybox_tarball,
                           headers={"Content-Type": "application/octet-stream"})
    assert uploaded.status_code == 204, uploaded.text
    shown = member.call("GET", f"/v2/images/{image['id']}").json()
    assert shown["status"] == "active"
    assert shown["size"] == len(busybox_tarball)
    assert shown["checksum"] == hashlib.md5(busybox_tarball).hexdigest()  # Glance's legacy md5
    assert (shown["os_hash_algo"], shown["os_hash_value"]) == (
        "sha512", hashlib.sha512(busybox_tarball).hexdigest())
    data = member.call("GET", f"/v2/images/{image['id']}/file")
    assert data.status_code == 200
    assert data.headers["Content-MD5"] == shown["checksum"]
    assert data.content == busybox_tarball


def test_another_projects_member_gets_404(sessions: dict[str, Session],
                                          image: dict[str, Any]) -> None:
    alt = sessions["alt_member"]
    assert alt.call("GET", f"/v2/images/{image['id']}").status_code == 404
    assert alt.call("GET", f"/v2/images/{image['id']}/file").status_code == 404
    listed = alt.call("GET", "/v2/images").json()["images"]
    assert image["id"] not in [entry["id"] for entry in listed]


def test_default_policy_reader_cannot_create_member_cannot_publicize(
        sessions: dict[str, Session], image: dict[str, Any]) -> None:
    refused = sessions["demo_reader"].call("POST", "/v2/images", json={
        "name": "higgins-reader", "container_format": "docker", "disk_format": "raw"})
    assert refused.status_code == 403
    publicize = sessions["demo_member"].call(
        "PATCH", f"/v2/images/{image['id']}",
        json=[{"op": "replace", "path": "/visibility", "value": "public"}],
        headers={"Content-Type": "application/openstack-images-v2.1-json-patch"})
    assert publicize.status_code == 403
