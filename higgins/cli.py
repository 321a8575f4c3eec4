"""WIRING: the `higgins` command and its subcommands."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from higgins import logs, settings


def _progress(step: str) -> None:
    print(f"==> {step}", flush=True)


def up(args: argparse.Namespace, rest: list[str]) -> int:
    """The embedded all-in-one: everything in this process, state in SQLite."""
    import waitress

    from higgins.runtime import allinone

    conf = settings.load(rest, args.config_file)
    logs.configure(conf.log_level)
    try:
        running = allinone.start(conf, _progress)
    except Exception as error:  # noqa: BLE001 - the user needs the reason, not a traceback
        print(f"higgins up failed: {error}", file=sys.stderr)
        return 1
    try:
        server = waitress.create_server(running.app, host=conf.api.host_ip,
                                        port=conf.api.port, threads=conf.api.threads)
    except OSError as error:
        running.close()
        print(f"higgins up failed: cannot listen on {conf.api.host_ip}:{conf.api.port}: "
              f"{error.strerror}", file=sys.stderr)
        return 1
    url = f"http://{conf.api.host_ip}:{conf.api.port}"
    _progress(f"API listening on {url}")
    print(_WELCOME.format(url=url), flush=True)
    stopping = threading.Event()

    def shutdown(signum: int, frame: object) -> None:
        stopping.set()
        server.close()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    try:
        server.run()
    except OSError:
        if not stopping.is_set():
            raise
    finally:
        running.close()
    return 0


_WELCOME = """
Higgins is up (embedded backend, noauth). Try:

  curl -s -X POST '{url}/v1/containers?run=true' \\
       -H 'Content-Type: application/json' \\
       -H 'OpenStack-API-Version: container 1.40' \\
       -d '{{"name": "hello", "image": "busybox:local", "command": ["sleep", "3600"]}}'
  curl -s {url}/v1/containers/hello
  curl -s -X DELETE '{url}/v1/containers/hello?stop=True' \\
       -H 'OpenStack-API-Version: container 1.40'

With python-zunclient's plugin for the OpenStack client (noauth):

  openstack --os-auth-type none --os-endpoint {url}/v1 appcontainer list

Stop with Ctrl-C; state survives restarts.
"""


def bench(args: argparse.Namespace, rest: list[str]) -> int:
    from bench import lifecycle  # the benchmarks live beside the package, in bench/

    return lifecycle.main(rest)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="higgins", description=__doc__)
    parser.add_argument("--config-file", action="append", default=None,
                        help="oslo.config INI file (default /etc/higgins/higgins.conf)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="run the embedded all-in-one").set_defaults(run=up)
    commands.add_parser("bench", help="run a benchmark: higgins bench lifecycle ...",
                        add_help=False).set_defaults(run=bench)
    args, rest = parser.parse_known_args(argv)
    return int(args.run(args, rest))


if __name__ == "__main__":
    sys.exit(main())
