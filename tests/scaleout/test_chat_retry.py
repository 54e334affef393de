"""A chat message re-sent to another node (its ack was lost with the first one) is stored once.

Two chat servers share one PostgreSQL history, as cluster nodes do. The node a
page re-sends to has read the room's message ids before the first node stored
the message: it must learn what was stored since, not trust what it read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.e2e.harness import NodeClient, serving
from tidings.demo.chat import RETENTION, create_app
from tidings.history import PostgresHistory

from .conftest import PG_DSN

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def nodes(prefix: str) -> AsyncIterator[tuple[str, str]]:
    """Two chat servers on one history (schema ``prefix``); their URLs."""
    one = create_app(history=PostgresHistory(PG_DSN, schema=prefix, retention=RETENTION), node_id="a")
    two = create_app(history=PostgresHistory(PG_DSN, schema=prefix, retention=RETENTION), node_id="b")
    async with serving(one) as url_one, serving(two) as url_two:
        yield url_one, url_two


async def test_a_retry_on_another_node_is_a_duplicate(
    nodes: tuple[str, str], node: NodeClient
) -> None:
    url_one, url_two = nodes
    opts = {"transports": ["websocket"]}
    pat = node.socket(url_one, id="pat", opts=opts, auth={"nick": "Pat"})
    sam = node.socket(url_two, id="sam", opts=opts, auth={"nick": "Sam"})
    for socket in (pat, sam):
        await socket.connect()
        await socket.connected()
        assert (await socket.emit_with_ack("join", {"room": "general"}))["ok"] is True

    # Sam's node reads #general's ids (with this first message)...
    assert await sam.emit_with_ack("message", {"room": "general", "cid": "sam-message-1", "text": "hi"}) == {"ok": True}
    # ...then Pat's node stores Pat's message, and the ack is lost: Pat's page re-sends it
    # to Sam's node.
    sent = {"room": "general", "cid": "pat-message-1", "text": "hello"}
    assert await pat.emit_with_ack("message", sent) == {"ok": True}
    retry = node.socket(url_two, id="pat-again", opts=opts, auth={"nick": "Pat"})
    await retry.connect()
    await retry.connected()
    assert (await retry.emit_with_ack("join", {"room": "general"}))["ok"] is True
    assert await retry.emit_with_ack("message", sent) == {"ok": True, "duplicate": True}
    # And a new message from there is new.
    fresh = {"room": "general", "cid": "pat-message-2", "text": "again"}
    assert await retry.emit_with_ack("message", fresh) == {"ok": True}

    joined = await retry.emit_with_ack("join", {"room": "general"})
    assert [m["cid"] for m in joined["history"]] == ["sam-message-1", "pat-message-1", "pat-message-2"]
