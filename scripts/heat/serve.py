"""Serve heat-api's WSGI application (heat.wsgi.api) on 127.0.0.1 with a threaded stdlib server.
Usage: serve.py CONFIG_FILE PORT LOG_FILE. Heat parses sys.argv with oslo.config when the module
is imported, so the argv is replaced by Heat's own options first. heat-api keeps no state: it
checks the token and forwards each call to heat-engine over RabbitMQ."""

from __future__ import annotations

import socketserver
import sys
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib's name
        """No access log: Heat logs each request to its log file."""


def main() -> None:
    config, port, log_file = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    sys.argv = ["heat-api", "--config-file", config, "--log-file", log_file]
    from heat.wsgi import api  # noqa: PLC0415 - only after argv is set

    server = make_server("127.0.0.1", port, api.application, _ThreadingServer, _QuietHandler)
    server.serve_forever()


if __name__ == "__main__":
    main()
