"""Serve Keystone's WSGI application on 127.0.0.1 with a threaded stdlib server.
Usage: serve.py CONFIG_FILE PORT. Keystone parses sys.argv with oslo.config, so the argv is
cleared before it is imported.

Requests that may write (anything but GET and HEAD) run one at a time: two concurrent SQLite
write transactions can deadlock, and Keystone answers the loser with a 500 "database is
locked" (seen with tempest creating projects and users from two workers). Reads, among them
token validation, stay concurrent."""

from __future__ import annotations

import os
import socketserver
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib's name
        """No access log: Keystone logs what matters to [DEFAULT] log_file."""


def _one_writer_at_a_time(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    writing = threading.Lock()

    def serialized(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            return app(environ, start_response)
        with writing:
            return list(app(environ, start_response))

    return serialized


def main() -> None:
    config, port = sys.argv[1], int(sys.argv[2])
    os.environ["OS_KEYSTONE_CONFIG_FILES"] = config
    sys.argv = sys.argv[:1]
    from keystone.wsgi import api  # noqa: PLC0415 - only after argv is cleared

    server = make_server("127.0.0.1", port, _one_writer_at_a_time(api.application),
                         _ThreadingServer, _QuietHandler)
    server.serve_forever()


if __name__ == "__main__":
    main()
