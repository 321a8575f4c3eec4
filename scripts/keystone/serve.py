"""Serve Keystone's WSGI application on 127.0.0.1 with a threaded stdlib server.
Usage: serve.py CONFIG_FILE PORT. Keystone parses sys.argv with oslo.config, so the argv is
cleared before it is imported."""

from __future__ import annotations

import os
import socketserver
import sys
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib's name
        """No access log: Keystone logs what matters to [DEFAULT] log_file."""


def main() -> None:
    config, port = sys.argv[1], int(sys.argv[2])
    os.environ["OS_KEYSTONE_CONFIG_FILES"] = config
    sys.argv = sys.argv[:1]
    from keystone.wsgi import api  # noqa: PLC0415 - only after argv is cleared

    server = make_server("127.0.0.1", port, api.application, _ThreadingServer, _QuietHandler)
    server.serve_forever()


if __name__ == "__main__":
    main()
