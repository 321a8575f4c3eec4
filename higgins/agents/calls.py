"""EDGE: the agent's own small HTTP API, through which the Higgins API reaches a host for what
must be answered now (logs, exec, top, stats) rather than folded later. Internal: bind it to an
address only the API hosts can reach. Side effects: Docker calls through the agent."""

from __future__ import annotations

from typing import Any

import flask

from higgins.agents.agent import Agent
from higgins.agents.docker_driver import DriverError


def create_app(agent: Agent) -> flask.Flask:
    app = flask.Flask("higgins-agent")
    app.json.sort_keys = False  # type: ignore[attr-defined]

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
