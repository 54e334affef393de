"""Each semantics test runs twice: against the app on tidings (``app.py``) and the same app
on Node socket.io 4.8 (``node/app.mjs``), with the same client script, asserting the same."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import ClientSocket, NodeClient, serving

from .app import build

APP_SCRIPT = Path(__file__).resolve().parent / "node" / "app.mjs"

#: tidings' option names, as the Node server spells them.
NODE_OPTIONS = {
    "cleanup_empty_child_namespaces": "cleanupEmptyChildNamespaces",
    "connection_state_recovery": "connectionStateRecovery",
}

#: Every socket of these tests: WebSocket only (so ``volatile`` has a writable transport
#: both sides), and no reconnection, so a disconnect stays one.
CLIENT_OPTS: dict[str, Any] = {"transports": ["websocket"], "reconnection": False}

StartApp = Callable[..., Awaitable[str]]


#: The Node row of a test whose client is Node too (client.mjs): Node talks only to Node, so
#: its outcome does not depend on this process's Python or loop, and scripts/test runs it in
#: its first entry only. A row where this process talks to the server itself (a raw HTTP
#: request, say) is plain "node".
NODE_ONLY = pytest.param("node", marks=pytest.mark.same_everywhere, id="node")


@pytest.fixture(params=["tidings", NODE_ONLY])
def impl(request: pytest.FixtureRequest) -> str:
    """Which server runs the app (the Node rows of these modules drive it with client.mjs
    alone: see ``NODE_ONLY``)."""
    return str(request.param)


def node_value(value: Any) -> Any:
    """An option's value as Node takes it: ``True`` for an options object is ``{}``."""
    return {} if value is True else value


async def node_app(
    node_bin: str, options: dict[str, Any], script: Path = APP_SCRIPT
) -> tuple[asyncio.subprocess.Process, str]:
    """Run ``script`` with ``options`` (already in Node's spelling); its process and URL."""
    proc = await asyncio.create_subprocess_exec(
        node_bin, str(script), json.dumps(options),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=script.parent,
    )
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 10)
        port = json.loads(line)["port"]
    except BaseException:
        proc.kill()
        await proc.wait()
        raise
    return proc, f"http://127.0.0.1:{port}"


async def stop_node(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 3)
        except TimeoutError:
            proc.kill()
            await proc.wait()


@pytest.fixture
async def start_app(impl: str, node_bin: str) -> AsyncIterator[StartApp]:
    """``url = await start_app(**options)``: the app on ``impl``, stopped after the test."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(**options: Any) -> str:
            if impl == "tidings":
                url: str = await stack.enter_async_context(serving(build(**options)))
                return url
            node_options = {NODE_OPTIONS[k]: node_value(v) for k, v in options.items()}
            proc, url = await node_app(node_bin, node_options)
            stack.push_async_callback(stop_node, proc)
            return url

        yield start


@pytest.fixture
async def client(node_bin: str) -> AsyncIterator[NodeClient]:
    """One client.mjs process (tests/e2e/node): the client script of every row."""
    node = await NodeClient.start(node_bin)
    try:
        yield node
    finally:
        await node.close()


Link = Callable[..., Awaitable[ClientSocket]]


@pytest.fixture
def client_opts() -> dict[str, Any]:
    """The client's options (a test module may run its rows over more transports)."""
    return CLIENT_OPTS


@pytest.fixture
def link(client: NodeClient, client_opts: dict[str, Any]) -> Link:
    """``socket = await link(url, nsp="/", manager=None)``: a connected socket of the client."""

    async def connect(url: str, nsp: str = "/", *, manager: str | None = None) -> ClientSocket:
        socket = client.socket(url, nsp, manager=manager, opts=client_opts)
        await socket.connect()
        await socket.connected()
        return socket

    return connect
