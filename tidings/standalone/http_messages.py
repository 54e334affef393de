"""HTTP/1.1 messages of the built-in server, apart from the connection that moves them.

A request is built from what the parser collected (``build_request``), a
limit it passes is answered by raising ``RequestRejected`` from a parser
callback, and a response is serialized in one buffer (``encode_response``):
one write per response.
"""

from __future__ import annotations

from urllib.parse import unquote

import httptools

from tidings.engine.io import HttpRequest, HttpResponse, join_headers, parse_query, status_phrase

_NO_BODY_STATUS = frozenset((204, 304))

#: The interim answer to ``Expect: 100-continue``.
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class RequestRejected(Exception):
    """Raised from a parser callback to refuse the request with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def encode_response(response: HttpResponse, *, keep_alive: bool, head: bool = False) -> bytes:
    """Status line, headers and body in one buffer: one write per response."""
    status = response.status
    lines = [f"HTTP/1.1 {status} {status_phrase(status)}"]
    has_length = False
    for name, value in response.headers:
        lname = name.lower()
        if lname == "content-length":
            has_length = True
        elif lname == "connection":
            continue  # ours to decide
        lines.append(f"{name}: {value}")
    body = response.body
    no_body = status < 200 or status in _NO_BODY_STATUS
    if not has_length and not no_body:
        lines.append(f"Content-Length: {len(body)}")
    if not keep_alive:
        lines.append("Connection: close")
    head_bytes = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    if head or no_body or not body:
        return head_bytes
    return head_bytes + body


def body_expected(headers: list[tuple[bytes, bytes]]) -> tuple[int, bool, bool]:
    """(Content-Length, whether a body follows, whether the client waits for 100 Continue)."""
    length = 0
    chunked = expect = False
    for name, value in headers:
        lname = name.lower()
        if lname == b"content-length":
            length = int(value)  # llhttp has checked the syntax
        elif lname == b"transfer-encoding":
            chunked = chunked or b"chunked" in value.lower()
        elif lname == b"expect":
            expect = expect or value.lower() == b"100-continue"
    has_body = bool(length) or chunked
    return length, has_body, expect and has_body


def forwarded(
    headers: dict[str, str], client: tuple[str, int], scheme: str, trusted: frozenset[str]
) -> tuple[tuple[str, int], str]:
    """The client and scheme a trusted proxy reports (``X-Forwarded-For``, ``-Proto``)."""
    if not ("*" in trusted or client[0] in trusted):
        return client, scheme
    hops = [hop.strip() for hop in headers.get("x-forwarded-for", "").split(",") if hop.strip()]
    if hops:
        untrusted = [hop for hop in hops if not ("*" in trusted or hop in trusted)]
        client = (untrusted[-1] if untrusted else hops[0], 0)
    proto = headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    if proto in ("http", "https", "ws", "wss"):
        scheme = "https" if proto in ("https", "wss") else "http"
    return client, scheme


def build_request(
    method: bytes,
    url: bytes,
    headers: list[tuple[bytes, bytes]],
    body: list[bytes],
    client: tuple[str, int] | None,
    scheme: str = "http",
    trusted: frozenset[str] | None = None,
) -> HttpRequest:
    """The request the engine sees, from what the parser collected; ``trusted`` peers'
    proxy headers say who the client is."""
    try:
        parsed = httptools.parse_url(url)
    except httptools.HttpParserInvalidURLError:
        raise RequestRejected(400, "invalid request target") from None
    query_string = parsed.query.decode("latin-1") if parsed.query else ""
    joined = join_headers(headers)
    if trusted is not None and client is not None:
        client, scheme = forwarded(joined, client, scheme, trusted)
    return HttpRequest(
        method=method.decode("ascii"),
        path=unquote((parsed.path or b"/").decode("latin-1"), errors="replace"),
        query_string=query_string,
        query=parse_query(query_string),
        headers=joined,
        body=b"".join(body),
        client=client,
        scheme=scheme,
    )
