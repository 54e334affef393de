"""What the chat accepts from a page, and how fast.

Every check raises ``InputError`` with a sentence meant for the person at the
page: the handlers put it in the ack (``{"ok": False, "error": ...}``) and the
page shows it as is. Nothing here does I/O or reads the clock (``now`` is
passed in), so the rules are tested on their own.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "IMAGE_TYPES",
    "ChatLimits",
    "InputError",
    "TokenBucket",
    "check_client_id",
    "check_image",
    "check_nickname",
    "check_room",
    "check_text",
]


class InputError(ValueError):
    """Refused input; ``str(error)`` is shown to the user.

    ``retry_after``: seconds until the same input would be accepted (a rate limit).
    """

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class ChatLimits:
    """The chat's limits, safe by default."""

    max_text: int = 2000
    """Characters in one message."""
    max_image_bytes: int = 1_000_000
    """Bytes in one image, after the page has scaled it down."""
    history_on_join: int = 100
    """Messages a page is shown when it joins a room."""
    max_rooms: int = 20
    """Rooms one page may be in at once."""
    message_burst: int = 10
    """Messages (text or images) a page may send at once before it is slowed down..."""
    message_rate: float = 1.0
    """...and how many per second it earns back."""
    join_burst: int = 20
    """Rooms a page may join at once (as many as it may be in: a page rejoins them all)..."""
    join_rate: float = 1.0
    typing_rate: float = 2.0
    """Typing notices per second; more are dropped without a word."""

    def __post_init__(self) -> None:
        for name in ("max_text", "max_image_bytes", "history_on_join", "max_rooms",
                     "message_burst", "join_burst"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int")
        for name in ("message_rate", "join_rate", "typing_rate"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")


# Lowercase letters, digits and inner dashes: readable in a URL and in a list.
_ROOM = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?")
MAX_ROOM = 32
MAX_NICK = 24
_NICK_PUNCTUATION = frozenset(" -_.'")


def check_room(value: Any) -> str:
    """A room's name, lowercased and trimmed; ``general`` and ``book-club`` are fine."""
    if not isinstance(value, str) or not value.strip():
        raise InputError("Give the room a name.")
    name = value.strip().lower()
    if len(name) > MAX_ROOM:
        raise InputError(f"Room names are at most {MAX_ROOM} characters.")
    if not _ROOM.fullmatch(name):
        raise InputError(
            "Room names use lowercase letters, digits and dashes (not at either end), "
            "like book-club."
        )
    return name


def check_nickname(value: Any) -> str:
    """A nickname: letters (any script), digits, spaces and ``-_.'``; spaces collapsed."""
    if not isinstance(value, str):
        raise InputError("Pick a nickname.")
    nick = " ".join(unicodedata.normalize("NFC", value).split())
    if not nick:
        raise InputError("Pick a nickname.")
    if len(nick) > MAX_NICK:
        raise InputError(f"Nicknames are at most {MAX_NICK} characters.")
    for char in nick:
        if not (char.isalnum() or char in _NICK_PUNCTUATION):
            raise InputError(
                f"Nicknames use letters, digits, spaces and - _ . ' (not {char!r})."
            )
    return nick


def check_text(value: Any, limits: ChatLimits) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError("Type a message first.")
    text = value.strip()
    if len(text) > limits.max_text:
        raise InputError(
            f"Messages are at most {limits.max_text:,} characters (this one has {len(text):,})."
        )
    if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in text):
        raise InputError("Messages cannot hold control characters.")
    return text


def _png(data: bytes) -> bool:
    return data.startswith(b"\x89PNG\r\n\x1a\n")


def _jpeg(data: bytes) -> bool:
    return data.startswith(b"\xff\xd8\xff")


def _gif(data: bytes) -> bool:
    return data[:6] in (b"GIF87a", b"GIF89a")


def _webp(data: bytes) -> bool:
    return data[:4] == b"RIFF" and data[8:12] == b"WEBP"


#: The image types the chat shows, each with a check of its first bytes: never SVG
#: (a script in an image) and never a type the bytes do not bear out.
IMAGE_TYPES = {"image/png": _png, "image/jpeg": _jpeg, "image/gif": _gif, "image/webp": _webp}


def _size(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB" if n >= 100_000 else f"{n / 1000:.0f} kB"


def check_image(data: Any, mime: Any, limits: ChatLimits) -> tuple[bytes, str]:
    """The image's bytes and type, when they are an image of an accepted type and size."""
    if isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    if not isinstance(data, bytes) or not data:
        raise InputError("That is not an image: send the picture's bytes.")
    if len(data) > limits.max_image_bytes:
        raise InputError(
            f"Images are at most {_size(limits.max_image_bytes)} (this one is {_size(len(data))})."
        )
    sniff = IMAGE_TYPES.get(mime) if isinstance(mime, str) else None
    if sniff is None:
        raise InputError("Send a PNG, JPEG, GIF or WebP image.")
    if not sniff(data):
        raise InputError(f"That file is not the {mime.split('/')[1].upper()} image it claims to be.")
    return data, mime


_CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")


def check_client_id(value: Any) -> str:
    """The page's id for a message, so a message sent twice (a retry) is stored once."""
    if not isinstance(value, str) or not _CLIENT_ID.fullmatch(value):
        raise InputError("This page is out of date: reload it.")
    return value


@dataclass(slots=True)
class TokenBucket:
    """``capacity`` actions at once, then ``rate`` per second."""

    capacity: float
    rate: float
    tokens: float = field(default=-1.0)
    updated: float = 0.0

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.capacity

    def take(self, now: float) -> float:
        """Spend one token: 0.0 when allowed, else the seconds until one is back."""
        if now > self.updated:
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate
