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


def replay(args: argparse.Namespace, rest: list[str]) -> int:
    """Fold the retained log again: --check compares with the views, --into rebuilds them."""
    from pathlib import Path

    from higgins import store as stores
    from higgins.bus.embedded import EmbeddedBus
    from higgins.runtime import allinone
    from higgins.runtime import replay as replaying
    from higgins.store.sqlite import SqliteStore

    options = argparse.ArgumentParser(prog="higgins replay")
    options.add_argument("--check", action="store_true", help="compare with the stored views")
    options.add_argument("--into", type=Path, help="rebuild the views into this new SQLite file")
    wanted, rest = options.parse_known_args(rest)
    conf = settings.load(rest, args.config_file)
    try:
        lock = allinone.lock_state(conf.state_path)
    except allinone.StateInUse as error:
        print(f"higgins replay: {error}; stop it first", file=sys.stderr)
        return 1
    with lock:
        bus = EmbeddedBus.from_url(conf.bus_url)
        if wanted.into:
            written = replaying.rebuild(bus, SqliteStore(wanted.into))
            print(f"rebuilt {written} views into {wanted.into}")
            return 0
        report = replaying.check(bus, stores.by_url(conf.store_url))
        for difference in report.differences:
            print(difference)
        print(f"{report.checked} subjects replayed, {len(report.differences)} differ")
        return 1 if report.differences else 0


def bench(args: argparse.Namespace, rest: list[str]) -> int:
    """`higgins bench lifecycle|fold [options]`: the benchmarks live beside the package."""
    import importlib

    names = ("lifecycle", "fold")
    if not rest or rest[0] not in names:
        print(f"usage: higgins bench {{{','.join(names)}}} [options]", file=sys.stderr)
        return 2
    module = importlib.import_module(f"bench.{rest[0]}")
    return int(module.main(rest))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="higgins", description=__doc__)
    parser.add_argument("--config-file", action="append", default=None,
                        help="oslo.config INI file (default /etc/higgins/higgins.conf)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="run the embedded all-in-one").set_defaults(run=up)
    commands.add_parser("replay", help="fold the log again: --check against the views, "
                        "or --into FILE", add_help=False).set_defaults(run=replay)
    commands.add_parser("bench", help="run a benchmark: higgins bench lifecycle ...",
                        add_help=False).set_defaults(run=bench)
    args, rest = parser.parse_known_args(argv)
    return int(args.run(args, rest))


if __name__ == "__main__":
    sys.exit(main())
