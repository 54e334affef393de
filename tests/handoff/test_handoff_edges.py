"""Hand-off at the edges: pipelined requests, a body that comes after the head, owners that
are unknown, dead or handed back, and the connection counts on both sides."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from pathlib import Path

import orjson
import pytest

import tidings
from tidings.standalone import HandoffOptions, HttpServer, RedisPeerDirectory

from .nodes import (
    REDIS_URL,
    handshake,
    nodes,
    raw_exchange,
    read_response,
    request,
    status_and_body,
    unique_prefix,
    unknown_session,
    until,
)


async def test_pipelined_requests_before_and_after_the_hand_off(socket_dir: Path) -> None:
    async with nodes(socket_dir=socket_dir, count=2) as (n0, n1):
        sid = await handshake(n0.port)
        assert sid.startswith("n0.")
        # One write: a handshake n1 answers itself, then two requests of n0's session,
        # which go to n0 with the connection, and are answered there, in order.
        data = request("GET", "sid-less") + request("POST", sid, b"40") + request("GET", sid)
        first, second, third = await raw_exchange(n1.port, data, responses=3)
        status, body = status_and_body(first)
        assert status == 200 and orjson.loads(body[1:])["sid"].startswith("n1.")
        assert status_and_body(second) == (200, b"ok")
        status, body = status_and_body(third)
        assert status == 200 and body.startswith(b"40{"), third  # n0's CONNECT answer


async def test_a_request_after_a_local_body_in_the_same_read(socket_dir: Path) -> None:
    """Where the foreign request starts is where the local one's head ends plus its body."""
    async with nodes(socket_dir=socket_dir, count=2) as (n0, n1):
        theirs, mine = await handshake(n0.port), await handshake(n1.port)
        data = request("POST", mine, b"40") + request("POST", theirs, b"40") + request("GET", theirs)
        first, second, third = await raw_exchange(n1.port, data, responses=3)
        assert status_and_body(first) == (200, b"ok")
        assert status_and_body(second) == (200, b"ok")
        status, body = status_and_body(third)
        assert status == 200 and body.startswith(b"40{"), third


async def test_after_a_chunked_body_in_the_same_read_the_request_is_served_here(
    socket_dir: Path,
) -> None:
    """A chunked body's end is the parser's to know: the request after it is not handed."""
    async with nodes(socket_dir=socket_dir, count=2) as (n0, n1):
        theirs, mine = await handshake(n0.port), await handshake(n1.port)
        chunked = (
            f"POST /socket.io/?EIO=4&transport=polling&sid={mine} HTTP/1.1\r\n"
            "Host: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n40\r\n0\r\n\r\n"
        ).encode()
        first, second = await raw_exchange(
            n1.port, chunked + request("GET", theirs), responses=2
        )
        assert status_and_body(first) == (200, b"ok")
        assert unknown_session(second), second
        # On a read of its own, the same request is handed on.
        (third,) = await raw_exchange(n1.port, request("POST", theirs, b"40"))
        assert status_and_body(third) == (200, b"ok")


async def test_a_body_that_comes_after_the_head(socket_dir: Path) -> None:
    async with nodes(socket_dir=socket_dir, count=2) as (n0, n1):
        sid = await handshake(n0.port)
        await until(lambda: n0.connection_count == 0, "the handshake connection closed")
        reader, writer = await asyncio.open_connection("127.0.0.1", n1.port)
        try:
            post = request("POST", sid, b"40")
            writer.write(post[:-2])  # the head and half the body
            await writer.drain()
            # The head alone decided: the connection moves with the body unread.
            await until(lambda: n0.connection_count == 1, "n0 adopted the connection")
            assert n1.connection_count == 0
            writer.write(post[-2:])
            writer.write(request("GET", sid))
            assert status_and_body(await read_response(reader)) == (200, b"ok")
            status, body = status_and_body(await read_response(reader))
            assert status == 200 and body.startswith(b"40{")
            assert n0.connection_count == 1
        finally:
            writer.close()
        await until(lambda: n0.connection_count == 0, "n0 saw the connection close")


async def test_connection_counts_follow_the_connection(socket_dir: Path) -> None:
    async with nodes(socket_dir=socket_dir, count=2) as (n0, n1):
        sid = await handshake(n0.port)
        await until(lambda: n0.connection_count == 0, "the handshake connection closed")
        reader, writer = await asyncio.open_connection("127.0.0.1", n1.port)
        try:
            writer.write(request("GET", sid))  # held by n0: nothing to send yet
            await writer.drain()
            await until(lambda: n0.connection_count == 1, "n0 adopted the connection")
            assert n1.connection_count == 0
            # The client closes its session (on another connection): n0 answers the held poll.
            (closed,) = await raw_exchange(n0.port, request("POST", sid, b"1", close=True))
            assert status_and_body(closed) == (200, b"ok")
            status, _ = status_and_body(await read_response(reader))
            assert status == 200
        finally:
            writer.close()
        await until(lambda: n0.connection_count == 0, "n0 saw the connection close")


