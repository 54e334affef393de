"""Fixtures: a server of each kind (reference Node, tidings) and each transport mode."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from .servers import NodeServer, ServerHarness, TidingsServer

#: The client's ``transports`` for each mode: websocket only, polling only, polling then upgrade.
MODES: dict[str, tuple[str, ...]] = {
    "websocket": ("websocket",),
    "polling": ("polling",),
    "upgrade": ("polling", "websocket"),
}

ServerFactory = Callable[..., Awaitable[ServerHarness]]


@pytest.fixture(params=list(MODES))
def transports(request: pytest.FixtureRequest) -> tuple[str, ...]:
    return MODES[request.param]


@pytest.fixture(params=["node", "tidings"])
def server_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def make_server(request: pytest.FixtureRequest) -> AsyncIterator[ServerFactory]:
    """``await make_server(kind, ping_interval=..., recovery=...)``; stopped with the test.

    Times are in seconds for both kinds.
    """
    started: list[ServerHarness] = []

    async def make(
        kind: str,
        *,
        ping_interval: float = 25.0,
        ping_timeout: float = 20.0,
        recovery: bool = False,
        tls: tuple[str, str] | None = None,
        own_process: bool = False,
    ) -> ServerHarness:
        server: ServerHarness
        if kind == "node":
            node = request.getfixturevalue("node_bin")
            server = NodeServer(
                node,
                tls,
                pingInterval=int(ping_interval * 1000),
                pingTimeout=int(ping_timeout * 1000),
                recovery=recovery,
                own_process=own_process,
            )
        else:
            options: dict[str, Any] = {"ping_interval": ping_interval, "ping_timeout": ping_timeout}
            if recovery:
                options["connection_state_recovery"] = True
            server = TidingsServer(tls, **options)
        await server.start()
        started.append(server)
        return server

    yield make
    for server in started:
        await server.stop()


@pytest.fixture
async def server(server_kind: str, make_server: ServerFactory) -> ServerHarness:
    return await make_server(server_kind)


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 and its key: (certfile, keyfile)."""
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return str(Path(cert)), str(Path(key))
