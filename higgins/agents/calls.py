"""EDGE: the agent's own small HTTP API, through which the Higgins API reaches a host for what
must be answered now (logs, exec, top, stats) rather than folded later. Internal: bind it to an
address only the API hosts can reach. Every call but `GET /` (the host's name, for probes) must
be signed by the API with the key they share (processors/signing.py): any other is refused
with 401 and logged. Side effects: Docker calls through the agent."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import flask

from higgins.agents.agent import Agent
from higgins.agents.docker_driver import DriverError
from higgins.processors import signing

LOG = logging.getLogger(__name__)


def create_app(agent: Agent, auth_key: str,
               clock: Callable[[], float] = time.time) -> flask.Flask:
    app = flask.Flask("higgins-agent")
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.before_request(_checking_signatures(agent.host, auth_key, clock))

    def body() -> dict[str, Any]:
        found: dict[str, Any] = flask.request.get_json(force=True, silent=True) or {}
        return found

    @app.errorhandler(DriverError)
    def runtime_error(error: DriverError) -> Any:
        return {"error": str(error)}, 409

    @app.get("/")
    def hello() -> Any:
        return {"host": agent.host}

    @app.post("/containers/<uuid>/logs")
    def logs(uuid: str) -> Any:
        return {"logs": agent.logs(uuid, **body())}

    @app.post("/containers/<uuid>/execute")
    def execute(uuid: str) -> Any:
        request = body()
        return agent.execute(uuid, list(request["command"]), bool(request["run"]))

    @app.post("/containers/<uuid>/top")
    def top(uuid: str) -> Any:
        return agent.top(uuid, body().get("ps_args"))

    @app.post("/containers/<uuid>/stats")
    def stats(uuid: str) -> Any:
        return agent.stats(uuid, body()["name"])

    @app.post("/containers/<uuid>/<any(get_archive, put_archive, resize):call>")
    def answer(uuid: str, call: str) -> Any:
        return agent.answer(call, uuid, body())

    return app


def _checking_signatures(host: str, auth_key: str,
                         clock: Callable[[], float]) -> Callable[[], Any]:
    """A before-request hook: None for a call the API signed, else a 401 that says why."""
    nonces = signing.Nonces()
    lock = threading.Lock()  # the check-and-remember of a nonce is one step

    def check() -> Any:
        request = flask.request
        if request.endpoint == "hello":
            return None
        query = request.query_string.decode("latin-1")
        call = signing.Call(request.method, host, request.script_root + request.path
                            + (f"?{query}" if query else ""), request.get_data())
        given = {name: value for name in (signing.TIMESTAMP, signing.NONCE, signing.SIGNATURE)
                 if (value := request.headers.get(name)) is not None}
        with lock:
            reason = signing.refusal(auth_key, call, given, clock(), nonces)
        if reason is None:
            return None
        LOG.warning("refused a call to %s %s from %s: %s", request.method, request.path,
                    request.remote_addr, reason, extra={"host": host})
        return ({"error": f"Refused: {reason}."}, 401,
                {"WWW-Authenticate": "Higgins-HMAC-SHA256"})

    return check
