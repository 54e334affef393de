"""What ``connection_error`` listeners are told of a refused request, in Node's terms.

Node's engine.io gives each refusal a ``context`` saying more than its code
(``{"sid": ...}`` for an unknown session, ``{"name": "TRANSPORT_MISMATCH", ...}``...);
these are the same, worked out from the request and the refusal. Refusals Node has
no name for (tidings' own limits) are named after what refused them.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any

from tidings.engine.hooks import AllowRequest, RefusedRequest
from tidings.engine.io import HttpRequest
from tidings.protocol.engineio.requests import ErrorCode, RequestError

__all__ = ["allowed", "allowed_now", "forbidden", "origin_context", "refusal"]

logger = logging.getLogger("tidings.engineio")

_FORBIDDEN = RequestError.of(ErrorCode.FORBIDDEN).message

#: tidings' own refusals (bad request, code 3) by their message.
_NAMES = {
    "Server unavailable": "SERVER_UNAVAILABLE",
    "Too many sessions": "TOO_MANY_SESSIONS",
    "Too many handshakes": "TOO_MANY_HANDSHAKES",
    "Payload too large": "PAYLOAD_TOO_LARGE",
}


def forbidden(message: str | None) -> RequestError:
    """An ``allow_request`` refusal: 403, code 4, the message given or ``Forbidden``."""
    base = RequestError.of(ErrorCode.FORBIDDEN, 403)
    return RequestError(403, ErrorCode.FORBIDDEN, message) if message else base


def refusal(
    error: RequestError,
    request: HttpRequest,
    context: dict[str, Any] | None,
    session_transport: str | None,
) -> RefusedRequest:
    """The ``connection_error`` of ``error`` (``context``: one the caller knows better)."""
    code = error.code
    if context is None:
        query = request.query
        if code is ErrorCode.UNKNOWN_TRANSPORT:
            context = {"transport": query.get("transport")}
        elif code is ErrorCode.UNKNOWN_SID:
            context = {"sid": query.get("sid")}
        elif code is ErrorCode.BAD_HANDSHAKE_METHOD:
            context = {"method": request.method}
        elif code is ErrorCode.UNSUPPORTED_PROTOCOL_VERSION:
            # Node's protocol revision: 4 for EIO=4, and 3 for anything else.
            context = {"protocol": 4 if query.get("EIO") == "4" else 3}
        elif code is ErrorCode.FORBIDDEN:
            # allow_request's message: None when it gave none (Node: callback(null, false)).
            context = {"message": None if error.message == _FORBIDDEN else error.message}
        elif session_transport is not None and session_transport != query.get("transport"):
            context = {
                "name": "TRANSPORT_MISMATCH",
                "transport": query.get("transport"),
                "previousTransport": session_transport,
            }
        elif "sid" not in query and query.get("transport") == "websocket":
            context = {"name": "TRANSPORT_HANDSHAKE_ERROR"}
        else:
            context = {"name": _NAMES.get(error.message, "BAD_REQUEST")}
    return RefusedRequest(request, int(code), RequestError.of(code).message, context)


def origin_context(request: HttpRequest) -> dict[str, Any]:
    """The context of a request refused for its ``Origin`` (a refusal Node leaves to CORS)."""
    return {"name": "ORIGIN_NOT_ALLOWED", "origin": request.headers.get("origin")}


def _verdict(answer: object) -> RequestError | None:
    return None if answer is True else forbidden(answer if isinstance(answer, str) else None)


async def allowed(allow: AllowRequest, request: HttpRequest) -> RequestError | None:
    """None if ``allow_request`` lets ``request`` in, else its refusal (one that raised: 403)."""
    try:
        answer = allow(request)
        if inspect.isawaitable(answer):
            answer = await answer
    except Exception:
        logger.exception("allow_request failed: the request is refused")
        return forbidden(None)
    return _verdict(answer)


def allowed_now(
    allow: AllowRequest, request: HttpRequest
) -> RequestError | None | asyncio.Future[RequestError | None]:
    """``allowed`` for a WebSocket handshake, which the I/O layers decide before the 101
    without waiting: an ``async`` answer comes as a future (``PendingWebSocket``)."""
    try:
        answer = allow(request)
    except Exception:
        logger.exception("allow_request failed: the request is refused")
        return forbidden(None)
    if inspect.isawaitable(answer):
        return asyncio.ensure_future(allowed(lambda _: answer, request))
    return _verdict(answer)
