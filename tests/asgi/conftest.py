"""Fixtures for the ASGI tests: real servers in their own processes, the official client in Node."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

# The Node client fixtures of the end-to-end tests, reused as they are.
from tests.e2e.conftest import client_opts, mode, node, start_node

from .servers import SERVERS, RunningServer, start_server

__all__ = ["client_opts", "mode", "node", "start_node"]


@pytest.fixture(scope="module", params=list(SERVERS))
def server_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def served(server_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """``served_app`` (ASGIApp wrapping FastAPI) under each server, shared by a module's tests."""
    workdir = tmp_path_factory.mktemp(f"asgi-{server_kind}")
    static = workdir / "static"
    static.mkdir()
    (static / "hello.txt").write_text("static hello\n")
    server = start_server(server_kind, workdir, TIDINGS_ASGI_STATIC=str(static))
    yield server
    server.stop()


@pytest.fixture
def static_dir(served: RunningServer) -> Path:
    return served.events_file.parent / "static"
