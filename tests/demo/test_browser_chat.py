"""The chat as people use it, in Chromium: rooms, offline and back, a server killed and restarted.

Every action goes through the page (typing, pressing Enter, clicking), against
``tidings demo`` running as its own process with its own SQLite file. The page
counts what reached it live (``tidingsChat.stats``): a message delivered twice,
or out of order, is counted there, so "once, in order" is checked on what the
library delivered, not only on what the page chose to show.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from .harness import Browser, ChatPage, DemoProcess

pytestmark = pytest.mark.timeout(120)

StartDemo = Callable[..., Awaitable[DemoProcess]]


async def person(browser: Browser, name: str, shots: Path, url: str, **size: int) -> ChatPage:
    page = await ChatPage.open(browser, name, shots, url, **size)
    await page.login(name)
    return page


#: What Chromium logs for the connection attempts a page makes while the network or the
#: server is down: expected here. Anything else in the console is a fault of the page.
NETWORK_NOISE = re.compile(r"Failed to load resource|WebSocket connection to .* failed|net::ERR_")


async def script_errors(page: ChatPage) -> list[str]:
    return [e for e in await page.errors() if not NETWORK_NOISE.search(e)]


def stored(messages: list[dict[str, object]]) -> list[object]:
    return [m["text"] for m in messages if m["offset"] is not None and m["text"] is not None]


async def assert_clean(page: ChatPage) -> None:
    stats = await page.stats()
    assert stats["liveDuplicates"] == 0, stats
    assert stats["outOfOrder"] == 0, stats
    assert await script_errors(page) == []
    offsets = [m["offset"] for m in await page.messages()]
    assert all(o is not None for o in offsets), "a message is still pending"
    assert offsets == sorted(set(offsets)), f"offsets shown out of order or twice: {offsets}"


async def test_offline_page_catches_up_once_in_order(
    browser: Browser, start_demo: StartDemo, shots: Path
) -> None:
    demo = await start_demo()
    alice = await person(browser, "Alice", shots, demo.url)
    bob = await person(browser, "Bob", shots, demo.url)

    # Both in #general: each sees the other, and what the other writes.
    await alice.call("waitForText", selector="#member-list", text="Bob")
    assert await bob.members() == ["Alice", "Bob"]
    await alice.say_confirmed("Hi Bob, are you there?")
    await bob.wait_messages_include(["Hi Bob, are you there?"])
    # Bob starts typing: Alice sees it.
    await bob.call("type", selector="#text", value="Yes")
    await alice.call("waitForText", selector="#typing", text="Bob is typing")
    await bob.call("press", selector="#text", key="Enter")
    await alice.wait_messages_include(["Yes"])
    await alice.screenshot("01-alice-chatting")

    # Bob's network goes away; Alice keeps writing.
    await bob.set_offline(True)
    await bob.wait_disconnected()
    await bob.call("waitFor", selector="#offline-banner")
    missed = [f"While you were away #{i}" for i in range(1, 7)]
    for text in missed:
        await alice.say_confirmed(text)
    await alice.call("waitForFunction", expression="() => !document.querySelector('#member-list').textContent.includes('Bob')")
    await bob.screenshot("02-bob-offline")
    assert "While you were away #1" not in await bob.texts()

    # Back online: Bob's page reconnects by itself and shows each missed message once, in order.
    await bob.set_offline(False)
    await bob.wait_connected()
    await bob.wait_messages_include(missed)
    expected = ["Hi Bob, are you there?", "Yes", *missed]
    assert stored(await bob.messages()) == expected
    assert stored(await alice.messages()) == expected
    stats = await bob.stats()
    assert stats["recoveries"] >= 1, stats  # the session was recovered, not started anew
    await assert_clean(bob)
    await assert_clean(alice)
    await alice.call("waitForText", selector="#member-list", text="Bob")

    # And the conversation goes on both ways.
    await bob.say_confirmed("Back! I got all six.")
    await alice.wait_messages_include(["Back! I got all six."])
    await bob.screenshot("03-bob-back")


async def test_server_killed_and_restarted_loses_nothing(
    browser: Browser, start_demo: StartDemo, shots: Path
) -> None:
    demo = await start_demo()
    alice = await person(browser, "Alice", shots, demo.url)
    bob = await person(browser, "Bob", shots, demo.url)
    await alice.join("ops")
    await bob.join("ops")
    await alice.say_confirmed("deploy at 5?")
    await bob.wait_messages_include(["deploy at 5?"])
    await bob.say_confirmed("ok, deploy at 5")
    await alice.open_room("general")
    await alice.say_confirmed("lunch anyone?")
    await alice.wait_messages_include(["lunch anyone?"])
    # A message sent again with the same id (a retry after a lost ack) is stored once...
    retry = """() => tidingsChat.request("message", {room: "general", cid: "retry-after-a-lost-ack", text: "once"})"""
    assert await alice.call("evaluate", expression=retry) == {"ok": True}
    assert await alice.call("evaluate", expression=retry) == {"ok": True, "duplicate": True}

    # kill -9: no goodbye to anyone; the pages notice and keep trying.
    await demo.kill()
    await alice.wait_disconnected()
    await bob.wait_disconnected()
    # Alice writes while the server is down: her page holds the message until it is back.
    await alice.say("anyone still here?")
    await alice.call("waitFor", selector=".msg.pending")
    await alice.screenshot("01-alice-server-down")

    restarted = await start_demo(port=demo.port, db=demo.db)
    await alice.wait_connected()
    await bob.wait_connected()
    await alice.wait_messages_include(["lunch anyone?", "anyone still here?"])
    await bob.open_room("general")
    await bob.wait_messages_include(["lunch anyone?", "once", "anyone still here?"])
    # ...even by a server that restarted since.
    assert await alice.call("evaluate", expression=retry) == {"ok": True, "duplicate": True}
    for page in (alice, bob):
        assert stored(await page.messages()) == ["lunch anyone?", "once", "anyone still here?"]
        assert (await page.stats())["recoveries"] >= 1  # the sessions outlived the process
        await assert_clean(page)
    await bob.open_room("ops")
    assert stored(await bob.messages()) == ["deploy at 5?", "ok, deploy at 5"]
    await bob.screenshot("02-bob-after-restart")

    # Something said after the restart reaches the other page live.
    await bob.say_confirmed("restarted fine")
    await alice.open_room("ops")
    await alice.wait_messages_include(["restarted fine"])
    assert stored(await alice.messages()) == ["deploy at 5?", "ok, deploy at 5", "restarted fine"]

    # A page opened afterwards shows the rooms' history.
    carol = await person(browser, "Carol", shots, restarted.url)
    await carol.wait_messages_include(["lunch anyone?", "anyone still here?"])
    assert stored(await carol.messages()) == ["lunch anyone?", "once", "anyone still here?"]
    await carol.join("ops")
    assert stored(await carol.messages()) == ["deploy at 5?", "ok, deploy at 5", "restarted fine"]
    await carol.call("waitForText", selector="#member-list", text="Alice")
    assert await carol.members() == ["Alice", "Bob", "Carol"]
    await carol.screenshot("03-carol-late-joiner")
    await assert_clean(carol)