async def test_relayed_connection_counts_once_on_the_relaying_node() -> None:
    async with nodes(prefix=unique_prefix(), count=2) as (n0, n1):
        sid = await handshake(n0.port)
        await until(lambda: n0.connection_count == 0, "the handshake connection closed")
        reader, writer = await asyncio.open_connection("127.0.0.1", n1.port)
        try:
            writer.write(request("POST", sid, b"40") + request("GET", sid))
            await writer.drain()
            assert status_and_body(await read_response(reader)) == (200, b"ok")
            status, body = status_and_body(await read_response(reader))
            assert status == 200 and body.startswith(b"40{")
            assert n1.connection_count == 1  # the relay
            assert n0.connection_count == 1  # the relay's connection to n0
        finally:
            writer.close()
        await until(lambda: n1.connection_count == n0.connection_count == 0, "both sides closed")


async def test_unknown_owner_is_an_unknown_session(
    socket_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "tidings.standalone")
    async with nodes(socket_dir=socket_dir, count=2) as (_, n1):
        for method in ("GET", "POST"):
            (response,) = await raw_exchange(n1.port, request(method, "ghost.abcdefghij", b"40"))
            assert unknown_session(response), response
    lines = [r.getMessage() for r in caplog.records if "ghost" in r.getMessage()]
    assert len(lines) == 2 and all("owner ghost is not known here" in x for x in lines), lines


async def test_dead_owner_is_an_unknown_session(
    socket_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "tidings.standalone")
    # A socket file left by a process that is gone: nothing listens on it.
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(socket_dir / "gone.sock"))
    stale.close()
    async with nodes(socket_dir=socket_dir, count=2) as (_, n1):
        (response,) = await raw_exchange(n1.port, request("POST", "gone.abcdefghij", b"40"))
        assert unknown_session(response), response
    lines = [r.getMessage() for r in caplog.records if "owner gone" in r.getMessage()]
    assert len(lines) == 1 and "unreachable" in lines[0], lines


async def test_a_request_handed_back_is_not_handed_again(
    socket_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "tidings.standalone")
    async with nodes(socket_dir=socket_dir, count=2) as (_, n1):
        # "ghost"'s socket leads to n0, which does not own ghost's sessions either.
        os.symlink(socket_dir / "n0.sock", socket_dir / "ghost.sock")
        (response,) = await raw_exchange(n1.port, request("GET", "ghost.abcdefghij"))
        assert unknown_session(response), response
    lines = [r.getMessage() for r in caplog.records if "ghost" in r.getMessage()]
    assert len(lines) == 1 and "handed on once already" in lines[0], lines


async def test_a_stale_directory_entry_costs_one_hop(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "tidings.standalone")
    prefix = unique_prefix()
    async with nodes(prefix=prefix, count=2) as (n0, n1):
        # The directory says ghost listens where n0 does: n1 relays there, n0 refuses.
        stale = RedisPeerDirectory(REDIS_URL, prefix)
        await stale.publish("ghost", "127.0.0.1", n0.port)
        try:
            (response,) = await raw_exchange(n1.port, request("GET", "ghost.abcdefghij"))
            assert unknown_session(response), response
        finally:
            await stale.close()
    lines = [r.getMessage() for r in caplog.records if "ghost" in r.getMessage()]
    assert len(lines) == 1 and "handed on once already" in lines[0], lines


async def test_owner_gone_from_the_directory_is_an_unknown_session(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "tidings.standalone")
    async with nodes(prefix=unique_prefix(), count=2) as (_, n1):
        (response,) = await raw_exchange(n1.port, request("GET", "ghost.abcdefghij"))
        assert unknown_session(response), response
    lines = [r.getMessage() for r in caplog.records if "ghost" in r.getMessage()]
    assert len(lines) == 1 and "no address" in lines[0], lines


