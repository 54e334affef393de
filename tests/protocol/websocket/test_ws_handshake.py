import base64

import pytest

from tidings.protocol.websocket import (
    HandshakeError,
    accept_key,
    accept_response,
    is_upgrade_request,
    validate_upgrade,
)

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
GOOD = {
    "host": "example.com",
    "upgrade": "websocket",
    "connection": "keep-alive, Upgrade",
    "sec-websocket-key": KEY,
    "sec-websocket-version": "13",
}


def test_rfc_example_accept_key() -> None:
    assert accept_key(KEY) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_valid_upgrade_returns_key() -> None:
    assert validate_upgrade("GET", GOOD) == KEY
    assert is_upgrade_request(GOOD)
    assert validate_upgrade("GET", {**GOOD, "upgrade": "WebSocket"}) == KEY


@pytest.mark.parametrize(
    ("method", "change", "status"),
    [
        ("POST", {}, 405),
        ("GET", {"upgrade": "h2c"}, 400),
        ("GET", {"connection": "keep-alive"}, 400),
        ("GET", {"sec-websocket-version": "8"}, 426),
        ("GET", {"sec-websocket-key": "short"}, 400),
        ("GET", {"sec-websocket-key": base64.b64encode(b"x" * 15).decode()}, 400),
        ("GET", {"sec-websocket-key": "!!!!not-base64!!!!!!!!=="}, 400),
        ("GET", {"sec-websocket-key": "ü" * 24}, 400),
    ],
)
def test_invalid_upgrades(method: str, change: dict[str, str], status: int) -> None:
    with pytest.raises(HandshakeError) as info:
        validate_upgrade(method, {**GOOD, **change})
    assert info.value.status == status


def test_missing_headers() -> None:
    for name in ("upgrade", "connection", "sec-websocket-key", "sec-websocket-version"):
        headers = {k: v for k, v in GOOD.items() if k != name}
        with pytest.raises(HandshakeError):
            validate_upgrade("GET", headers)


def test_accept_response_bytes() -> None:
    data = accept_response(KEY, [("X-Extra", "1")])
    assert data == (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nX-Extra: 1\r\n\r\n"
    )
    assert b"permessage-deflate" not in data
