"""WIRING: the `higgins` command and its subcommands."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from higgins import logs, settings

if TYPE_CHECKING:
    from higgins.bus.base import Bus
    from higgins.runtime import replay as replaying


def _progress(step: str) -> None:
    print(f"==> {step}", flush=True)


def _serve(app: Any, host: str, port: int, threads: int, name: str,
           on_stop: Callable[[], None]) -> int:
    """Serve `app` with waitress until SIGTERM or SIGINT, then call `on_stop`."""
    import waitress

    try:
        # lookahead: waitress reads the socket while a request runs, so a watch of
        # /v1/events notices at once that its client went away (waitress.client_disconnected)
        server = waitress.create_server(app, host=host, port=port, threads=threads,
                                        channel_request_lookahead=1)
    except OSError as error:
        on_stop()
        print(f"higgins {name} failed: cannot listen on {host}:{port}: {error.strerror}",
              file=sys.stderr)
        return 1
    stopping = threading.Event()

    def shutdown(signum: int, frame: object) -> None:
        stopping.set()
        server.close()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    _progress(f"{name} listening on http://{host}:{port}")
    try:
        server.run()
    except OSError:
        if not stopping.is_set():
            raise
    finally:
        on_stop()
    return 0


def _failed(name: str, error: Exception) -> int:
    print(f"higgins {name} failed: {error}", file=sys.stderr)
    return 1


def up(args: argparse.Namespace, rest: list[str]) -> int:
    """The all-in-one: embedded (one process, SQLite), or the three processes on RabbitMQ (or
    Kafka) and Cassandra with --backend rabbitmq (kafka)."""
    from higgins.runtime import allinone

    options = argparse.ArgumentParser(prog="higgins up")
    options.add_argument("--backend", choices=("embedded", "rabbitmq", "kafka"),
                         default="embedded")
    wanted, rest = options.parse_known_args(rest)
    conf = settings.load(rest, args.config_file)
    logs.configure(conf.log_level)
    if wanted.backend != "embedded":
        from higgins.runtime import processes

        return processes.supervise(conf, args.config_file or [], _progress, wanted.backend)
    try:
        running = allinone.start(conf, _progress)
    except Exception as error:  # noqa: BLE001 - the user needs the reason, not a traceback
        return _failed("up", error)
    url = f"http://{conf.api.host_ip}:{conf.api.port}"
    _progress(f"API at {url}")
    print(_WELCOME.format(url=url), flush=True)
    return _serve(running.app, conf.api.host_ip, conf.api.port, conf.api.threads, "API",
                  running.close)


def api(args: argparse.Namespace, rest: list[str]) -> int:
    """The API process (production backends)."""
    from higgins.runtime import processes

    conf = settings.load(rest, args.config_file)
    logs.configure(conf.log_level)
    try:
        app = processes.api_app(conf)
    except Exception as error:  # noqa: BLE001 - the operator needs the reason
        return _failed("api", error)
    return _serve(app, conf.api.host_ip, conf.api.port, conf.api.threads, "API",
                  lambda: None)


def processor(args: argparse.Namespace, rest: list[str]) -> int:
    """`higgins processor all|fold|scheduler`: stream processors (production backends)."""
    from higgins.runtime import processes
    from higgins.runtime.processing import Processors

    options = argparse.ArgumentParser(prog="higgins processor")
    options.add_argument("name", choices=("all", *Processors.NAMES))
    wanted, rest = options.parse_known_args(rest)
    conf = settings.load(rest, args.config_file)
    logs.configure(conf.log_level)
    names = Processors.NAMES if wanted.name == "all" else (wanted.name,)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    try:
        threads = processes.start_processors(conf, names, stop)
    except Exception as error:  # noqa: BLE001 - the operator needs the reason
        return _failed("processor", error)
    _progress(f"processors {', '.join(names)} consuming")
    while not stop.wait(1):
        if not all(thread.is_alive() for thread in threads):
            return _failed("processor", RuntimeError("a consumer stopped"))
    for thread in threads:
        thread.join(timeout=15)
    return 0


def agent(args: argparse.Namespace, rest: list[str]) -> int:
    """The host agent process: Docker on this host, its command queue, its call API."""
    from higgins.runtime import processes

    conf = settings.load(rest, args.config_file)
    logs.configure(conf.log_level)
    stop = threading.Event()
    try:
        running = processes.start_agent(conf, stop, _progress)
    except Exception as error:  # noqa: BLE001 - the operator needs the reason
        return _failed("agent", error)
    return _serve(running.app, conf.agent.host_ip, conf.agent.port, 4, "agent calls",
                  stop.set)


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
    """Fold the retained log again: --check compares with the views, --into rebuilds them (as
    they stood at --as-of TIME, if given)."""
    import functools
    import os
    from pathlib import Path

    from higgins import bus as buses
    from higgins.bus.embedded import EmbeddedBus
    from higgins.runtime import allinone
    from higgins.runtime import replay as replaying

    options = argparse.ArgumentParser(prog="higgins replay")
    options.add_argument("--check", action="store_true", help="compare with the stored views")
    options.add_argument("--into", type=Path, help="rebuild the views into this new SQLite file")
    options.add_argument("--as-of", type=replaying.moment, metavar="TIME",
                         help="with --into: the views as they stood at TIME (RFC 3339, e.g. "
                              "2026-11-24T10:00:00Z; UTC when no offset is given): each "
                              "subject's events stamped at or before TIME")
    options.add_argument("--processes", type=int, default=os.cpu_count() or 1, metavar="N",
                         help="fold the log in N processes side by side (default: one per CPU)")
    options.add_argument("--redeliver", action="store_true",
                         help="send the events stamped --from T1 --to T2 out again, to "
                              "--subscription ID (its dispatchers deliver them) or as "
                              "--notifications (sent from here); Higgins keeps running")
    options.add_argument("--from", dest="since", metavar="T1")
    options.add_argument("--to", dest="until", metavar="T2")
    targets = options.add_mutually_exclusive_group()
    targets.add_argument("--subscription", metavar="ID")
    targets.add_argument("--notifications", action="store_true")
    wanted, rest = options.parse_known_args(rest)
    if wanted.redeliver:
        if not (wanted.since and wanted.until and (wanted.subscription or wanted.notifications)):
            options.error("--redeliver needs --from T1 --to T2 and --subscription ID or "
                          "--notifications")
        return _redeliver(wanted, settings.load(rest, args.config_file))
    if wanted.as_of is not None and not wanted.into:
        options.error("--as-of needs --into FILE (the views of a past moment go to a new file)")
    if wanted.into and wanted.into.exists():
        options.error(f"{wanted.into} exists: --into writes a new views file")
    conf = settings.load(rest, args.config_file)
    spread = replaying.Spread(functools.partial(buses.by_url, conf.bus.url, conf.bus.log_url,
                                                (), conf.bus.partitions), wanted.processes)
    if not conf.bus_url.startswith("sqlite://"):  # a shared log: processes keep running
        from higgins.runtime import processes

        return _replay(wanted, processes.open_bus(conf), conf.store_url, spread)
    try:
        lock = allinone.lock_state(conf.state_path, shared=True)
    except allinone.StateInUse as error:
        print(f"higgins replay: {error}; stop it first", file=sys.stderr)
        return 1
    with lock:
        return _replay(wanted, EmbeddedBus.from_url(conf.bus_url), conf.store_url, spread)


def _redeliver(wanted: argparse.Namespace, conf: settings.Settings) -> int:
    from higgins import store as stores
    from higgins.processors import audit
    from higgins.runtime import processes, redelivery

    bus, store = processes.open_bus(conf), stores.by_url(conf.store_url)
    try:
        if wanted.subscription:
            count = redelivery.to_subscription(bus, store, wanted.subscription, wanted.since,
                                               wanted.until)
            print(f"{count} deliveries due again for subscription {wanted.subscription}")
        else:
            count = redelivery.as_notifications(bus, store, conf.notifications, wanted.since,
                                                wanted.until)
            print(f"notifications of {count} events sent again")
        return 0
    except (LookupError, audit.InvalidFilter) as error:
        print(f"higgins replay --redeliver: {error}", file=sys.stderr)
        return 1
    finally:
        bus.close()
        store.close()


def _replay(wanted: argparse.Namespace, bus: Bus, store_url: str,
            spread: replaying.Spread) -> int:
    from higgins import store as stores
    from higgins.runtime import replay as replaying
    from higgins.store.sqlite import SqliteStore

    if wanted.into:
        written = replaying.rebuild(bus, SqliteStore(wanted.into), wanted.as_of, spread)
        moment = f" as of {wanted.as_of.isoformat()}" if wanted.as_of else ""
        print(f"rebuilt {written} views{moment} into {wanted.into}")
        return 0
    report = replaying.check(bus, stores.by_url(store_url), spread)
    for difference in report.differences:
        print(difference)
    print(f"{report.checked} subjects replayed, {len(report.differences)} differ")
    return 1 if report.differences else 0


def bench(args: argparse.Namespace, rest: list[str]) -> int:
    """`higgins bench lifecycle|fold|capsules|api [options]`: the benchmarks live beside the
    package."""
    import importlib

    names = ("lifecycle", "fold", "capsules", "api", "embedded_log", "hops", "replay",
             "webhooks", "pipeline", "placement")
    if not rest or rest[0] not in names:
        print(f"usage: higgins bench {{{','.join(names)}}} [options]", file=sys.stderr)
        return 2
    module = importlib.import_module(f"bench.{rest[0]}")
    return int(module.main(rest))


_DESCRIPTION = ("Higgins: containers for OpenStack tenants through a Zun-compatible API, run "
                "as events on a bus. Start with `higgins up`; settings come from the INI file.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="higgins", description=_DESCRIPTION)
    parser.add_argument("--config-file", action="append", default=None,
                        help="oslo.config INI file (default /etc/higgins/higgins.conf)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="run everything: embedded, or --backend rabbitmq|kafka",
                        add_help=False).set_defaults(run=up)
    commands.add_parser("api", help="run the API process").set_defaults(run=api)
    commands.add_parser("processor", help="run stream processors: all|fold|scheduler",
                        add_help=False).set_defaults(run=processor)
    commands.add_parser("agent", help="run this host's agent").set_defaults(run=agent)
    commands.add_parser("replay", help="fold the log again: --check against the views, "
                        "or --into FILE [--as-of TIME]", add_help=False).set_defaults(run=replay)
    commands.add_parser("bench", help="run a benchmark: higgins bench lifecycle ...",
                        add_help=False).set_defaults(run=bench)
    args, rest = parser.parse_known_args(argv)
    from oslo_config import cfg

    try:
        return int(args.run(args, rest))
    except cfg.Error as error:  # a bad option value: the operator's to fix, no traceback
        print(f"higgins: configuration error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
