"""The ``tidings`` command: ``tidings serve module:app`` and ``tidings demo``."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tidings.standalone.options import HttpOptions
from tidings.workers.target import TargetError, load_target

if TYPE_CHECKING:
    import subprocess
    from ssl import SSLContext

# What a server process started by ``--reload`` is to serve: ``serve``'s parameters.
_RELOAD_CHILD = "TIDINGS_RELOAD_CHILD"


def load_app(target: str, *, factory: bool = False) -> Any:
    """Import ``module:attribute`` (the attribute may be dotted), as uvicorn does; one line
    saying what is wrong when it cannot, and when it names an ASGI app (which the built-in
    server would serve only part of)."""
    try:
        app = load_target(target, factory=factory)
    except TargetError as exc:
        raise click.BadParameter(str(exc), param_hint="TARGET") from exc
    from tidings.asgi import ASGIApp

    if isinstance(app, ASGIApp):
        hint = "its tidings.Server" if app.other_app is not None else "the tidings.Server in it"
        raise click.UsageError(
            f"{target} is an ASGI application (tidings.ASGIApp): run it under an ASGI server "
            f"(uvicorn {target}), or give tidings serve {hint}"
        )
    return app


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
@click.option("--host", envvar="TIDINGS_HOST", show_envvar=True, default="127.0.0.1", show_default=True)
@click.option("--port", envvar="TIDINGS_PORT", show_envvar=True, default=8000, show_default=True, type=int)
@click.option(
    "--static", "static", multiple=True, metavar="URL=DIR", envvar="TIDINGS_STATIC", show_envvar=True,
    help="Serve files under DIR at URL (repeatable), e.g. --static /=public",
)
@click.option("--log-level", envvar="TIDINGS_LOG_LEVEL", show_envvar=True, default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
@click.option("--workers", envvar="TIDINGS_WORKERS", show_envvar=True, type=click.IntRange(1, 512), default=None,
              help="Serve with N processes on the port (SO_REUSEPORT), one cluster")
@click.option("--node", envvar="TIDINGS_NODE", show_envvar=True, default=None, metavar="NAME",
              help="This machine's tag in a cluster; worker i is NAME-wi [default: host name]")
@click.option("--redis", envvar="TIDINGS_REDIS", show_envvar=True, default=None, metavar="URL",
              help="Join the cluster on this Redis (RedisAdapter) instead of the workers' local bus")
@click.option("--redis-key", envvar="TIDINGS_REDIS_KEY", show_envvar=True, default="socket.io", show_default=True, metavar="PREFIX",
              help="With --redis: the adapter's key prefix (Node's `key`)")
@click.option("--advertise", envvar="TIDINGS_ADVERTISE", show_envvar=True, default=None, metavar="HOST:PORT",
              help="With --node and --redis: where the other nodes reach this one (needed when"
                   " --host is a wildcard such as 0.0.0.0)")
@click.option("--factory", is_flag=True, envvar="TIDINGS_FACTORY", show_envvar=True,
              help="TARGET is a function that makes the app (called with no arguments)")
@click.option("--loop", type=click.Choice(["auto", "asyncio", "uvloop"]), default=None,
              envvar="TIDINGS_LOOP", show_envvar=True,
              help="The event loop [default: auto, uvloop when installed]")
@click.option("--ssl-keyfile", type=click.Path(exists=True, dir_okay=False), default=None,
              envvar="TIDINGS_SSL_KEYFILE", show_envvar=True, help="TLS: the private key")
@click.option("--ssl-certfile", type=click.Path(exists=True, dir_okay=False), default=None,
              envvar="TIDINGS_SSL_CERTFILE", show_envvar=True,
              help="TLS: the certificate (chain); with --ssl-keyfile, serves https:// and wss://")
@click.option("--proxy-headers/--no-proxy-headers", default=True, show_default=True,
              envvar="TIDINGS_PROXY_HEADERS", show_envvar=True,
              help="Believe X-Forwarded-For/-Proto from the peers of --forwarded-allow-ips")
@click.option("--forwarded-allow-ips", default="127.0.0.1", show_default=True, metavar="IPS",
              envvar="TIDINGS_FORWARDED_ALLOW_IPS", show_envvar=True,
              help="Comma-separated proxy addresses trusted for the proxy headers, or '*'")
@click.option("--access-log/--no-access-log", default=True, show_default=True,
              envvar="TIDINGS_ACCESS_LOG", show_envvar=True,
              help="One INFO line per request on the tidings.access logger")
@click.option("--drain-spread", envvar="TIDINGS_DRAIN_SPREAD", show_envvar=True, type=click.FloatRange(min=0), default=None, metavar="SECONDS",
              help="At shutdown, close the sessions over this long so clients do not all"
                   " reconnect at once [default: 3 with --workers, else the app's own]")
@click.option("--reload", is_flag=True, envvar="TIDINGS_RELOAD", show_envvar=True,
              help="Restart the server when a source file changes (development; needs"
                   " tidings[reload])")
@click.option("--reload-dir", "reload_dirs", multiple=True, metavar="DIR",
              type=click.Path(exists=True, file_okay=False), envvar="TIDINGS_RELOAD_DIR",
              show_envvar=True, help="With --reload: watch DIR (repeatable) [default: the"
                                     " current directory]")
@click.option("--reload-include", "reload_includes", multiple=True, metavar="GLOB",
              envvar="TIDINGS_RELOAD_INCLUDE", show_envvar=True,
              help="With --reload: files that also restart the server (repeatable; *.py always)")
@click.option("--reload-exclude", "reload_excludes", multiple=True, metavar="GLOB",
              envvar="TIDINGS_RELOAD_EXCLUDE", show_envvar=True,
              help="With --reload: files or directories that do not (repeatable)"
                   " [default: .*, .py[cod], .sw.*, ~*]")
@click.option("--fd", type=click.IntRange(min=0), default=None, envvar="TIDINGS_FD",
              show_envvar=True, help="Serve on the listening socket of this file descriptor,"
                                     " inherited from a supervisor (instead of --host/--port)")
def serve(
    target: str, host: str, port: int, static: tuple[str, ...], log_level: str,
    workers: int | None, node: str | None, redis: str | None, redis_key: str,
    advertise: str | None, factory: bool, loop: str | None, ssl_keyfile: str | None,
    ssl_certfile: str | None, proxy_headers: bool, forwarded_allow_ips: str, access_log: bool,
    drain_spread: float | None, reload: bool, reload_dirs: tuple[str, ...],
    reload_includes: tuple[str, ...], reload_excludes: tuple[str, ...], fd: int | None,
) -> None:
    """Serve TARGET (module:attribute, a tidings Server) with the built-in server.

    Every option can also be set by its environment variable (TIDINGS_PORT=8000, ...)."""
    _setup_logging(log_level)
    static_files: dict[str, str] = {}
    for item in static:
        url, sep, directory = item.partition("=")
        if not sep:
            raise click.BadParameter(f"expected URL=DIR, got {item!r}", param_hint="--static")
        static_files[url] = directory
    if loop is not None:
        os.environ["TIDINGS_LOOP"] = loop  # read by this process's and its workers' loops
    trusted = (
        tuple(ip.strip() for ip in forwarded_allow_ips.split(",") if ip.strip())
        if proxy_headers else None
    )
    if (ssl_keyfile is None) != (ssl_certfile is None):
        raise click.UsageError("TLS needs both --ssl-keyfile and --ssl-certfile")
    if reload:
        if workers is not None and workers > 1:
            raise click.UsageError(
                "--reload runs one server process: it does not go with --workers"
            )
        _serve_reloading(click.get_current_context().params, host, port, fd)
        return
    if reload_dirs or reload_includes or reload_excludes:
        logging.getLogger("tidings.reload").warning(
            "--reload-dir, --reload-include and --reload-exclude do nothing without --reload"
        )
    if workers is not None:
        if fd is not None:
            raise click.UsageError("--fd works with one process; --workers listen themselves")
        if factory:
            raise click.UsageError("--factory works with one process; with --workers give the app")
        if ssl_certfile is not None:
            raise click.UsageError(
                "TLS works with one process: a TLS session cannot move between workers (end TLS "
                "at the balancer in front of them)"
            )
        from tidings import workers as supervisor

        try:
            status = supervisor.run(
                target, workers=workers, host=host, port=port, node=node, redis=redis,
                redis_key=redis_key, advertise=advertise, forwarded_allow_ips=trusted,
                access_log=access_log,
                drain_spread=3.0 if drain_spread is None else drain_spread,
                static_files=static_files, log_level=log_level,
            )
        except ValueError as exc:
            raise click.UsageError(str(exc)) from exc
        except ImportError as exc:  # the local bus needs msgpack and redis-py
            raise click.ClickException(f"--workers: {exc}") from exc
        sys.exit(status)
    tls = None
    if ssl_certfile is not None and ssl_keyfile is not None:
        import ssl

        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            tls.load_cert_chain(ssl_certfile, ssl_keyfile)
        except (OSError, ssl.SSLError) as exc:
            raise click.UsageError(f"cannot load the TLS certificate and key: {exc}") from exc
    options = HttpOptions(
        forwarded_allow_ips=None if trusted is None else frozenset(trusted), access_log=access_log
    )
    sock = None
    if fd is not None:
        try:
            sock = socket.socket(fileno=fd)
        except OSError as exc:
            raise click.UsageError(f"--fd {fd}: {exc}") from exc
    _serve_one(
        target, host, port, static_files, node, redis, redis_key, advertise, drain_spread, factory,
        options, tls, sock,
    )


def _serve_one(
    target: str, host: str, port: int, static_files: dict[str, str],
    node: str | None, redis: str | None, redis_key: str, advertise: str | None,
    drain_spread: float | None, factory: bool, options: HttpOptions, tls: SSLContext | None,
    sock: socket.socket | None,
) -> None:
    from tidings.server import Server
    from tidings.standalone import run
    from tidings.workers.worker import handoff_options, install_adapter

    app = load_app(target, factory=factory)
    install_adapter(app, redis=redis, redis_key=redis_key)
    if drain_spread is not None and isinstance(app, Server):
        app.shutdown_spread = drain_spread
    handoff = None
    if node is not None and tls is not None:
        raise click.UsageError("--node (hand-off) and TLS do not go together: end TLS at the balancer")
    if node is not None:
        # A node of several behind a balancer: its session ids name it, and with --redis the
        # nodes find each other there, so a request for another node's session is relayed.
        try:
            handoff = handoff_options(node, redis=redis, redis_key=redis_key, advertise=advertise)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from exc
        if isinstance(app, Server):
            app.node_id = node
    run(app, host=host, port=port, static_files=static_files or None, handoff=handoff,
        options=options, ssl=tls, sock=sock)


def _serve_reloading(params: dict[str, Any], host: str, port: int, fd: int | None) -> None:
    """``serve --reload``: bind here, serve in a child process, restart it on changes."""
    import subprocess

    try:
        from tidings import reload as reloader
    except ImportError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        sock = socket.socket(fileno=fd) if fd is not None else reloader.listen(host, port)
    except OSError as exc:
        where = f"--fd {fd}" if fd is not None else f"{host}:{port}"
        raise click.ClickException(f"cannot listen on {where}: {exc}") from exc
    dirs = [Path(d) for d in params["reload_dirs"]] or [Path.cwd()]
    # The child sees EOF on this pipe when this process is gone, however it ended.
    parent_alive, keep_open = os.pipe()
    child_params = {
        **params, "reload": False, "reload_dirs": (), "reload_includes": (),
        "reload_excludes": (), "workers": None, "fd": sock.fileno(),
    }
    payload = json.dumps({"params": child_params, "parent_fd": parent_alive})

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "tidings", "reload-child"],
            env={**os.environ, _RELOAD_CHILD: payload},
            pass_fds=(sock.fileno(), parent_alive), process_group=0,
        )

    source_filter = reloader.SourceFilter(
        params["reload_includes"], params["reload_excludes"], roots=dirs
    )
    try:
        status = reloader.Reloader(start, dirs, source_filter).run()
    finally:
        sock.close()
        os.close(parent_alive)
        os.close(keep_open)
    sys.exit(status)


@main.command("reload-child", hidden=True)
@click.pass_context
def reload_child(ctx: click.Context) -> None:
    """The server process of ``serve --reload`` (started by it, with its parameters)."""
    raw = os.environ.pop(_RELOAD_CHILD, None)
    if raw is None:
        raise click.UsageError("started by tidings serve --reload only")
    payload = json.loads(raw)
    _stop_with_parent(int(payload["parent_fd"]))
    ctx.invoke(serve, **payload["params"])


def _stop_with_parent(fd: int) -> None:
    """SIGTERM this process (a graceful shutdown) when the reloader that started it is gone."""

    def wait() -> None:
        while os.read(fd, 1):
            pass
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=wait, name="tidings-reload-parent", daemon=True).start()


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
