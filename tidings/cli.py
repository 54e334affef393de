"""The ``tidings`` command: ``tidings serve module:app`` and ``tidings demo``."""

from __future__ import annotations

import importlib
import logging
import os
import sys
from typing import Any

import click


def load_app(target: str) -> Any:
    """Import ``module:attribute`` (the attribute may be dotted), as uvicorn does."""
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise click.BadParameter(f"expected 'module:attribute', got {target!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise click.BadParameter(f"cannot import {module_name!r}: {exc}") from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise click.BadParameter(f"{module_name!r} has no attribute {attr!r}") from None
    return obj


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
def serve(target: str, host: str, port: int, static: tuple[str, ...], log_level: str) -> None:
    """Serve TARGET (module:attribute, a tidings Server) with the built-in server."""
    from tidings.standalone import run

    _setup_logging(log_level)
    app = load_app(target)
    static_files: dict[str, str] = {}
    for item in static:
        url, sep, directory = item.partition("=")
        if not sep:
            raise click.BadParameter(f"expected URL=DIR, got {item!r}", param_hint="--static")
        static_files[url] = directory
    run(app, host=host, port=port, static_files=static_files or None)


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
