"""The contract between the Engine.IO server and the I/O layers that carry it.

The built-in server (``tidings.standalone``) and the ASGI app both speak to
``EngineServer`` through these types only, so the protocol logic exists once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Protocol, TypeVar
from urllib.parse import parse_qsl

from tidings.protocol.websocket.deflate import PerMessageDeflate


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

    @property
    def compress(self) -> bool:
        """False: sent uncompressed even on a connection with permessage-deflate."""
        ...

    @property
    def ws_payloads(self) -> list[tuple[int, bytes]]:
        """Every part as (opcode, payload), for a connection that compresses per message."""
        ...

    def deflated_frames(self, codec: PerMessageDeflate) -> bytes:
        """Compressed frames for peers without context takeover: computed once, shared."""
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

    def flush(self) -> None:
        """Hand what is queued to the kernel now, in a write of its own, rather than at the
        end of the turn with whatever else this turn queues (a namespace's CONNECT reply)."""
        ...

    def close(self, code: int = 1000, reason: str = "") -> None: ...

    @property
    def buffered_amount(self) -> int:
        """Bytes accepted but not yet handed to the kernel (for volatile and back-pressure)."""
        ...

    def watch_drain(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once, when what is queued now has mostly gone to the kernel
        (soon, if it has): the engine then hands over what it held back from a slow client."""
        ...

    def pause_reading(self) -> None:
        """Read nothing more from the peer until ``resume_reading`` (the engine's input is full);
        what was read already may still arrive."""
        ...

    def resume_reading(self) -> None: ...


class WebSocketListener(Protocol):
    """What the I/O layer calls on the engine for each event of an accepted WebSocket."""

    def on_message(self, data: str | bytes) -> None: ...

    def on_close(self, code: int, reason: str) -> None: ...


TransportT_contra = TypeVar("TransportT_contra", contravariant=True)
ListenerT_co = TypeVar("ListenerT_co", bound=WebSocketListener, covariant=True)


class WebSocketTarget(Protocol[TransportT_contra, ListenerT_co]):
    """What answers a WebSocket upgrade: the engine, or a raw route of the application.

    Both I/O layers upgrade through this one shape: ``check_websocket`` before
    the 101 (a response refuses), ``open_websocket`` after it, with the
    transport the target needs (the engine's ``WebSocketTransport``, a route's
    ``RouteTransport``); the listener it returns is told what arrives.
    """

    def check_websocket(self, request: HttpRequest) -> HttpResponse | None: ...

    def open_websocket(self, request: HttpRequest, transport: TransportT_contra) -> ListenerT_co: ...


def join_headers(pairs: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """Raw header pairs as ``HttpRequest.headers``: names lower-cased, repeats joined with ", "."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in pairs:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        headers[name] = headers[name] + ", " + value if name in headers else value
    return headers


def parse_query(query_string: str) -> dict[str, str]:
    """A query string as ``HttpRequest.query``: blank values kept, the last repeat wins.

    What ``parse_qsl`` gives, a quarter of its cost on a query with nothing to unquote
    (an Engine.IO poll's: ``EIO=4&transport=polling&t=...&sid=...``), which every poll pays.
    """
    if "%" in query_string or "+" in query_string:
        return dict(parse_qsl(query_string, keep_blank_values=True))
    query: dict[str, str] = {}
    for pair in query_string.split("&"):
        if pair:
            name, _, value = pair.partition("=")
            query[name] = value
    return query


_PHRASES = {s.value: s.phrase for s in HTTPStatus}


def status_phrase(status: int) -> str:
    """The reason phrase of ``status`` ("" for a code HTTP does not name)."""
    return _PHRASES.get(status, "")


def text_response(status: int, message: str = "") -> HttpResponse:
    """The I/O layers' own short plain-text answers (404, 413, 503...): the status
    phrase unless ``message`` says more, so both layers refuse alike."""
    body = (message or status_phrase(status)).encode("utf-8", "replace") + b"\n"
    return HttpResponse(status, [("Content-Type", "text/plain; charset=utf-8")], body)
