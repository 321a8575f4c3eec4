"""Serve Cinder's API (the WSGI application cinder.wsgi.api) on 127.0.0.1 with a threaded
stdlib server: one process, no eventlet. Usage: serve.py CONFIG_FILE LOG_FILE PORT.
Cinder parses sys.argv with oslo.config when the module is imported, so the argv it should see
is set first."""

from __future__ import annotations

import socketserver
import sys
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib's name
        """No access log: Cinder logs each request to its log file."""


def main() -> None:
    config, log_file, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    sys.argv = [sys.argv[0], "--config-file", config, "--log-file", log_file]
    from cinder.wsgi import api  # noqa: PLC0415 - only after argv is set

    server = make_server("127.0.0.1", port, api.application, _ThreadingServer, _QuietHandler)
    server.serve_forever()


if __name__ == "__main__":
    main()
