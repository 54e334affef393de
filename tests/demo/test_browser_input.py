"""Images, bad input and small screens, in Chromium against ``tidings demo``.

Bad input is tried twice where the page checks it first: through the UI (the
page's own check answers) and through ``tidingsChat.queue``, the path the
composer takes after its checks (the server's answer is shown). Either way the
person sees a clear sentence, and the chat goes on for everyone.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from .harness import Browser, ChatPage, DemoProcess

pytestmark = pytest.mark.timeout(120)

StartDemo = Callable[..., Awaitable[DemoProcess]]
NETWORK_NOISE = re.compile(r"Failed to load resource|WebSocket connection to .* failed|net::ERR_")


def png(width: int, height: int) -> bytes:
    """A real PNG: a smooth colour gradient (compresses well, decodes anywhere)."""
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter: none
        g = (y * 255) // max(1, height - 1)
        for x in range(width):
            rows += bytes(((x * 255) // max(1, width - 1), g, 160))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(bytes(rows), 6)) + chunk(b"IEND", b""))


async def person(browser: Browser, name: str, shots: Path, url: str, **size: int) -> ChatPage:
    page = await ChatPage.open(browser, name, shots, url, **size)
    await page.login(name)
    return page


async def wait_image(page: ChatPage, index: int, width: int) -> None:
    """Until the index-th stored picture in the open room has loaded at ``width`` pixels."""
    await page.call(
        "waitForFunction",
        expression="""([i, w]) => {
            const img = document.querySelectorAll("#messages-area .msg[data-offset] img.picture")[i];
            return Boolean(img && img.complete && img.naturalWidth === w);
        }""",
        arg=[index, width],
    )


async def clear_error(page: ChatPage) -> None:
    await page.call("click", selector="#send-error-close")
    await page.call("waitFor", selector="#send-error", state="hidden")


async def no_script_errors(page: ChatPage) -> None:
    assert [e for e in await page.errors() if not NETWORK_NOISE.search(e)] == []


async def test_images_reach_everyone_and_the_history(
    browser: Browser, start_demo: StartDemo, shots: Path
) -> None:
    demo = await start_demo()
    alice = await person(browser, "Alice", shots, demo.url)
    bob = await person(browser, "Bob", shots, demo.url)
    await alice.say_confirmed("Look at this:")

    # A small PNG goes as it is; both pages show it.
    await alice.set_files("#file", "gradient.png", "image/png", png(320, 200))
    for page in (alice, bob):
        await wait_image(page, 0, 320)
    # A large one is scaled down in the page (to 1600 px at most) before it is sent.
    await alice.set_files("#file", "big.png", "image/png", png(2400, 1800))
    for page in (alice, bob):
        await wait_image(page, 1, 1600)
    await bob.say_confirmed("Nice colours")
    await bob.screenshot("01-bob-sees-images")

    # A page opened later gets the images from the history (binary, from SQLite).
    carol = await person(browser, "Carol", shots, demo.url)
    await wait_image(carol, 0, 320)
    await wait_image(carol, 1, 1600)
    shown = await carol.messages()
    assert [m["image"] for m in shown] == [False, True, True, False]
    await carol.screenshot("02-carol-history-with-images")

    # Too large, or not an image: the page says so, and nothing is sent.
    gif = b"GIF89a" + bytes(1_200_000)
    await alice.set_files("#file", "huge.gif", "image/gif", gif)
    assert await alice.send_error() == "Not sent: Images are at most 1.0 MB (this one is 1.2 MB)."
    await clear_error(alice)
    await alice.set_files("#file", "notes.txt", "text/plain", b"hello")
    assert await alice.send_error() == "Not sent: Send a PNG, JPEG, GIF or WebP image."
    await clear_error(alice)

    # A page that skips those checks hears the same from the server.
    await alice.call(
        "evaluate",
        expression="""() => tidingsChat.queue({kind: "image", room: "general", cid: "bypass-big-0001",
                        image: new Uint8Array(1_200_000), mime: "image/png"})""",
    )
    assert await alice.send_error() == "Not sent: Images are at most 1.0 MB (this one is 1.2 MB)."
    await clear_error(alice)
    await alice.call(
        "evaluate",
        expression="""() => tidingsChat.queue({kind: "image", room: "general", cid: "bypass-svg-0001",
                        image: new TextEncoder().encode("<svg onload='alert(1)'/>"), mime: "image/svg+xml"})""",
    )
    assert await alice.send_error() == "Not sent: Send a PNG, JPEG, GIF or WebP image."
    await alice.call(
        "evaluate",
        expression="""() => tidingsChat.queue({kind: "image", room: "general", cid: "bypass-fake-0001",
                        image: new TextEncoder().encode("not a png at all"), mime: "image/png"})""",
    )
    await alice.call("waitForText", selector="#send-error-text", text="is not the PNG image it claims")
    await alice.screenshot("03-alice-image-refused")
    await alice.call("waitFor", selector=".msg.pending", state="detached")

    # Nobody received any of those.
    await alice.say_confirmed("that's all")
    await bob.wait_messages_include(["that's all"])
    assert [m["image"] for m in await bob.messages()] == [False, True, True, False, False]
    for page in (alice, bob, carol):
        await no_script_errors(page)


async def test_bad_input_gets_clear_errors_and_nothing_breaks(
    browser: Browser, start_demo: StartDemo, shots: Path
) -> None:
    demo = await start_demo()
    # A nickname the server refuses: the page says why and lets you pick another.
    alice = await ChatPage.open(browser, "Alice", shots, demo.url)
    await alice.call("fill", selector="#nick", value="<b>Alice</b>")
    await alice.call("press", selector="#nick", key="Enter")
    await alice.call("waitForText", selector="#login-error", text="Nicknames use letters, digits")
    await alice.screenshot("01-nickname-refused")
    await alice.login("Alice")
    bob = await person(browser, "Bob", shots, demo.url)

    # Room names the server refuses.
    for name, error in [
        ("Bad Room!", "Room names use lowercase letters, digits and dashes"),
        ("x" * 40, "Room names are at most 32 characters."),
        ("-dash-", "Room names use lowercase letters, digits and dashes"),
    ]:
        await alice.call("fill", selector="#join-room", value=name)
        await alice.call("press", selector="#join-room", key="Enter")
        await alice.call("waitForText", selector="#join-error", text=error)
    await alice.screenshot("02-room-name-refused")
    assert await alice.call("texts", selector="#room-list .room-name") == ["general"]
    await alice.join("book-club")
    await alice.open_room("general")

    # A message over the limit: the counter turns red, the server says why, the text is kept.
    long_text = "a" * 2500
    await alice.call("fill", selector="#text", value=long_text)
    await alice.call("waitFor", selector="#counter.over")
    await alice.call("press", selector="#text", key="Enter")
    assert await alice.send_error() == (
        "Not sent: Messages are at most 2,000 characters (this one has 2,500)."
    )
    await alice.call("waitFor", selector=".msg.pending", state="detached")
    assert await alice.call("evaluate", expression="() => document.querySelector('#text').value") == long_text
    await alice.screenshot("03-message-too-long")
    await alice.call("fill", selector="#text", value="")
    await clear_error(alice)

    # Writing to a room one is not in.
    reply = await alice.call(
        "evaluate",
        expression="""() => tidingsChat.request("message", {room: "elsewhere", cid: "not-member-0003", text: "hi"})""",
    )
    assert reply == {"ok": False, "error": "Join #elsewhere before writing there."}

    # A flood: the first few go through, the rest are refused with a clear sentence.
    await alice.call(
        "evaluate",
        expression="""() => { for (let i = 0; i < 30; i++) tidingsChat.sendText("general", `flood ${i}`); }""",
    )
    error = await alice.send_error()
    assert re.fullmatch(r"Not sent: You are sending messages too fast: wait \d+ s and try again\.", error)
    await alice.call("waitFor", selector=".msg.pending", state="detached")
    sent = [t for t in await alice.texts() if t.startswith("flood")]
    assert 1 <= len(sent) < 30
    assert sent == [f"flood {i}" for i in range(len(sent))]  # the first ones, in order
    await bob.wait_messages_include(sent)
    await alice.screenshot("04-flood-refused")

    # Nothing else broke: Bob's page never saw the refused ones and the chat goes on.
    await bob.say_confirmed("still here")
    await alice.wait_messages_include(["still here"])
    # The error goes away when the wait is over; then Alice can write again.
    await alice.call("waitFor", selector="#send-error", state="hidden", timeout=15_000)
    await alice.say_confirmed("sorry about that")
    await bob.wait_messages_include(["sorry about that"])
    expected = [*sent, "still here", "sorry about that"]
    assert [t for t in await bob.texts()] == expected
    assert [t for t in await alice.texts()] == expected
    for page in (alice, bob):
        stats = await page.stats()
        assert stats["connects"] == 1, stats  # never disconnected
        assert stats["liveDuplicates"] == 0 and stats["outOfOrder"] == 0, stats
        await no_script_errors(page)


async def test_small_screen(browser: Browser, start_demo: StartDemo, shots: Path) -> None:
    demo = await start_demo()
    phone = await ChatPage.open(browser, "Phone", shots, demo.url, width=390, height=844)
    await phone.call("waitFor", selector="#nick")
    await phone.screenshot("01-phone-login")
    await phone.login("Dana")
    desk = await person(browser, "Erin", shots, demo.url)
    await desk.say_confirmed("Hello from a laptop: https://example.org/page")
    await phone.wait_messages_include(["Hello from a laptop: https://example.org/page"])
    links = await phone.call("attribute", selector=".msg .text a", attribute="href")
    assert links == ["https://example.org/page"]
    await phone.say_confirmed("Hi from my phone!")
    # The room list and the members are one tap away, not in the way.
    await phone.call("waitFor", selector="#sidebar", state="hidden")
    await phone.call("waitFor", selector="#members", state="hidden")
    await phone.screenshot("02-phone-chat")
    await phone.call("click", selector="#menu")
    await phone.call("waitFor", selector="#sidebar")
    await phone.screenshot("03-phone-rooms")
    await phone.join("travel")
    await phone.call("waitFor", selector="#sidebar", state="hidden")
    await phone.call("click", selector="#members-toggle")
    await phone.call("waitForText", selector="#member-list", text="Dana")
    await phone.screenshot("04-phone-members")
    await phone.call("click", selector="#scrim", position={"x": 40, "y": 400})  # beside the panel
    await phone.call("waitFor", selector="#members", state="hidden")
    await no_script_errors(phone)
