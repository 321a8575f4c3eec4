"""The API's guards. Every route of the app, walked from its URL map: a caller without the right
is told so (403, or 404 for another project's container or capsule) before anything about the
request's query or body. A body over [api] max_request_body_size is a 413, and a list over its
schema's limit a 400 naming it, both in Zun's error format."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import flask
import pytest

from higgins import api, settings
from higgins.bus.embedded import EmbeddedBus
from higgins.processors.webhooks import Secret, Subscription
from higgins.store.sqlite import SqliteStore
from tests.api.conftest import MEMBER_OF_P1, NoAgents, error_of, running
from tests.api.test_capsules_api import TEMPLATE
from tests.api.test_policy import ADMIN, MEMBER, OTHER_MEMBER, READER
from tests.api.test_services_api import report

# What stands in for each path parameter; {container}, {capsule}, {image}: p1's (`guarded`).
_ARGUMENTS = {"project_id": "p1", "quota_class_name": "default", "request_id": "req-1",
              "host": "node-1", "rest": "x", "image_id": "{image}", "image_name": "busybox",
              "network_id": "x",
              "subscription_id": "{subscription}"}
_PARAMETER = re.compile(r"<(?:(\w+)(?:\(([^)]*)\))?:)?(\w+)>")


def _argument(path: str, name: str) -> str:
    if name == "ident":
        return "{capsule}" if path.startswith("/v1/capsules") else "{container}"
    return _ARGUMENTS[name]


def _concrete(path: str) -> list[str]:
    """Every path a rule serves, one per choice of each <any(...)>, with placeholders."""
    match = _PARAMETER.search(path)
    if match is None:
        return [path]
    converter, choices, name = match.groups()
    values = [c.strip() for c in choices.split(",")] if converter == "any" \
        else [_argument(path, name)]
    return [concrete for value in values for concrete in
            _concrete(path[:match.start()] + value + path[match.end():])]


def _operations() -> list[tuple[str, str]]:
    """(method, path) of every route the app serves but Flask's static files."""
    # Only the URL map is read: nothing is served from this app.
    app = api.create_app(cast(Any, None), cast(Any, None), NoAgents())
    return sorted({(method, path) for rule in app.url_map.iter_rules()
                   if rule.endpoint != "static"
                   for method in (rule.methods or ()) if method not in ("HEAD", "OPTIONS")
                   for path in _concrete(rule.rule)})


OPERATIONS = _operations()
CHANGES = [op for op in OPERATIONS if op[0] != "GET"]

# Any member may do these in their own project, so another project's member is not refused.
OPEN_TO_MEMBERS = {
    ("GET", "/"), ("GET", "/v1"), ("GET", "/v1/"), ("GET", "/v1/openapi.json"),
    ("GET", "/v1/containers"), ("POST", "/v1/containers"),
    ("GET", "/v1/capsules"), ("POST", "/v1/capsules"),
    ("GET", "/v1/availability_zones"), ("GET", "/v1/images/busybox/search"),
    ("GET", "/v1/registries"), ("POST", "/v1/registries"), ("GET", "/v1/registries/x"),
    ("PATCH", "/v1/registries/x"), ("DELETE", "/v1/registries/x"),
    ("GET", "/v1/subscriptions"), ("POST", "/v1/subscriptions"), ("GET", "/v1/events"),
}
NOT_OPEN = [op for op in OPERATIONS if op not in OPEN_TO_MEMBERS]

ADMIN_ONLY = [
    ("GET", "/v1/images"), ("POST", "/v1/images"), ("GET", "/v1/images/{image}"),
    ("DELETE", "/v1/images/{image}"), ("GET", "/v1/hosts"), ("GET", "/v1/hosts/node-1"),
    ("GET", "/v1/services"), ("DELETE", "/v1/services"), ("PUT", "/v1/services/enable"),
    ("PUT", "/v1/services/disable"), ("PUT", "/v1/services/force_down"),
    ("PUT", "/v1/quotas/p1"), ("DELETE", "/v1/quotas/p1"), ("GET", "/v1/quota_classes/default"),
    ("PUT", "/v1/quota_classes/default"), ("POST", "/v1/networks"), ("DELETE", "/v1/networks/x"),
]

# Deliberately wrong requests: a query and a body no route accepts.
UNKNOWN = {"query": "no_such_parameter=1", "data": b"{not json",
           "content_type": "application/json"}
NOT_VALUES = {"query": "all_projects=maybe&force=maybe&run=maybe&usages=maybe&timeout=x&h=0"
                       "&signal=NOPE&tail=x&since=x&name=!&image=!&path=&repository=!",
              "json": {"no_such_field": [[]], "image": 1, "command": {}, "memory": "lots"}}
WRONG = [pytest.param(UNKNOWN, id="unknown-parameter"), pytest.param(NOT_VALUES, id="bad-values")]


