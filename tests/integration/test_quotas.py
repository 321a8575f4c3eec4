"""Quotas on every backend: concurrent creates from one project, through separate HTTP
connections (and, with RabbitMQ + Cassandra, the ledger's lightweight transactions), never take
more than the quota, and a deleted container gives its share back."""

from __future__ import annotations

import uuid as uuidlib
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.integration.conftest import ALSO_KAFKA, Api, Higgins

pytestmark = pytest.mark.docker


@ALSO_KAFKA
def test_concurrent_creates_take_exactly_the_quota(higgins: Higgins) -> None:
    project = f"quota-{uuidlib.uuid4().hex[:8]}"
    admin = Api(higgins.url, {"X-Project-Id": "ops", "X-Roles": "admin"})
    member = Api(higgins.url, {"X-Project-Id": project, "X-Roles": "member"})
    assert admin.call("PUT", f"/v1/quotas/{project}", json={"containers": 3}).status_code == 200
    body = {"image": "busybox:local", "command": ["sleep", "300"], "memory": 16}

    def one(_: int) -> tuple[int, str]:
        answer = member.call("POST", "/v1/containers?run=false", json=body)
        return answer.status_code, answer.json().get("uuid", "")

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, range(8)))
    made = [uuid for status, uuid in answers if status == 202]
    assert sorted(status for status, _ in answers) == [202] * 3 + [403] * 5
    listed = member.call("GET", "/v1/containers").json()["containers"]
    assert sorted(c["uuid"] for c in listed) == sorted(made)
    usage = member.call("GET", f"/v1/quotas/{project}?usages=True").json()
    assert usage["containers"] == {"limit": 3, "in_use": 3}
    assert usage["memory"] == {"limit": 51200, "in_use": 48}

    for uuid in made:
        member.wait_status(uuid, "Created", timeout=60)
    assert member.call("DELETE", f"/v1/containers/{made[0]}").status_code == 204
    member.wait_gone(made[0], timeout=60)
    again = member.call("POST", "/v1/containers?run=false", json=body)
    assert again.status_code == 202, again.text
    for uuid in [*made[1:], again.json()["uuid"]]:
        member.call("DELETE", f"/v1/containers/{uuid}")
