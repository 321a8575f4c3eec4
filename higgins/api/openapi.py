"""EDGE: the OpenAPI 3.1 document of the API Higgins serves, generated from one route table and
the request bodies' JSON Schemas in schemas/requests/ (the same files the API validates with),
served at GET /v1/openapi.json."""

from __future__ import annotations

import functools
import json
from typing import Any

import flask

from higgins.api import microversions
from higgins.events import SCHEMA_DIR

blueprint = flask.Blueprint("openapi", __name__)

_LIST = ("limit", "marker", "sort_key", "sort_dir")


@functools.cache
def _request_schema(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMA_DIR / "requests" / f"{name}.json").read_text())
    return {key: value for key, value in schema.items() if key not in ("$schema", "$id")}


# (method, path, summary, query parameters, request body schema, success statuses)
_ROUTES: tuple[tuple[str, str, str, tuple[str, ...], str | None, tuple[int, ...]], ...] = (
    ("get", "/", "Version document (all versions)", (), None, (200,)),
    ("get", "/v1/", "Version document (v1)", (), None, (200,)),
    ("get", "/v1/containers", "List containers",
     ("all_projects", *_LIST, "name", "image", "status", "host", "task_state", "project_id",
      "user_id"), None, (200,)),
    ("post", "/v1/containers", "Create (and with run=true start) a container", ("run",),
     "container_create", (202,)),
    ("get", "/v1/containers/{ident}", "Show a container", ("all_projects",), None, (200,)),
    ("patch", "/v1/containers/{ident}", "Update cpu, memory or name", (), "container_update",
     (200, 202)),
    ("delete", "/v1/containers/{ident}", "Delete a container",
     ("force", "stop", "all_projects"), None, (204,)),
    ("post", "/v1/containers/{ident}/start", "Start", (), None, (202,)),
    ("post", "/v1/containers/{ident}/stop", "Stop", ("timeout",), None, (202,)),
    ("post", "/v1/containers/{ident}/reboot", "Reboot", ("timeout",), None, (202,)),
    ("post", "/v1/containers/{ident}/pause", "Pause", (), None, (202,)),
    ("post", "/v1/containers/{ident}/unpause", "Unpause", (), None, (202,)),
    ("post", "/v1/containers/{ident}/kill", "Send a signal", ("signal",), None, (202,)),
    ("post", "/v1/containers/{ident}/rebuild", "Recreate from its image (or a new one)",
     ("image", "image_driver"), None, (202,)),
    ("post", "/v1/containers/{ident}/rename", "Rename (before 1.14)", ("name",), None, (200,)),
    # interactive execute (a websocket proxy) answers 501 until it exists: not documented
    ("post", "/v1/containers/{ident}/execute", "Run a command in the container",
     ("command", "run"), None, (200,)),
    ("get", "/v1/containers/{ident}/logs", "Logs",
     ("stdout", "stderr", "timestamps", "tail", "since"), None, (200,)),
    ("get", "/v1/containers/{ident}/top", "Processes", ("ps_args",), None, (200,)),
    ("get", "/v1/containers/{ident}/stats", "Resource usage", (), None, (200,)),
    ("get", "/v1/containers/{ident}/get_archive", "A tar of a path in the container",
     ("path",), None, (200,)),
    ("post", "/v1/containers/{ident}/put_archive", "Unpack a tar into the container",
     ("path",), "archive_put", (200,)),
    ("post", "/v1/containers/{ident}/commit", "Commit into an image (to Glance)",
     ("repository", "tag"), None, (202,)),
    ("post", "/v1/containers/{ident}/resize", "Set the TTY's size", ("h", "w"), None, (200,)),
    ("post", "/v1/containers/{ident}/execute_resize", "Set the TTY size of an exec",
     ("exec_id", "h", "w"), None, (200,)),
    ("post", "/v1/containers/{ident}/resize_container", "New cpu and/or memory (1.19)", (),
     "container_update", (202,)),
    ("get", "/v1/containers/{ident}/container_actions", "Actions history", (), None, (200,)),
    ("get", "/v1/containers/{ident}/network_list", "Its Neutron ports and fixed IPs",
     ("all_projects",), None, (200,)),
    ("post", "/v1/containers/{ident}/network_attach", "Connect to a network or port (Neutron)",
     ("network", "port", "fixed_ip"), None, (202,)),
    ("post", "/v1/containers/{ident}/network_detach", "Disconnect from a network or port",
     ("network", "port"), None, (202,)),
    ("post", "/v1/containers/{ident}/add_security_group", "Add a security group to its ports",
     ("name",), None, (202,)),
    ("post", "/v1/containers/{ident}/remove_security_group",
     "Remove a security group from its ports", ("name",), None, (202,)),
    ("post", "/v1/networks", "Check a Neutron network for containers (admin, 1.27)", (), None,
     (200,)),
    ("delete", "/v1/networks/{network_id}", "Forget a Neutron network unless in use (admin)",
     (), None, (204,)),
    ("get", "/v1/containers/{ident}/container_actions/{request_id}", "One action and its events",
     (), None, (200,)),
    ("get", "/v1/capsules", "List capsules", ("all_projects", *_LIST), None, (200,)),
    ("post", "/v1/capsules", "Create a capsule from a template", (), "capsule_create", (202,)),
    ("get", "/v1/capsules/{ident}", "Show a capsule with its containers", ("all_projects",),
     None, (200,)),
    ("delete", "/v1/capsules/{ident}", "Delete a capsule and its containers",
     ("all_projects",), None, (204,)),
    ("get", "/v1/images", "List images on hosts (admin)", _LIST, None, (200,)),
    ("post", "/v1/images", "Pull an image onto a host (admin)", (), "image_pull", (202,)),
    ("get", "/v1/images/{image_id}", "Show an image (admin)", (), None, (200,)),
    ("get", "/v1/images/{image_name}/search", "Search Glance's docker images (image_driver glance)",
     ("image_driver", "exact_match"), None, (200,)),
    ("delete", "/v1/images/{image_id}", "Remove an image from its host (admin)", (), None,
     (204,)),
    ("get", "/v1/hosts", "List hosts (admin)", _LIST, None, (200,)),
    ("get", "/v1/hosts/{host}", "Show a host (admin)", (), None, (200,)),
    ("get", "/v1/availability_zones", "List availability zones", (), None, (200,)),
    ("get", "/v1/services", "List compute services (admin)", _LIST, None, (200,)),
    ("delete", "/v1/services", "Delete a service record (admin)", ("host", "binary"), None,
     (204,)),
    ("put", "/v1/services/enable", "Enable a service (admin)", ("host", "binary"), None, (200,)),
    ("put", "/v1/services/disable", "Disable a service (admin)",
     ("host", "binary", "disabled_reason"), None, (200,)),
    ("put", "/v1/services/force_down", "Force a service down (admin)",
     ("host", "binary", "forced_down"), None, (200,)),
    ("get", "/v1/quotas/{project_id}", "A project's quotas", ("usages",), None, (200,)),
    ("put", "/v1/quotas/{project_id}", "Set a project's quotas (admin)", (), "quota_update",
     (200,)),
    ("delete", "/v1/quotas/{project_id}", "Reset a project's quotas (admin)", (), None, (204,)),
    ("get", "/v1/quotas/{project_id}/defaults", "Default quotas", (), None, (200,)),
    ("get", "/v1/quota_classes/{quota_class_name}", "A quota class (admin)", (), None, (200,)),
    ("put", "/v1/quota_classes/{quota_class_name}", "Set a quota class (admin)", (),
     "quota_update", (200,)),
    # watch=true (Server-Sent Events until the client leaves) is left out, as the 501s are:
    # a generated client would wait on a stream that does not end
    ("get", "/v1/events", "The audit record, newest first (watch=true streams it as "
     "Server-Sent Events)", ("all_projects", "limit", "marker", "container", "capsule",
                             "project_id", "type", "request_id", "since", "until"), None,
     (200,)),
    ("get", "/v1/subscriptions", "List webhook subscriptions", ("all_projects",), None, (200,)),
    ("post", "/v1/subscriptions", "Subscribe a URL to events (answers the secret once)", (),
     "subscription_create", (201,)),
    ("get", "/v1/subscriptions/{subscription_id}", "Show a subscription", (), None, (200,)),
    ("patch", "/v1/subscriptions/{subscription_id}", "Change a subscription", (),
     "subscription_update", (200,)),
    ("delete", "/v1/subscriptions/{subscription_id}", "Delete a subscription", (), None,
     (204,)),
    ("post", "/v1/subscriptions/{subscription_id}/rotate_secret",
     "A new signing secret (the old one signs during the grace period)", (),
     "subscription_rotate", (200,)),
    ("get", "/v1/subscriptions/{subscription_id}/deliveries",
     "The delivery log, newest attempt first", ("limit",), None, (200,)),
    ("post", "/v1/subscriptions/{subscription_id}/redeliver",
     "Send one event or a time range again", (), "subscription_redeliver", (202,)),
)

