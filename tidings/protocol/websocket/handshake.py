"""The server side of the RFC 6455 opening handshake, Sans-I/O.

Headers come as the I/O layer has them (``HttpRequest.headers``: names
lower-cased, repeated headers joined with ", "), so the check is one pure
function the built-in server and tests share.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Mapping

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SUPPORTED_VERSION = "13"


class HandshakeError(Exception):
    """A request that is not a valid WebSocket upgrade; ``status`` is the HTTP answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _tokens(value: str) -> set[str]:
    return {token.strip().lower() for token in value.split(",")}


def is_upgrade_request(headers: Mapping[str, str]) -> bool:
    """Whether the client asks for a WebSocket at all (it may still ask badly)."""
    value = headers.get("upgrade")
    return value is not None and "websocket" in _tokens(value)


def validate_upgrade(method: str, headers: Mapping[str, str]) -> str:
    """Check an upgrade request; return its ``Sec-WebSocket-Key`` or raise ``HandshakeError``."""
    if method != "GET":
        raise HandshakeError("WebSocket upgrade must use GET", 405)
    if "websocket" not in _tokens(headers.get("upgrade", "")):
        raise HandshakeError("missing 'Upgrade: websocket'")
    if "upgrade" not in _tokens(headers.get("connection", "")):
        raise HandshakeError("missing 'Connection: upgrade'")
    if headers.get("sec-websocket-version", "").strip() != SUPPORTED_VERSION:
        # RFC 6455 4.4: answer 426 with the versions we speak.
        raise HandshakeError("unsupported Sec-WebSocket-Version", 426)
    key = headers.get("sec-websocket-key", "").strip()
    try:
        raw = base64.b64decode(key.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raw = b""
    if len(raw) != 16:
        raise HandshakeError("invalid Sec-WebSocket-Key")
    return key


def accept_key(key: str) -> str:
    """``Sec-WebSocket-Accept`` for a client's ``Sec-WebSocket-Key``."""
    digest = hashlib.sha1((key + GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def accept_response(key: str, extra_headers: Iterable[tuple[str, str]] = ()) -> bytes:
    """The whole ``101 Switching Protocols`` response, ready to write."""
    lines = [
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Accept: {accept_key(key)}",
    ]
    lines.extend(f"{name}: {value}" for name, value in extra_headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
