"""What the chat accepts from a page, and how fast (no server needed)."""

from __future__ import annotations

import pytest

from tidings.demo.rules import (
    ChatLimits,
    InputError,
    TokenBucket,
    check_client_id,
    check_image,
    check_nickname,
    check_room,
    check_text,
)

LIMITS = ChatLimits()
PNG = b"\x89PNG\r\n\x1a\n" + bytes(20)


@pytest.mark.parametrize(("given", "name"), [
    ("general", "general"), ("  Book-Club ", "book-club"), ("a", "a"), ("r2d2", "r2d2"), ("x" * 32, "x" * 32),
])
def test_room_names_accepted(given: str, name: str) -> None:
    assert check_room(given) == name


@pytest.mark.parametrize(("given", "error"), [
    ("", "Give the room a name."),
    (None, "Give the room a name."),
    (42, "Give the room a name."),
    ("x" * 33, "at most 32 characters"),
    ("-dash", "lowercase letters, digits and dashes"),
    ("dash-", "lowercase letters, digits and dashes"),
    ("two words", "lowercase letters, digits and dashes"),
    ("café", "lowercase letters, digits and dashes"),
    ("room:x", "lowercase letters, digits and dashes"),
])
def test_room_names_refused(given: object, error: str) -> None:
    with pytest.raises(InputError, match=error):
        check_room(given)


def test_nicknames() -> None:
    assert check_nickname("  Ada   Lovelace ") == "Ada Lovelace"
    assert check_nickname("Zoë_O'Neil-2.0") == "Zoë_O'Neil-2.0"
    assert check_nickname("李小龙") == "李小龙"
    assert check_nickname("tab\there") == "tab here"
    for bad, error in [("", "Pick a nickname"), ("   ", "Pick a nickname"), (None, "Pick a nickname"),
                       ("x" * 25, "at most 24"), ("<b>", "not '<'"), ("a\u200bb", "not")]:
        with pytest.raises(InputError, match=error):
            check_nickname(bad)


def test_text() -> None:
    assert check_text("  hello\nworld  ", LIMITS) == "hello\nworld"
    assert check_text("x" * 2000, LIMITS) == "x" * 2000
    with pytest.raises(InputError, match=r"at most 2,000 characters \(this one has 2,001\)"):
        check_text("x" * 2001, LIMITS)
    for bad in ("", "   ", None, ["list"], {"text": "x"}):
        with pytest.raises(InputError, match="Type a message first"):
            check_text(bad, LIMITS)
    with pytest.raises(InputError, match="control characters"):
        check_text("bell\x07", LIMITS)


def test_images() -> None:
    assert check_image(PNG, "image/png", LIMITS) == (PNG, "image/png")
    assert check_image(bytearray(PNG), "image/png", LIMITS) == (PNG, "image/png")
    jpeg, gif, webp = b"\xff\xd8\xff\xe0" + bytes(8), b"GIF89a" + bytes(8), b"RIFF\0\0\0\0WEBPVP8 "
    assert check_image(jpeg, "image/jpeg", LIMITS)[1] == "image/jpeg"
    assert check_image(gif, "image/gif", LIMITS)[1] == "image/gif"
    assert check_image(webp, "image/webp", LIMITS)[1] == "image/webp"
    with pytest.raises(InputError, match=r"at most 1.0 MB \(this one is 1.2 MB\)"):
        check_image(PNG + bytes(1_200_000), "image/png", LIMITS)
    with pytest.raises(InputError, match="PNG, JPEG, GIF or WebP"):
        check_image(b"<svg/>", "image/svg+xml", LIMITS)
    with pytest.raises(InputError, match="not the JPEG image it claims to be"):
        check_image(PNG, "image/jpeg", LIMITS)
    for bad in (b"", "text", None, [1, 2]):
        with pytest.raises(InputError, match="not an image"):
            check_image(bad, "image/png", LIMITS)


def test_client_ids() -> None:
    assert check_client_id("0123456789abcdef") == "0123456789abcdef"
    for bad in ("short", "x" * 65, "has space here", None, 12345678):
        with pytest.raises(InputError):
            check_client_id(bad)


def test_token_bucket_bursts_then_refills() -> None:
    bucket = TokenBucket(capacity=3, rate=2.0)
    now = 1000.0
    assert [bucket.take(now) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(now) == pytest.approx(0.5)  # one token back in half a second
    assert bucket.take(now + 0.5) == 0.0
    assert bucket.take(now + 0.5) > 0
    assert bucket.take(now + 100) == 0.0  # refilled, but never past its capacity
    assert bucket.tokens == pytest.approx(2.0)


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError, match="max_text"):
        ChatLimits(max_text=0)
    with pytest.raises(ValueError, match="message_rate"):
        ChatLimits(message_rate=0)
