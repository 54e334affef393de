"""The 200 answers of long-polling requests: compressed as the client accepts, then shown to
the ``headers`` listeners (and, on the handshake, given its cookie and ``initial_headers``)."""

from __future__ import annotations

from tidings.engine.compression import HttpCompression, compressed
from tidings.engine.hooks import Cookie, EngineEvents
from tidings.engine.io import HttpRequest, HttpResponse
from tidings.engine.options import EngineOptions

__all__ = ["TEXT", "poll_response", "post_response"]

TEXT = ("Content-Type", "text/plain; charset=UTF-8")
NO_STORE = ("Cache-Control", "no-store")


def poll_response(
    options: EngineOptions,
    events: EngineEvents,
    request: HttpRequest,
    text: str,
    cors: list[tuple[str, str]],
    sid: str | None = None,
    *,
    compressible: bool = True,
) -> HttpResponse:
    """A GET's 200 with ``text`` (``sid``: the new session's, on a handshake); not
    compressed when every packet in it was sent with ``compress(False)``, as in Node."""
    body = text.encode("utf-8")
    headers = [TEXT, NO_STORE, *cors]
    compression = options.http_compression
    if (
        compressible
        and isinstance(compression, HttpCompression)
        and len(body) >= compression.threshold
    ):
        body = compressed(body, request, compression, headers)
    if sid is not None:
        cookie = options.cookie
        value = cookie.header(sid) if isinstance(cookie, Cookie) else None
        if value is not None or events.initial_headers or events.headers:
            headers = events.response_headers(headers, request, True, value)
    elif events.headers:
        headers = events.response_headers(headers, request, False, None)
    return HttpResponse(200, headers, body)


def post_response(events: EngineEvents, request: HttpRequest, cors: list[tuple[str, str]]) -> HttpResponse:
    """A POST's 200 ``ok``."""
    headers = [TEXT, *cors]
    if events.headers:
        headers = events.response_headers(headers, request, False, None)
    return HttpResponse(200, headers, b"ok")
