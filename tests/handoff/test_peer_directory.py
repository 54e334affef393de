"""``RedisPeerDirectory`` against the real Redis: entries, their TTL and heartbeat, withdrawal;
and a server publishing and withdrawing its address, and removing its unix socket."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import redis.asyncio as aioredis

import tidings
from tidings.standalone import HandoffOptions, HttpServer, RedisPeerDirectory

from .nodes import REDIS_URL, unique_prefix


async def test_publish_read_and_withdraw() -> None:
    prefix = unique_prefix()
    mine = RedisPeerDirectory(REDIS_URL, prefix)
    theirs = RedisPeerDirectory(REDIS_URL, prefix)
    try:
        assert await theirs.address_of("a") is None
        await mine.publish("a", "10.0.0.7", 8001)
        assert await theirs.address_of("a") == ("10.0.0.7", 8001)
        await mine.close()
        assert await theirs.address_of("a") is None
    finally:
        await mine.close()
        await theirs.close()


async def test_entries_expire_without_a_heartbeat_and_live_with_one() -> None:
    prefix = unique_prefix()
    client = aioredis.Redis.from_url(REDIS_URL)
    beating = RedisPeerDirectory(client, prefix, ttl=0.3)
    try:
        await beating.publish("alive", "127.0.0.1", 1)
        # An entry set once with the same TTL and never again: a node that died.
        await client.set(beating.key("dead"), b'{"host": "127.0.0.1", "port": 2}', px=300)
        await asyncio.sleep(0.9)  # three TTLs: what no heartbeat keeps is gone
        assert await beating.address_of("dead") is None
        assert await beating.address_of("alive") == ("127.0.0.1", 1)
        ttl = await client.pttl(beating.key("alive"))
        assert 0 < ttl <= 300
    finally:
        await beating.close()
        assert await client.exists(beating.key("alive")) == 0
        await client.aclose()  # the caller's client stays the caller's to close


async def test_a_server_publishes_and_withdraws(tmp_path: Path) -> None:
    prefix = unique_prefix()
    reader = RedisPeerDirectory(REDIS_URL, prefix)
    socket_dir = tmp_path / "made" / "here"  # made by the server, private
    handoff = HandoffOptions(
        "n0", socket_dir=str(socket_dir), peers=RedisPeerDirectory(REDIS_URL, prefix)
    )
    try:
        async with HttpServer(tidings.Server(), handoff=handoff) as server:
            assert await reader.address_of("n0") == ("127.0.0.1", server.port)
            assert (socket_dir / "n0.sock").is_socket()
            assert socket_dir.stat().st_mode & 0o777 == 0o700
        assert await reader.address_of("n0") is None
        assert not (socket_dir / "n0.sock").exists()
    finally:
        await reader.close()


async def test_a_wildcard_address_must_be_advertised() -> None:
    handoff = HandoffOptions("n0", peers=RedisPeerDirectory(REDIS_URL, unique_prefix()))
    server = HttpServer(tidings.Server(), "0.0.0.0", handoff=handoff)
    try:
        await server.start()
    except ValueError as exc:
        assert "advertise" in str(exc)
    else:
        raise AssertionError("a wildcard address was published")
    finally:
        await server.close()


def test_the_error_names_the_extra() -> None:
    code = (
        "import sys; sys.modules['redis'] = None\n"
        "from tidings.standalone import HandoffOptions\n"
        "try:\n    from tidings.standalone import RedisPeerDirectory\n"
        "except ImportError as exc:\n    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "tidings[redis]" in done.stdout, done.stdout
