"""SO_REUSEPORT: processes (here two servers) listening on one port."""

from __future__ import annotations

import pytest

import tidings
from tidings.standalone import HttpServer

from .nodes import handshake


async def test_two_servers_share_a_port() -> None:
    async with HttpServer(tidings.Server(), reuse_port=True) as first:
        second = HttpServer(tidings.Server(), port=first.port, reuse_port=True)
        async with second:
            assert second.port == first.port
            assert len(await handshake(first.port)) == 20


async def test_without_it_the_port_is_taken() -> None:
    async with HttpServer(tidings.Server()) as first:
        with pytest.raises(OSError):
            await HttpServer(tidings.Server(), port=first.port).start()
