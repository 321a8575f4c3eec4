"""EDGE: the version documents at / and /v1/ that clients discover the microversions from."""

from __future__ import annotations

from typing import Any

import flask

from higgins.api import microversions

blueprint = flask.Blueprint("versions", __name__)


def _v1(base: str) -> dict[str, Any]:
    return {
        "id": "v1",
        "status": "CURRENT",
        "min_version": str(microversions.MIN_VERSION),
        "max_version": str(microversions.MAX_VERSION),
        "links": [{"href": f"{base}/v1/", "rel": "self"}],
    }


@blueprint.get("/")
def root() -> Any:
    base = flask.request.host_url.rstrip("/")
    return {
        "name": "OpenStack Zun API",
        "description": "Higgins: an event-driven container service, compatible with Zun's v1 API.",
        "versions": [_v1(base)],
        "default_version": _v1(base),
    }


@blueprint.get("/v1/")
@blueprint.get("/v1")
def v1() -> Any:
    base = flask.request.host_url.rstrip("/")
    link = [{"href": f"{base}/v1/containers/", "rel": "self"},
            {"href": f"{base}/containers/", "rel": "bookmark"}]
    return {
        **_v1(base),
        "media_types": [{"base": "application/json",
                         "type": "application/vnd.openstack.zun.v1+json"}],
        "containers": link,
    }
