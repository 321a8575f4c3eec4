"""EDGE: the request body size limit, as oslo.middleware's sizelimit keeps it in other OpenStack
services: a body over [api] max_request_body_size is refused (413, Zun's format) before any
handler runs. A chunked body is read from the request stream here, at most the limit and one
byte, so an endless one is never read whole."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import flask

from higgins.api import errors

DEFAULT_MAX_BYTES = 114_688  # oslo.middleware's default max_request_body_size
_CHUNK_BYTES = 64 * 1024


def limiter(max_bytes: int) -> Callable[[], None]:
    """A before_request hook that answers 413 to a body over `max_bytes`."""

    def refuse_large_bodies() -> None:
        request = flask.request
        length = request.content_length
        # Without a length the body is read only where the server ends the stream (werkzeug
        # reads nothing otherwise); waitress does, and gives a length even to chunked bodies.
        if length is None and "wsgi.input_terminated" in request.environ:
            length = _buffered(request.environ, max_bytes)
        if length is not None and length > max_bytes:
            raise errors.ApiError(413, "container.request_too_large",
                                  f"Request is too large: a request body may be at most "
                                  f"{max_bytes} bytes.")

    return refuse_large_bodies


def _buffered(environ: dict[str, Any], max_bytes: int) -> int:
    """Read at most `max_bytes` + 1 bytes of a body of unknown length; if it fits, give it to
    the request again with its length, as any other body. Returns the bytes read."""
    stream, wanted, chunks = environ["wsgi.input"], max_bytes + 1, []
    while wanted > 0:
        chunk = stream.read(min(wanted, _CHUNK_BYTES))
        if not chunk:
            break
        chunks.append(chunk)
        wanted -= len(chunk)
    body = b"".join(chunks)
    if len(body) <= max_bytes:
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
    return len(body)
