"""The OpenAPI document: served, built from schemas/requests/, and true to the app's routes
(every documented operation is routed, every routed operation is documented, except the 501s
of Zun features Higgins does not have)."""

from __future__ import annotations

import json
import re
from typing import Any

import flask

from higgins.api import missing
from higgins.events import SCHEMA_DIR


def served(client: Any) -> dict[str, Any]:
    response = client.get("/v1/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.get_json()
    return document


def test_the_document_is_openapi_3_1_with_the_request_schemas_of_schemas_dir(
        client: Any) -> None:
    document = served(client)
    assert document["openapi"] == "3.1.0"
    create = json.loads((SCHEMA_DIR / "requests/container_create.json").read_text())
    assert document["components"]["schemas"]["container_create"]["properties"] == \
        create["properties"]
    post = document["paths"]["/v1/containers"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"] == \
        {"$ref": "#/components/schemas/container_create"}


def _routed(app: flask.Flask) -> set[tuple[str, str]]:
    operations = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith(("missing.", "static")) or rule.rule == "/v1/openapi.json":
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        for method in rule.methods or ():
            if method not in ("HEAD", "OPTIONS"):
                operations.add((method.lower(), path))
    return operations


def _expanded(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method, path) for path, item in document["paths"].items() for method in item}


def test_documented_and_routed_operations_are_the_same(app: flask.Flask, client: Any) -> None:
    documented = {(method, path.rstrip("/") or "/") for method, path in
                  _expanded(served(client))}
    routed = set()
    for method, path in _routed(app):
        # one Flask rule serves several verbs: /v1/containers/{ident}/{verb}
        names = re.findall(r"\{(verb|action)\}", path)
        for verb in _verbs(path) if names else [""]:
            concrete = path.replace(f"{{{names[0]}}}", verb) if names else path
            routed.add((method, concrete.rstrip("/") or "/"))
    assert routed == documented


def _verbs(path: str) -> list[str]:
    if path.startswith("/v1/containers"):
        return ["start", "stop", "reboot", "pause", "unpause", "kill"]
    return ["enable", "disable", "force_down"]


def test_features_that_answer_501_are_not_documented(client: Any) -> None:
    paths = served(client)["paths"]
    for action in missing.CONTAINER_ACTIONS:
        assert f"/v1/containers/{{ident}}/{action}" not in paths
    for resource in missing.RESOURCES:
        assert f"/v1/{resource}" not in paths
