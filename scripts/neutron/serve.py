"""Serve Neutron's API (the WSGI application neutron.wsgi.api) on 127.0.0.1 with a threaded
stdlib server: one process, a thread per request, as neutron 29 has no eventlet neutron-server.
Usage: serve.py CONFIG_DIR PORT LOG_FILE (CONFIG_DIR holds neutron.conf and ml2_conf.ini). Neutron
parses sys.argv with oslo.config, so the argv is cut to the log file option before the import."""

from __future__ import annotations

import os
import socketserver
import sys
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib's name
        """No access log: Neutron logs each request to its own log file."""


def main() -> None:
    config_dir, port, log_file = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    os.environ["OS_NEUTRON_CONFIG_DIR"] = config_dir
    os.environ["OS_NEUTRON_CONFIG_FILES"] = "neutron.conf;ml2_conf.ini"
    sys.argv = [sys.argv[0], "--log-file", log_file]
    from neutron.wsgi import api  # noqa: PLC0415 - only after argv is set

    server = make_server("127.0.0.1", port, api.application, _ThreadingServer, _QuietHandler)
    server.serve_forever()


if __name__ == "__main__":
    main()
