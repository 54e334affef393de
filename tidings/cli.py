"""The ``tidings`` command: ``tidings serve module:app`` and ``tidings demo``."""

from __future__ import annotations

import logging
import sys
from typing import Any

import click

from tidings.workers.target import TargetError, load_target


def load_app(target: str) -> Any:
    """Import ``module:attribute`` (the attribute may be dotted), as uvicorn does."""
    try:
        return load_target(target)
    except TargetError as exc:
        raise click.BadParameter(str(exc)) from exc


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )


@click.group()
@click.version_option(package_name="tidings")
def main() -> None:
    """Real-time messaging, wire-compatible with Socket.IO."""


@main.command()
@click.argument("target")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--static", "static", multiple=True, metavar="URL=DIR",
    help="Serve files under DIR at URL (repeatable), e.g. --static /=public",
)
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
@click.option("--workers", type=click.IntRange(1, 512), default=None,
              help="Serve with N processes on the port (SO_REUSEPORT), one cluster")
@click.option("--node", default=None, metavar="NAME",
              help="This machine's tag in a cluster; worker i is NAME-wi [default: host name]")
@click.option("--redis", default=None, metavar="URL",
              help="Join the cluster on this Redis (RedisAdapter) instead of the workers' local bus")
@click.option("--redis-key", default="socket.io", show_default=True, metavar="PREFIX",
              help="With --redis: the adapter's key prefix (Node's `key`)")
@click.option("--advertise", default=None, metavar="HOST:PORT",
              help="With --node and --redis: where the other nodes reach this one (needed when"
                   " --host is a wildcard such as 0.0.0.0)")
@click.option("--drain-spread", type=click.FloatRange(min=0), default=None, metavar="SECONDS",
              help="At shutdown, close the sessions over this long so clients do not all"
                   " reconnect at once [default: 3 with --workers, else the app's own]")
def serve(
    target: str, host: str, port: int, static: tuple[str, ...], log_level: str,
    workers: int | None, node: str | None, redis: str | None, redis_key: str,
    advertise: str | None, drain_spread: float | None,
) -> None:
    """Serve TARGET (module:attribute, a tidings Server) with the built-in server."""
    _setup_logging(log_level)
    static_files: dict[str, str] = {}
    for item in static:
        url, sep, directory = item.partition("=")
        if not sep:
            raise click.BadParameter(f"expected URL=DIR, got {item!r}", param_hint="--static")
        static_files[url] = directory
    if workers is not None:
        from tidings import workers as supervisor

        try:
            status = supervisor.run(
                target, workers=workers, host=host, port=port, node=node, redis=redis,
                redis_key=redis_key, advertise=advertise,
                drain_spread=3.0 if drain_spread is None else drain_spread,
                static_files=static_files, log_level=log_level,
            )
        except ValueError as exc:
            raise click.UsageError(str(exc)) from exc
        except ImportError as exc:  # the local bus needs msgpack and redis-py
            raise click.ClickException(f"--workers: {exc}") from exc
        sys.exit(status)
    _serve_one(target, host, port, static_files, node, redis, redis_key, advertise, drain_spread)


def _serve_one(
    target: str, host: str, port: int, static_files: dict[str, str],
    node: str | None, redis: str | None, redis_key: str, advertise: str | None,
    drain_spread: float | None,
) -> None:
    from tidings.server import Server
    from tidings.standalone import run
    from tidings.workers.worker import handoff_options, install_adapter

    app = load_app(target)
    install_adapter(app, redis=redis, redis_key=redis_key)
    if drain_spread is not None and isinstance(app, Server):
        app.shutdown_spread = drain_spread
    handoff = None
    if node is not None:
        # A node of several behind a balancer: its session ids name it, and with --redis the
        # nodes find each other there, so a request for another node's session is relayed.
        try:
            handoff = handoff_options(node, redis=redis, redis_key=redis_key, advertise=advertise)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from exc
        if isinstance(app, Server):
            app.node_id = node
    run(app, host=host, port=port, static_files=static_files or None, handoff=handoff)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--db", default="tidings-demo.sqlite3", show_default=True,
              help="SQLite file for the chat's history")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
def demo(host: str, port: int, db: str, log_level: str) -> None:
    """Run the chat demo on embedded defaults."""
    from tidings import demo as demo_app

    _setup_logging(log_level)
    demo_app.main(host=host, port=port, db=db)


if __name__ == "__main__":
    main()