_PATH_PARAMETERS = {"ident": "A container's (or capsule's) uuid or name.",
                    "subscription_id": "A webhook subscription's uuid.",
                    "project_id": "A Keystone project id.",
                    "request_id": "A request id (req-...).", "host": "A host's uuid or name.",
                    "quota_class_name": "A quota class name (default).",
                    "image_id": "An image's uuid (Higgins').",
                    "image_name": "An image's name, or the start of one (Glance).",
                    "network_id": "A Neutron network's id."}
# query parameters a route requires, with their schema: a Glance search only (a Docker
# registry search answers 501 and is left out of the document, as other missing features are)
_REQUIRED_QUERY: dict[tuple[str, str], dict[str, Any]] = {
    ("/v1/images/{image_name}/search", "image_driver"): {"type": "string", "enum": ["glance"]},
}

_BOOLEAN = {"type": "string", "enum": ["True", "False", "true", "false"]}
_QUERY_SCHEMAS: dict[str, dict[str, Any]] = {
    **{name: _BOOLEAN for name in ("all_projects", "force", "stop", "run", "usages",
                                   "interactive", "stdout", "stderr", "timestamps",
                                   "forced_down")},
    **{name: {"type": "integer", "minimum": 1} for name in ("limit", "h", "w")},
    "timeout": {"type": "integer", "minimum": 0},
    "sort_dir": {"type": "string", "enum": ["asc", "desc"]},
    "sort_key": {"type": "string", "description": "A field of the listed resource"},
    "binary": {"type": "string", "enum": ["zun-compute"]},
}

