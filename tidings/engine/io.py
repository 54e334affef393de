"""The contract between the Engine.IO server and the I/O layers that carry it.

The built-in server (``tidings.standalone``) and the ASGI app both speak to
``EngineServer`` through these types only, so the protocol logic exists once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(slots=True)
class HttpRequest:
    """One parsed HTTP request, body read in full (the I/O layer enforces ``max_body``)."""

    method: str
    path: str
    query_string: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased; repeated headers joined with ", "
    body: bytes = b""
    client: tuple[str, int] | None = None
    scheme: str = "http"


@dataclass(slots=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


class PreparedFrames(Protocol):
    """A message encoded once for many recipients (see ``tidings.protocol.prepared``)."""

    @property
    def ws_frames(self) -> bytes:
        """Every part as RFC 6455 server frames, concatenated: written as-is to each socket."""
        ...

    @property
    def ws_messages(self) -> tuple[str | bytes, ...]:
        """Every part as one WebSocket message each, for I/O layers that frame for us."""
        ...


class WebSocketTransport(Protocol):
    """What the engine needs of an accepted WebSocket, whatever server carries it.

    Every method is synchronous and never blocks: writes are queued by the
    I/O layer and leave in as few writes as it can manage.
    """

    def send_text(self, data: str) -> None: ...

    def send_bytes(self, data: bytes) -> None: ...

    def send_prepared(self, prepared: PreparedFrames) -> None:
        """Hot path of a broadcast: the same bytes for every recipient."""
        ...

    def close(self, code: int = 1000, reason: str = "") -> None: ...

    @property
    def buffered_amount(self) -> int:
        """Bytes accepted but not yet handed to the kernel (for volatile and back-pressure)."""
        ...


class WebSocketListener(Protocol):
    """What the I/O layer calls on the engine for each event of an accepted WebSocket."""

    def on_message(self, data: str | bytes) -> None: ...

    def on_close(self, code: int, reason: str) -> None: ...


def join_headers(pairs: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """Raw header pairs as ``HttpRequest.headers``: names lower-cased, repeats joined with ", "."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in pairs:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        headers[name] = headers[name] + ", " + value if name in headers else value
    return headers