async def test_relayed_to_a_machine_then_passed_to_its_process(socket_dir: Path) -> None:
    """Workers of one machine publish the port they share: a request relayed there lands on
    any of them, which passes it to the owner on that machine (one relay, then one pass)."""
    prefix = unique_prefix()
    app = tidings.Server
    machine = {"socket_dir": str(socket_dir)}
    async with HttpServer(
        app(), handoff=HandoffOptions("w0", peers=RedisPeerDirectory(REDIS_URL, prefix), **machine)
    ) as w0:
        w1_options = HandoffOptions(
            "w1",
            peers=RedisPeerDirectory(REDIS_URL, prefix),
            advertise=("127.0.0.1", w0.port),  # as if it shared w0's port
            **machine,
        )
        other = HandoffOptions("elsewhere", peers=RedisPeerDirectory(REDIS_URL, prefix))
        async with HttpServer(app(), handoff=w1_options) as w1, HttpServer(
            app(), handoff=other
        ) as elsewhere:
            sid = await handshake(w1.port)
            data = request("POST", sid, b"40") + request("GET", sid)
            first, second = await raw_exchange(elsewhere.port, data, responses=2)
            assert status_and_body(first) == (200, b"ok")
            status, body = status_and_body(second)
            assert status == 200 and body.startswith(b"40{"), second


async def test_the_unix_socket_drops_what_is_not_a_whole_hand_off(
    socket_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "tidings.standalone")
    async with nodes(socket_dir=socket_dir, count=2) as (n0, n1):
        loop = asyncio.get_running_loop()
        for payload, fds in ((b"\x00" * 8 + b"GET / HTTP/1.1\r\n\r\n", []), (b"\x00" * 20, [0])):
            unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            unix.setblocking(False)
            await loop.sock_connect(unix, str(socket_dir / "n0.sock"))
            socket.send_fds(unix, [payload], fds)  # stdin's descriptor: it must not be adopted
            unix.close()
        await until(lambda: len(caplog.records) >= 2, "both refusals logged")
        assert all("cut short or without one connection" in r.getMessage() for r in caplog.records)
        assert n0.connection_count == 0
        # Hand-offs still work.
        sid = await handshake(n0.port)
        (response,) = await raw_exchange(n1.port, request("POST", sid, b"40"))
        assert status_and_body(response) == (200, b"ok")


async def test_a_relaying_node_that_shuts_down_closes_its_relays() -> None:
    async with nodes(prefix=unique_prefix(), count=2) as (n0, n1):
        sid = await handshake(n0.port)
        await until(lambda: n0.connection_count == 0, "the handshake connection closed")
        reader, writer = await asyncio.open_connection("127.0.0.1", n1.port)
        try:
            writer.write(request("GET", sid))  # held by n0, through n1
            await writer.drain()
            await until(lambda: n1.connection_count == 1 and n0.connection_count == 1, "relayed")
            await asyncio.wait_for(n1.close(), 5)
            assert await asyncio.wait_for(reader.read(), 5) == b""  # closed, not held
            assert n1.connection_count == 0
        finally:
            writer.close()


async def test_a_moved_connection_moves_again_for_another_session(socket_dir: Path) -> None:
    """A balancer that reuses upstream connections mixes sessions on one: each request
    for another owner moves the connection on (only the first request is marked)."""
    async with nodes(socket_dir=socket_dir, count=3) as (n0, n1, n2):
        s0, s2 = await handshake(n0.port), await handshake(n2.port)
        reader, writer = await asyncio.open_connection("127.0.0.1", n1.port)
        try:
            for sid in (s0, s2):
                writer.write(request("POST", sid, b"40") + request("GET", sid))
                assert status_and_body(await read_response(reader)) == (200, b"ok")
                status, body = status_and_body(await read_response(reader))
                assert status == 200 and body.startswith(b"40{"), body
            # Back to n0 (from n2 now): its welcome, sent after the CONNECT, is waiting there.
            writer.write(request("GET", s0))
            status, body = status_and_body(await read_response(reader))
            assert (status, body) == (200, b'42["welcome",{"node":"n0"}]')
        finally:
            writer.close()


async def test_expect_continue_is_the_owners_to_answer(socket_dir: Path) -> None:
    async with nodes(socket_dir=socket_dir, count=2) as (n0, n1):
        sid = await handshake(n0.port)
        await until(lambda: n0.connection_count == 0, "the handshake connection closed")
        reader, writer = await asyncio.open_connection("127.0.0.1", n1.port)
        try:
            head, _, body = request("POST", sid, b"40").partition(b"\r\n\r\n")
            writer.write(head + b"\r\nExpect: 100-continue\r\n\r\n")
            await writer.drain()
            interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
            assert n1.connection_count == 0 and n0.connection_count == 1  # n0 said it
            writer.write(body)
            assert status_and_body(await read_response(reader)) == (200, b"ok")
        finally:
            writer.close()
