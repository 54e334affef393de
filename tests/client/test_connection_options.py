"""How the client reaches the server: TLS, a proxy, the application's own aiohttp
session, and headers and auth made afresh for each (re)connection. Each against
the reference Node socket.io 4.8 server and against tidings."""

from __future__ import annotations

import ssl
from typing import Any

import aiohttp
import pytest

from tidings.client import Client, ConnectError

from .conftest import ServerFactory
from .proxy import Proxy
from .servers import ServerHarness
from .test_client import Inbox, quick_client, wait_for_websocket


async def round_trip(client: Client, transports: tuple[str, ...]) -> None:
    if "websocket" in transports:
        await wait_for_websocket(client)  # the upgrade went the same way as the first request
        assert client.transport == "websocket"
    assert await client.emit_with_ack("echo", b"\x00\xff", {"k": 1}) == (b"\x00\xff", {"k": 1})


async def test_tls_with_a_context_trusting_the_certificate_or_verification_off(
    server_kind: str,
    make_server: ServerFactory,
    certificate: tuple[str, str],
    transports: tuple[str, ...],
) -> None:
    server = await make_server(server_kind, tls=certificate)
    assert server.url.startswith("https://")
    trusting = ssl.create_default_context(cafile=certificate[0])
    async with Client(ssl=trusting, reconnection=False) as client:
        await client.connect(server.url, transports=transports)
        await round_trip(client, transports)
    async with Client(ssl=False, reconnection=False) as client:
        await client.connect(server.url, transports=transports)
        await round_trip(client, transports)
    # Verification is on by default: a certificate nobody vouches for is refused.
    async with Client(reconnection=False, timeout=5) as client:
        with pytest.raises(ConnectError, match="(?i)certificate"):
            await client.connect(server.url, transports=transports)


async def test_a_forward_proxy_with_credentials(
    server: ServerHarness, transports: tuple[str, ...]
) -> None:
    async with Proxy(credentials=("user", "s3cret")) as proxy:
        async with Client(proxy=proxy.url("user", "s3cret"), reconnection=False) as client:
            await client.connect(server.url, transports=transports)
            await round_trip(client, transports)
        # Forwarded in absolute form, ws:// too (its upgrade then goes through untouched).
        polling = [f"{m} http://127.0.0.1:{server.port}/socket.io/?" for m in ("GET", "POST")]
        websocket = f"GET ws://127.0.0.1:{server.port}/socket.io/?"
        assert proxy.seen and all(line.startswith((*polling, websocket)) for line in proxy.seen)
        assert any(line.startswith(websocket) for line in proxy.seen) == (
            "websocket" in transports
        ), proxy.seen
        assert proxy.refused == 0
        async with Client(proxy=proxy.url("user", "wrong"), reconnection=False) as client:
            with pytest.raises(ConnectError):
                await client.connect(server.url, transports=transports)
        assert proxy.refused >= 1


async def test_tls_through_a_proxy_tunnel(
    server_kind: str, make_server: ServerFactory, certificate: tuple[str, str]
) -> None:
    server = await make_server(server_kind, tls=certificate)
    transports = ("polling", "websocket")
    trusting = ssl.create_default_context(cafile=certificate[0])
    async with Proxy() as proxy:
        async with Client(ssl=trusting, proxy=proxy.url(), reconnection=False) as client:
            await client.connect(server.url, transports=transports)
            await round_trip(client, transports)
        assert proxy.seen and set(proxy.seen) == {f"CONNECT 127.0.0.1:{server.port}"}


async def test_the_applications_own_http_session(
    server: ServerHarness, transports: tuple[str, ...]
) -> None:
    async with aiohttp.ClientSession(headers={"X-Test": "from the session"}) as session:
        client = Client(http_session=session, reconnection=False)
        for _ in range(2):  # the session outlives each connection, and serves the next
            await client.connect(server.url, transports=transports)
            record = await server.records.get("connect", sid=client.sid)
            assert record["header"] == "from the session"
            await round_trip(client, transports)
            await client.disconnect()
            assert not session.closed


async def test_headers_and_auth_functions_are_called_for_each_reconnection(
    server: ServerHarness, transports: tuple[str, ...]
) -> None:
    made: list[str] = []

    def headers() -> dict[str, str]:
        made.append(f"h{len(made) + 1}")
        return {"X-Test": made[-1]}

    async def auth() -> dict[str, Any]:
        return {"token": f"t{len(made)}"}

    inbox = Inbox()
    client = quick_client()
    client.on("connect", lambda: inbox.put("connect"))
    await client.connect(server.url, headers=headers, auth=auth, transports=transports)
    try:
        assert await inbox.get() == ("connect",)
        first = await server.records.get("connect", sid=client.sid)
        assert (first["header"], first["auth"]) == ("h1", {"token": "t1"})
        assert client.sid is not None
        await server.close_connection(client.sid)
        assert await inbox.get() == ("connect",)
        second = await server.records.get("connect", sid=client.sid)
        assert (second["header"], second["auth"]) == ("h2", {"token": "t2"})
        await round_trip(client, transports)
        assert made == ["h1", "h2"]
    finally:
        await client.disconnect()


async def test_bad_headers_from_a_function_fail_the_connection(server: ServerHarness) -> None:
    client = Client(reconnection=False)
    with pytest.raises(TypeError, match="headers must be a mapping"):
        await client.connect(server.url, headers=lambda: ["not", "a", "mapping"])  # type: ignore[arg-type,return-value]
    assert not client.connected


@pytest.mark.parametrize(
    "changes",
    [{"retries": -1}, {"retries": 1.5}, {"proxy": "socks5://127.0.0.1:1"}, {"proxy": "http://"}],
)
def test_invalid_connection_options_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Client(**changes)
    with pytest.raises(TypeError):
        Client(ssl="no")  # type: ignore[arg-type]
