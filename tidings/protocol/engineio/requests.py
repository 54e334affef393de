"""Which Engine.IO HTTP requests to refuse, and with what, as pure functions.

The codes and messages are the ones Node's engine.io answers with, so clients
(and people reading a network panel) see the same errors from either server.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import orjson

__all__ = [
    "FORBIDDEN",
    "PAYLOAD_TOO_LARGE",
    "SERVER_FULL",
    "ErrorCode",
    "RequestError",
    "check_request",
]

PROTOCOL_VERSION = "4"


class ErrorCode(enum.IntEnum):
    UNKNOWN_TRANSPORT = 0
    UNKNOWN_SID = 1
    BAD_HANDSHAKE_METHOD = 2
    BAD_REQUEST = 3
    FORBIDDEN = 4
    UNSUPPORTED_PROTOCOL_VERSION = 5


_MESSAGES = {
    ErrorCode.UNKNOWN_TRANSPORT: "Transport unknown",
    ErrorCode.UNKNOWN_SID: "Session ID unknown",
    ErrorCode.BAD_HANDSHAKE_METHOD: "Bad handshake method",
    ErrorCode.BAD_REQUEST: "Bad request",
    ErrorCode.FORBIDDEN: "Forbidden",
    ErrorCode.UNSUPPORTED_PROTOCOL_VERSION: "Unsupported protocol version",
}


@dataclass(frozen=True, slots=True)
class RequestError:
    """An HTTP refusal: ``status`` with the JSON body ``{"code", "message"}``."""

    status: int
    code: ErrorCode
    message: str

    @classmethod
    def of(cls, code: ErrorCode, status: int = 400, message: str | None = None) -> RequestError:
        return cls(status, code, _MESSAGES[code] if message is None else message)

    @property
    def body(self) -> bytes:
        return orjson.dumps({"code": int(self.code), "message": self.message})


PAYLOAD_TOO_LARGE = RequestError(413, ErrorCode.BAD_REQUEST, "Payload too large")
SERVER_FULL = RequestError(503, ErrorCode.BAD_REQUEST, "Server unavailable")
FORBIDDEN = RequestError.of(ErrorCode.FORBIDDEN, 403)


def check_request(
    method: str,
    query: Mapping[str, str],
    *,
    websocket: bool,
    transports: Collection[str],
    session_transport: str | None,
) -> RequestError | None:
    """The refusal for a request to the Engine.IO path, or None to serve it.

    ``websocket`` is whether the request asks for a WebSocket upgrade;
    ``session_transport`` is the current transport of the session named by the
    ``sid`` parameter, or None when there is no such session.
    """
    transport = query.get("transport")
    if transport is None or transport not in transports:
        return RequestError.of(ErrorCode.UNKNOWN_TRANSPORT)
    if query.get("EIO") != PROTOCOL_VERSION:
        return RequestError.of(ErrorCode.UNSUPPORTED_PROTOCOL_VERSION)
    if websocket != (transport == "websocket"):
        # An upgrade request for polling, or a plain request claiming websocket.
        return RequestError.of(ErrorCode.BAD_REQUEST)
    sid = query.get("sid")
    if sid is not None:
        if session_transport is None:
            return RequestError.of(ErrorCode.UNKNOWN_SID)
        if not websocket and session_transport != transport:
            return RequestError.of(ErrorCode.BAD_REQUEST)  # polling after an upgrade
        if not websocket and method not in ("GET", "POST"):
            return RequestError.of(ErrorCode.BAD_REQUEST)
        return None
    if method != "GET":
        return RequestError.of(ErrorCode.BAD_HANDSHAKE_METHOD)
    return None
