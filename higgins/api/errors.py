"""EDGE: every error the API returns, in Zun's format, from one mapping."""

from __future__ import annotations

from typing import Any

import flask
from werkzeug import exceptions as wz

from higgins.faults import ServiceUnavailable


class ApiError(Exception):
    """An answer other than success: status, a Zun-style code, and a detail for the user.
    The title repeats the detail, as Zun's do: python-zunclient shows the title to the user."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.title = detail


_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    409: "Conflict",
    413: "Request Entity Too Large",
    415: "Unsupported Media Type",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def bad_request(detail: str) -> ApiError:
    return ApiError(400, "container.invalid_input", detail)


def not_found(detail: str) -> ApiError:
    return ApiError(404, "container.not_found", detail)


def conflict(detail: str, code: str = "container.invalid_state") -> ApiError:
    return ApiError(409, code, detail)


def body(error: ApiError) -> dict[str, Any]:
    return {
        "errors": [
            {
                "request_id": flask.g.get("request_id", ""),
                "code": error.code,
                "status": error.status,
                "title": error.title,
                "detail": error.detail,
                "links": [],
            }
        ]
    }


def respond(error: ApiError) -> flask.Response:
    response = flask.jsonify(body(error))
    response.status_code = error.status
    return response


def register(app: flask.Flask) -> None:
    app.register_error_handler(ApiError, respond)

    @app.errorhandler(wz.HTTPException)
    def http_error(error: wz.HTTPException) -> flask.Response:
        status = error.code or 500
        code = "container.not_found" if status == 404 else f"container.http_{status}"
        detail = error.description or _TITLES.get(status, "Error")
        if status == 404:
            detail = f"The resource {flask.request.path} could not be found."
        return respond(ApiError(status, code, detail))

    @app.errorhandler(ServiceUnavailable)
    def unavailable(error: ServiceUnavailable) -> flask.Response:
        app.logger.warning("service unavailable: %s", error)
        return respond(ApiError(503, "container.service_unavailable",
                                "The message bus, event log or view store is unavailable right "
                                "now; try again. A change this answers is not accepted."))

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> flask.Response:
        app.logger.exception("unexpected error")
        return respond(ApiError(500, "container.internal_error",
                                "The server could not complete the request; see its log."))
