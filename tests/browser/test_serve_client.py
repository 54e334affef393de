"""The official browser client served under the Engine.IO path, built-in server and uvicorn."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

import tidings
from tests.asgi.servers import start_server
from tidings import browser
from tidings.engine import EngineOptions, EngineServer
from tidings.standalone import serve

from .client_checks import (
    ALLOWED_ORIGIN,
    NODE_CLIENT,
    check_cross_origin,
    check_not_served,
    check_serves_every_file,
    official,
    official_version,
)

APP = "tests.browser.served_client_app:create_app()"


def test_the_package_carries_the_official_client() -> None:
    """The copy in the package is the release node_modules holds, byte for byte, licence included."""
    assert browser.version() == official_version()
    for name in browser.FILES:
        assert browser.read(name) == official(name), name
    assert (Path(browser.__file__).parent / "LICENSE").read_bytes() == (
        NODE_CLIENT / "LICENSE"
    ).read_bytes()
    with pytest.raises(ValueError, match="not a file"):
        browser.read("../__init__.py")


@asynccontextmanager
async def served(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """``app`` on the built-in server, and an HTTP client for it."""
    async with (
        serve(app, "127.0.0.1", 0) as server,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client,
    ):
        yield client


@pytest.fixture
async def builtin() -> AsyncIterator[httpx.AsyncClient]:
    async with served(tidings.Server(cors_allowed_origins=[ALLOWED_ORIGIN])) as client:
        yield client


async def test_builtin_server_serves_the_client(builtin: httpx.AsyncClient) -> None:
    await check_serves_every_file(builtin)
    await check_cross_origin(builtin)


async def test_builtin_server_still_speaks_engineio_beside_it(builtin: httpx.AsyncClient) -> None:
    """Only GET and HEAD of the exact file names are the client's; the rest is Engine.IO's."""
    post = await builtin.post("/socket.io/socket.io.js", content=b"x")
    assert post.status_code == 400 and "code" in post.json()
    assert (await builtin.get("/socket.io/socket.io.msgpack.min.js")).status_code == 400
    assert (await builtin.get("/socket.io/sub/socket.io.js")).status_code == 400
    handshake = await builtin.get("/socket.io/", params={"EIO": "4", "transport": "polling"})
    assert handshake.status_code == 200 and handshake.content.startswith(b"0{")


async def test_serve_client_false_answers_as_engineio() -> None:
    async with served(tidings.Server(serve_client=False)) as client:
        await check_not_served(client)


async def test_the_client_follows_the_servers_path() -> None:
    async with served(tidings.Server(path="/rt")) as client:
        response = await client.get("/rt/socket.io.min.js", headers={"Accept-Encoding": ""})
        assert response.content == official("socket.io.min.js")
        assert (await client.get("/socket.io/socket.io.min.js")).status_code == 404


async def test_a_bare_engine_serves_it_only_when_asked() -> None:
    """Node's engine.io has no serveClient: a bare EngineServer is the same unless told."""
    assert EngineOptions().serve_client is False
    with pytest.raises(TypeError, match="serve_client"):
        EngineOptions(serve_client="yes")  # type: ignore[arg-type]
    async with served(EngineServer(path="/engine.io/")) as client:
        await check_not_served(client, "/engine.io/")
    async with served(EngineServer(path="/engine.io/", serve_client=True)) as client:
        ok = await client.get("/engine.io/socket.io.js", headers={"Accept-Encoding": ""})
        assert ok.content == official("socket.io.js")


async def test_uvicorn_serves_the_client(tmp_path: Path) -> None:
    server = start_server("uvicorn", tmp_path, APP, probe="/socket.io/socket.io.min.js")
    try:
        async with httpx.AsyncClient(base_url=server.url) as client:
            await check_serves_every_file(client)
            await check_cross_origin(client)
    finally:
        assert server.stop() == 0, server.log()


async def test_uvicorn_under_another_path_and_without_the_client(tmp_path: Path) -> None:
    served = start_server("uvicorn", tmp_path, APP, probe="/rt/", TIDINGS_CLIENT_PATH="/rt/")
    try:
        async with httpx.AsyncClient(base_url=served.url) as client:
            ok = await client.get("/rt/socket.io.esm.min.js", headers={"Accept-Encoding": ""})
            assert ok.content == official("socket.io.esm.min.js")
    finally:
        assert served.stop() == 0, served.log()
    off = start_server("uvicorn", tmp_path, APP, probe="/socket.io/", TIDINGS_SERVE_CLIENT="0")
    try:
        async with httpx.AsyncClient(base_url=off.url) as client:
            await check_not_served(client)
    finally:
        assert off.stop() == 0, off.log()
