"""Owner tags in session ids, and the options that carry them."""

from __future__ import annotations

import re

import pytest

import tidings
from tidings.engine import EngineOptions, EngineServer, owner_of
from tidings.standalone import HandoffOptions, HttpServer

from .nodes import SHUTDOWN_TIMEOUT, handshake


def test_owner_of_reads_the_tag() -> None:
    assert owner_of("node-1_w2.abcdefghijklmnopqrst") == "node-1_w2"
    assert owner_of("abcdefghijklmnopqrst") is None
    assert owner_of("a.b.c") == "a"


@pytest.mark.parametrize("owner", ["", "a.b", "x" * 25, "sp ace", "é", "a/b"])
def test_bad_tags_are_refused(owner: str) -> None:
    with pytest.raises(ValueError, match="owner tag"):
        EngineOptions(owner=owner)
    with pytest.raises(ValueError, match="owner tag"):
        HandoffOptions(owner=owner)


async def test_session_ids_carry_the_tag_and_only_then() -> None:
    plain = tidings.Server()
    tagged = tidings.Server()
    async with HttpServer(plain) as p, HttpServer(tagged, handoff=HandoffOptions("n-7")) as t:
        sid = await handshake(p.port)
        assert len(sid) == 20 and owner_of(sid) is None
        sid = await handshake(t.port)
        assert owner_of(sid) == "n-7"
        assert re.fullmatch(r"n-7\.[A-Za-z0-9_-]{20}", sid)
        for server in (t, p):  # the sessions' clients are gone: no second of grace for their polls
            await server.close(SHUTDOWN_TIMEOUT)
    assert tagged.engine.owner == "n-7" and plain.engine.owner is None


def test_an_engine_made_with_an_owner() -> None:
    engine = EngineServer(owner="abc")
    assert engine.owner == "abc"
    engine.set_owner(None)
    assert engine.options.owner is None


def test_peers_must_be_a_directory() -> None:
    with pytest.raises(TypeError, match="PeerDirectory"):
        HandoffOptions("a", peers=object())  # type: ignore[arg-type]
