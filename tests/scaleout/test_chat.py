"""The chat in Chromium behind nginx round-robin, three chat nodes (examples/cluster/node.py).

The pages use the page's own defaults (long-polling first, then the upgrade), so
every request of theirs may reach any node. Two people held by different nodes
chat; then the node of one of them is killed with SIGKILL: both pages carry on
through the other nodes, and each shows every message once, in order.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.demo.conftest import browser, chromium
from tests.demo.harness import Browser, ChatPage
from tests.demo.test_browser_chat import assert_clean, stored

from .harness import REPO_ROOT, Deployment, NodeProcess, deploy, undeploy

__all__ = ["browser", "chromium"]

pytestmark = pytest.mark.timeout(180)

ARTIFACTS = Path(os.environ.get("TIDINGS_TEST_ARTIFACTS", REPO_ROOT / "test-artifacts")) / "scaleout"
ENGINE_ID = "() => tidingsChat.socket && tidingsChat.socket.connected ? tidingsChat.socket.io.engine.id : null"
ON_WEBSOCKET = (
    "() => !!tidingsChat.socket && tidingsChat.socket.connected"
    " && tidingsChat.socket.io.engine.transport.name === 'websocket'"
)
WAIT_MS = 15_000


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Path:
    folder = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
async def chat_cluster(
    nginx_bin: str, services: tuple[str, str], prefix: str
) -> AsyncIterator[Deployment]:
    """nginx in front of three chat nodes, as ``examples/cluster/run`` starts them."""
    redis_url, dsn = services
    with tempfile.TemporaryDirectory(prefix="tidings-nginx-") as workdir:
        made = await deploy(
            lambda name: NodeProcess.chat(name, redis_url, dsn, prefix), nginx_bin, Path(workdir)
        )
        try:
            yield made
        finally:
            await undeploy(made)


async def node_of(page: ChatPage) -> str:
    """The node holding the page's session (its Engine.IO id's owner tag), once connected."""
    await page.call("waitForFunction", expression=ENGINE_ID, timeout=WAIT_MS)
    engine_id: str = await page.call("evaluate", expression=ENGINE_ID)
    owner, dot, _ = engine_id.partition(".")
    assert dot, f"session id {engine_id!r} names no node"
    return owner


async def enter(
    browser: Browser, deployment: Deployment, name: str, shots: Path, node: str
) -> ChatPage:
    """Open the chat through the proxy and log in, the session made by ``node``; returns
    once the page is on its WebSocket (it sends no more HTTP requests by itself)."""
    page = await ChatPage.open(browser, name, shots, deployment.url)
    await page.call("waitFor", selector="#nick")
    await deployment.proxy.steer(node, deployment.alive())
    await page.login(name)
    assert await node_of(page) == node
    await page.call("waitForFunction", expression=ON_WEBSOCKET, timeout=WAIT_MS)
    return page


async def test_two_pages_on_different_nodes_chat(
    browser: Browser, chat_cluster: Deployment, shots: Path
) -> None:
    alice = await enter(browser, chat_cluster, "Alice", shots, "node1")
    bob = await enter(browser, chat_cluster, "Bob", shots, "node2")

    await alice.call("waitForText", selector="#member-list", text="Bob")
    assert await bob.members() == ["Alice", "Bob"]
    await alice.say_confirmed("Hi Bob, from node1")
    await bob.wait_messages_include(["Hi Bob, from node1"])
    await bob.say_confirmed("Hi Alice, from node2")
    await alice.wait_messages_include(["Hi Alice, from node2"])
    # Typing notices and rooms cross the nodes too.
    await bob.call("type", selector="#text", value="and")
    await alice.call("waitForText", selector="#typing", text="Bob is typing")
    await alice.join("ops")
    await bob.join("ops")
    await bob.say_confirmed("in ops")
    await alice.wait_messages_include(["in ops"])
    await alice.screenshot("01-alice-node1")
    await bob.screenshot("02-bob-node2")

    # A third page, held by node3, sees the history both wrote.
    carol = await enter(browser, chat_cluster, "Carol", shots, "node3")
    await carol.wait_messages_include(["Hi Bob, from node1", "Hi Alice, from node2"])
    await carol.call("waitForText", selector="#member-list", text="Alice")
    assert await carol.members() == ["Alice", "Bob", "Carol"]
    for page in (alice, bob, carol):
        await page.open_room("general")
        assert stored(await page.messages()) == ["Hi Bob, from node1", "Hi Alice, from node2"]
        await assert_clean(page)


async def test_a_node_killed_the_pages_carry_on(
    browser: Browser, chat_cluster: Deployment, shots: Path
) -> None:
    alice = await enter(browser, chat_cluster, "Alice", shots, "node1")
    bob = await enter(browser, chat_cluster, "Bob", shots, "node2")
    await alice.call("waitForText", selector="#member-list", text="Bob")
    await alice.say_confirmed("before the crash")
    await bob.wait_messages_include(["before the crash"])
    retry = (
        '() => tidingsChat.request("message",'
        ' {room: "general", cid: "retry-after-a-lost-ack", text: "once"})'
    )
    await bob.say_confirmed("node2 has read #general's ids by now")
    assert await alice.call("evaluate", expression=retry) == {"ok": True}

    # node1, which holds Alice's session, dies without a word.
    await chat_cluster.node("node1").kill()
    await alice.wait_disconnected()
    await alice.say("while my node was down")
    # Bob's node is fine: he keeps writing meanwhile.
    await bob.say_confirmed("did someone leave?")

    # Alice's page reconnects through the proxy to a live node and recovers there.
    await alice.wait_connected()
    assert await node_of(alice) in ("node2", "node3")
    expected = [
        "before the crash", "node2 has read #general's ids by now", "once",
        "did someone leave?", "while my node was down",
    ]
    for page in (alice, bob):
        await page.wait_messages_include(expected)
    assert stored(await alice.messages()) == stored(await bob.messages())
    assert sorted(stored(await alice.messages())) == sorted(expected)
    # The retry of a message node1 stored is known to the node Alice is on now.
    assert await alice.call("evaluate", expression=retry) == {"ok": True, "duplicate": True}
    stats = await alice.stats()
    assert stats["recoveries"] >= 1, stats  # her session outlived its node
    for page in (alice, bob):
        await assert_clean(page)
    await alice.screenshot("01-alice-after-node1-died")

    # And the conversation goes on, both ways.
    await bob.say_confirmed("welcome back")
    await alice.wait_messages_include(["welcome back"])
    await alice.say_confirmed("thanks")
    await bob.wait_messages_include(["thanks"])
    final = stored(await bob.messages())
    assert final[-2:] == ["welcome back", "thanks"]
    assert stored(await alice.messages()) == final
    for page in (alice, bob):
        await assert_clean(page)
