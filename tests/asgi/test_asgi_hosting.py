"""The same app under the built-in server and under uvicorn: both read it through
``tidings.hosting``, so an app that is not a ``tidings.Server`` is served alike by both."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import websockets

from tests.e2e.harness import http_request
from tidings.standalone import serve

from .hosted_apps import HANDSHAKE, EngineSite, echo_routes, handshake_request
from .servers import start_server

HOSTS = ["built-in", "uvicorn"]


@asynccontextmanager
async def hosted(
    host: str, app: object, factory: str, workdir: Path, **env: str
) -> AsyncIterator[str]:
    """The base URL of ``app`` served in this loop by the built-in server, or of the
    ``ASGIApp`` that ``hosted_apps.<factory>`` makes around the same kind of app, under uvicorn."""
    if host == "built-in":
        async with serve(app) as server:
            yield f"http://127.0.0.1:{server.port}"
        return
    server = await asyncio.to_thread(
        start_server, "uvicorn", workdir, f"tests.asgi.hosted_apps:{factory}()", "/", **env
    )
    try:
        yield server.url
    finally:
        assert await asyncio.to_thread(server.stop) == 0, server.log()


def site_dir(tmp_path: Path) -> Path:
    static = tmp_path / "static"
    static.mkdir()
    (static / "hello.txt").write_text("static hello\n")
    return static


@pytest.mark.parametrize("host", HOSTS)
async def test_websocket_routes_alone(host: str, tmp_path: Path) -> None:
    """``WebSocketRoutes`` with no engine: its routes answer, and no path is the engine's."""
    async with hosted(host, echo_routes(), "routes_alone_asgi", tmp_path) as url:
        async with websockets.connect(url.replace("http://", "ws://") + "/echo") as ws:
            await ws.send("hello")
            assert await ws.recv() == "hello"
            await ws.send(b"\x00raw")
            assert await ws.recv() == b"\x00raw"
        status, _, body = await http_request(url, "GET", "/socket.io/?" + HANDSHAKE)
        assert (status, body) == (404, b"Not Found\n")


@pytest.mark.parametrize("host", HOSTS)
async def test_the_apps_own_static_files_beside_its_engine(host: str, tmp_path: Path) -> None:
    static = site_dir(tmp_path)
    async with hosted(
        host, EngineSite(static), "engine_site_asgi", tmp_path, TIDINGS_ASGI_STATIC=str(static)
    ) as url:
        status, headers, body = await http_request(url, "GET", "/hello.txt")
        assert (status, body) == (200, b"static hello\n")
        assert headers["content-type"] == "text/plain; charset=utf-8"
        status, _, body = await http_request(url, "GET", "/engine.io/?" + HANDSHAKE)
        assert status == 200 and body.startswith(b"0{")  # the engine's path wins over "/"


async def test_uvicorn_lifespan_shutdown_falls_back_to_the_engines(tmp_path: Path) -> None:
    """An app without ``shutdown``: the lifespan shuts its engine down, which then
    refuses new sessions (recorded by ``on_shutdown``, which runs after it)."""
    static = site_dir(tmp_path)
    server = await asyncio.to_thread(
        start_server, "uvicorn", tmp_path, "tests.asgi.hosted_apps:engine_site_asgi()", "/",
        TIDINGS_ASGI_STATIC=str(static),
    )
    try:
        status, _, _ = await http_request(server.url, "GET", "/engine.io/?" + HANDSHAKE)
        assert status == 200
    finally:
        code = await asyncio.to_thread(server.stop)
    assert code == 0, server.log()
    assert server.events() == ["handshake after shutdown: 503"]


async def test_built_in_server_startup_and_shutdown_fall_back_to_the_engines(
    tmp_path: Path,
) -> None:
    """The same fallback on the built-in server: closing it shuts the engine down; a new
    server on the same app starts it again."""
    site = EngineSite(site_dir(tmp_path))
    async with serve(site):
        pass
    assert (await site.engine.handle_http(handshake_request())).status == 503
    async with serve(site) as server:
        status, _, _ = await http_request(
            f"http://127.0.0.1:{server.port}", "GET", "/engine.io/?" + HANDSHAKE
        )
        assert status == 200