def _ids(operations: list[tuple[str, str]]) -> list[Any]:
    return [pytest.param(method, path, id=f"{method} {path}") for method, path in operations]


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, dict[str, str]]]:
    """One API for the walk, with project p1's running container, capsule and pulled image:
    a refused request changes nothing, so every row can share them."""
    path = tmp_path_factory.mktemp("guards")
    bus, store = EmbeddedBus(path / "events.db"), SqliteStore(path / "views.db")
    client = api.create_app(bus, store, NoAgents()).test_client()
    report(bus, store)
    made = {"container": running(client, bus, store),
            "capsule": _made(client.post("/v1/capsules", json={"template": TEMPLATE},
                                         headers=MEMBER_OF_P1)),
            "image": _made(client.post("/v1/images", json={"repo": "busybox", "host": "node-1"},
                                       headers=ADMIN)),
            "subscription": _subscribed(store)}
    yield client, made
    bus.close()
    store.close()


def _subscribed(store: SqliteStore) -> str:
    """p1's webhook subscription (in the store: its URL need not pass the SSRF guard here)."""
    subscription = Subscription("5e1f0b6a-9d0e-4c52-8a55-0c0f1f2e3d4c", "p1", "u1",
                                "https://hooks.example/x", ("container.*",),
                                (Secret("whsec_AAAA"),), "2026-11-24T00:00:00Z")
    store.save_subscription(subscription)
    return subscription.uuid


def _made(response: Any) -> str:
    assert response.status_code == 202, response.get_json()
    return str(response.get_json()["uuid"])


def _ask(guarded: tuple[Any, dict[str, str]], method: str, path: str, wrong: dict[str, Any],
         headers: dict[str, str]) -> Any:
    client, of_p1 = guarded
    url = path.format_map(of_p1) + "?" + wrong["query"]
    body = {key: value for key, value in wrong.items() if key != "query"}
    return client.open(url, method=method, headers=headers, **body)


def _refused(response: Any) -> bool:
    return response.status_code in (403, 404) and error_of(response) is not None


@pytest.mark.parametrize("wrong", WRONG)
@pytest.mark.parametrize(("method", "path"), _ids(CHANGES))
def test_a_reader_is_refused_every_change_before_the_request_is_read(
        guarded: tuple[Any, dict[str, str]], method: str, path: str,
        wrong: dict[str, Any]) -> None:
    response = _ask(guarded, method, path, wrong, READER)
    assert _refused(response), response.get_json()


@pytest.mark.parametrize("wrong", WRONG)
@pytest.mark.parametrize(("method", "path"), _ids(NOT_OPEN))
def test_another_projects_member_is_refused_before_the_request_is_read(
        guarded: tuple[Any, dict[str, str]], method: str, path: str,
        wrong: dict[str, Any]) -> None:
    response = _ask(guarded, method, path, wrong, OTHER_MEMBER)
    assert _refused(response), response.get_json()


@pytest.mark.parametrize("wrong", WRONG)
@pytest.mark.parametrize(("method", "path"), _ids(ADMIN_ONLY))
def test_a_member_is_refused_admin_operations_before_the_request_is_read(
        guarded: tuple[Any, dict[str, str]], method: str, path: str,
        wrong: dict[str, Any]) -> None:
    response = _ask(guarded, method, path, wrong, MEMBER)
    assert response.status_code == 403, response.get_json()
    error_of(response)


def test_the_tables_name_only_routed_operations() -> None:
    assert OPEN_TO_MEMBERS <= set(OPERATIONS)
    assert set(ADMIN_ONLY) <= set(OPERATIONS)


# The body size limit, on an app with a small one so the bodies stay small.
LIMIT = 1024


@pytest.fixture
def limited(bus: EmbeddedBus, store: SqliteStore) -> Any:
    app: flask.Flask = api.create_app(bus, store, NoAgents(), max_request_body_size=LIMIT)
    return app.test_client()


def _padded(size: int) -> bytes:
    """A create body of exactly `size` bytes (JSON allows the trailing spaces)."""
    body = b'{"image": "busybox:local"}'
    return body + b" " * (size - len(body))


class Endless(io.RawIOBase):
    """A chunked body that never ends, counting what is read of it."""

    def __init__(self) -> None:
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size = min(len(buffer), 4096)
        buffer[:size] = b" " * size
        self.read_bytes += size
        return size


def _chunked(body: io.RawIOBase | io.BytesIO) -> dict[str, Any]:
    return {"headers": {**MEMBER_OF_P1, "Transfer-Encoding": "chunked",
                        "Content-Type": "application/json"},
            "environ_overrides": {"wsgi.input": body, "wsgi.input_terminated": True}}


def test_a_body_over_the_limit_is_413_in_zuns_format(limited: Any) -> None:
    response = limited.post("/v1/containers", data=_padded(LIMIT + 1), headers=MEMBER_OF_P1,
                            content_type="application/json")
    assert response.status_code == 413
    assert error_of(response)["detail"] == \
        f"Request is too large: a request body may be at most {LIMIT} bytes."


