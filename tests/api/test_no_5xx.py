"""Every field of a create, and every action parameter, given every kind of JSON value:
the answer is 202 or a 4xx in Zun's format, never a 5xx, and a refused create records nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from higgins import events
from higgins.bus.embedded import EmbeddedBus
from tests.api.conftest import V140, error_of

FIELDS = sorted(json.loads(
    (events.SCHEMA_DIR / "requests" / "container_create.json").read_text())["properties"])
VALUES: list[Any] = [None, True, False, 0, -1, 1.5, 10**20, "", "x", "512m", "ÿ" * 300,
                     "../../etc", [], ["a", 1], {}, {"Name": "always"}, {"a": {"b": []}}]


@pytest.mark.parametrize("field", FIELDS)
def test_any_value_of_any_create_field_is_never_a_5xx(client: Any, bus: EmbeddedBus,
                                                      field: str) -> None:
    for value in VALUES:
        body = {"image": "busybox:local", "command": ["true"], field: value}
        for version in ("container 1.1", "container 1.40"):
            response = client.post("/v1/containers", json=body,
                                   headers={"OpenStack-API-Version": version})
            assert response.status_code in (202, 400, 403), (field, value, response.get_json())
            if response.status_code != 202:
                error_of(response)


@pytest.mark.parametrize(
    "verb", ["start", "stop", "reboot", "pause", "unpause", "kill", "logs", "execute", "top"])
@pytest.mark.parametrize("query", ["", "?timeout=-1", "?timeout=x", "?signal=%00", "?tail=abc",
                                   "?since=yesterday", "?all_projects=maybe", "?x=1"])
def test_odd_action_parameters_are_never_a_5xx_except_not_implemented(
        client: Any, verb: str, query: str) -> None:
    uuid = client.post("/v1/containers", json={"image": "busybox:local"},
                       headers=V140).get_json()["uuid"]
    method = "GET" if verb == "logs" else "POST"
    response = client.open(f"/v1/containers/{uuid}/{verb}{query}", method=method, headers=V140)
    assert response.status_code < 500 or response.status_code == 501, response.get_json()
    assert response.status_code != 200 or verb == "logs"
    if response.status_code >= 400:
        error_of(response)