_ERROR = {"description": "Zun's error format",
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/errors"}}}}


def _operation(path: str, summary: str, query: tuple[str, ...], body: str | None,
               statuses: tuple[int, ...]) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [{"$ref": "#/components/parameters/api_version"}]
    parameters += [{"name": name, "in": "path", "required": True, "schema": {"type": "string"},
                    "description": text}
                   for name, text in _PATH_PARAMETERS.items() if f"{{{name}}}" in path]
    parameters += [{"name": name, "in": "query", "required": (path, name) in _REQUIRED_QUERY,
                    "schema": _REQUIRED_QUERY.get((path, name),
                                                  _QUERY_SCHEMAS.get(name, {"type": "string"}))}
                   for name in query]
    operation: dict[str, Any] = {
        "summary": summary, "parameters": parameters,
        "responses": {**{str(status): {"description": "Success"} for status in statuses},
                      "4XX": _ERROR}}
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{body}"}}}}
    return operation


def document(server_url: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for method, path, summary, query, body, statuses in _ROUTES:
        paths.setdefault(path, {})[method] = _operation(path, summary, query, body, statuses)
    bodies = sorted({body for *_, body, _ in _ROUTES if body is not None})
    return {
        "openapi": "3.1.0",
        "info": {"title": "Higgins container API (OpenStack Zun v1 compatible)",
                 "version": f"v1 (microversions {microversions.MIN_VERSION} to "
                            f"{microversions.MAX_VERSION})"},
        "servers": [{"url": server_url.rstrip("/")}],
        "paths": paths,
        "components": {
            "parameters": {"api_version": {
                "name": microversions.HEADER, "in": "header", "required": False,
                "schema": {"type": "string"},
                "example": f"container {microversions.MAX_VERSION}",
                "description": "container X.Y, or container latest"}},
            "schemas": {**{name: _request_schema(name) for name in bodies},
                        "errors": _ERRORS_SCHEMA},
        },
    }


_ERRORS_SCHEMA = {
    "type": "object", "required": ["errors"],
    "properties": {"errors": {"type": "array", "items": {
        "type": "object",
        "required": ["request_id", "code", "status", "title", "detail", "links"],
        "properties": {"request_id": {"type": "string"}, "code": {"type": "string"},
                       "status": {"type": "integer"}, "title": {"type": "string"},
                       "detail": {"type": "string"}, "links": {"type": "array"}}}}}}


@blueprint.get("/v1/openapi.json")
def served() -> Any:
    return document(flask.request.host_url)
