"""``socket.handshake``: what the client presented when it connected, as Node shows it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from tidings.engine import HttpRequest

__all__ = ["Handshake"]


@dataclass(frozen=True, slots=True)
class Handshake:
    """What the client presented when it connected (as Node's ``socket.handshake``)."""

    headers: dict[str, str]
    query: dict[str, str]
    auth: Any
    address: str | None
    time: str
    issued: int
    url: str
    secure: bool
    xdomain: bool

    @classmethod
    def of(cls, request: HttpRequest, auth: Any, issued: float) -> Handshake:
        """Built from the request that opened the connection, on demand (sockets keep none)."""
        origin = request.headers.get("origin")
        host = request.headers.get("host")
        url = request.path + ("?" + request.query_string if request.query_string else "")
        return cls(
            headers=request.headers,
            query=request.query,
            auth=auth if auth is not None else {},
            address=request.client[0] if request.client else None,
            # As Node's Date.toString() prints it on a server in UTC.
            time=time.strftime("%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated Universal Time)",
                               time.gmtime(issued)),
            issued=int(issued * 1000),
            url=url,
            secure=request.scheme in ("https", "wss"),
            xdomain=origin is not None and host is not None and not origin.endswith("//" + host),
        )