def test_a_body_at_the_limit_is_served(limited: Any) -> None:
    response = limited.post("/v1/containers", data=_padded(LIMIT), headers=MEMBER_OF_P1,
                            content_type="application/json")
    assert response.status_code == 202, response.get_json()


def test_a_body_over_the_limit_is_413_before_policy_is_asked(limited: Any) -> None:
    response = limited.post("/v1/containers", data=_padded(LIMIT + 1), headers=READER,
                            content_type="application/json")
    assert response.status_code == 413


def test_an_endless_chunked_body_is_413_after_reading_one_byte_past_the_limit(
        limited: Any) -> None:
    endless = Endless()
    response = limited.post("/v1/containers", **_chunked(endless))
    assert response.status_code == 413
    error_of(response)
    assert endless.read_bytes <= LIMIT + 1


def test_a_chunked_body_within_the_limit_is_served(limited: Any) -> None:
    response = limited.post("/v1/containers", **_chunked(io.BytesIO(_padded(LIMIT))))
    assert response.status_code == 202, response.get_json()


def test_the_default_limit_is_oslo_middlewares(client: Any) -> None:
    assert client.post("/v1/containers", data=_padded(114_688), headers=MEMBER_OF_P1,
                       content_type="application/json").status_code == 202
    assert client.post("/v1/containers", data=_padded(114_689), headers=MEMBER_OF_P1,
                       content_type="application/json").status_code == 413


def test_the_limit_is_api_max_request_body_size(tmp_path: Path, bus: EmbeddedBus,
                                                store: SqliteStore) -> None:
    config = tmp_path / "higgins.conf"
    config.write_text(f"[DEFAULT]\nstate_path = {tmp_path}\n"
                      "[api]\nmax_request_body_size = 2048\n")
    loaded = settings.load([], config_files=[str(config)])
    assert loaded.api.max_request_body_size == 2048
    served = api.configured_app(loaded, bus, store, NoAgents()).test_client()
    response = served.post("/v1/containers", data=_padded(2049), headers=MEMBER_OF_P1,
                           content_type="application/json")
    assert response.status_code == 413


# The limits on lists and maps in bodies (schemas/requests/): far above what a tenant sends.
BUSYBOX = {"image": "busybox:local"}
MEMBER_TEMPLATE = TEMPLATE["spec"]["containers"][0]


def _capsule_with(**fields: Any) -> dict[str, Any]:
    member = {**MEMBER_TEMPLATE, **fields}
    return {"template": {**TEMPLATE, "spec": {**TEMPLATE["spec"], "containers": [member]}}}


@pytest.mark.parametrize(
    ("path", "body", "field", "problem"),
    [
        pytest.param("/v1/containers", {**BUSYBOX, "command": ["x"] * 1025}, "command",
                     "is too long", id="command-1025-items"),
        pytest.param("/v1/containers", {**BUSYBOX, "entrypoint": ["x"] * 1025}, "entrypoint",
                     "is too long", id="entrypoint-1025-items"),
        pytest.param("/v1/containers",
                     {**BUSYBOX, "environment": {f"V{i}": "" for i in range(1025)}},
                     "environment", "has too many properties", id="environment-1025-entries"),
        pytest.param("/v1/containers", {**BUSYBOX, "labels": {f"l{i}": "" for i in range(1025)}},
                     "labels", "has too many properties", id="labels-1025-entries"),
        pytest.param("/v1/containers", {**BUSYBOX, "mounts": [{}] * 257}, "mounts",
                     "is too long", id="mounts-257-items"),
        pytest.param("/v1/containers", {**BUSYBOX, "workdir": "/" + "d" * 4096}, "workdir",
                     "is too long", id="workdir-4097-characters"),
        pytest.param("/v1/capsules", _capsule_with(args=["x"] * 1025), "args", "is too long",
                     id="capsule-args-1025-items"),
        pytest.param("/v1/capsules", _capsule_with(ports=[{"containerPort": 80}] * 257),
                     "ports", "is too long", id="capsule-ports-257-items"),
    ],
)
def test_a_list_over_its_limit_is_a_400_naming_it(client: Any, path: str, body: dict[str, Any],
                                                   field: str, problem: str) -> None:
    response = client.post(path, json=body, headers=MEMBER_OF_P1)
    assert response.status_code == 400
    detail = error_of(response)["detail"]
    assert f"{field}: " in detail and detail.endswith(problem)
    assert len(detail) < 300


def test_lists_at_their_limits_are_accepted(client: Any) -> None:
    body = {**BUSYBOX, "command": ["x"] * 1024, "entrypoint": ["x"] * 1024,
            "environment": {f"V{i}": "" for i in range(1024)}}
    response = client.post("/v1/containers", json=body, headers=MEMBER_OF_P1)
    assert response.status_code == 202, response.get_json()
