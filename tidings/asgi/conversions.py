"""ASGI scopes and messages to and from the engine's ``HttpRequest`` and ``HttpResponse``."""

from __future__ import annotations

from tidings.asgi.types import Scope, Send
from tidings.engine.io import HttpRequest, HttpResponse, join_headers, parse_query


def route_path(scope: Scope) -> str:
    """The path below this app's mount point (``path`` minus ``root_path``), as Starlette routes."""
    path: str = scope.get("path") or "/"
    root: str = scope.get("root_path") or ""
    if root and path.startswith(root) and (len(path) == len(root) or path[len(root)] == "/"):
        return path[len(root):] or "/"
    return path


def headers_of(scope: Scope) -> dict[str, str]:
    """The scope's headers as ``HttpRequest.headers`` has them."""
    return join_headers(scope.get("headers", ()))


def request_from_scope(scope: Scope, path: str, body: bytes = b"") -> HttpRequest:
    """The engine's view of an http or websocket scope (headers joined as the contract says)."""
    query_string = scope.get("query_string", b"").decode("latin-1")
    client = scope.get("client")
    return HttpRequest(
        method=scope.get("method", "GET"),
        path=path,
        query_string=query_string,
        query=parse_query(query_string),
        headers=headers_of(scope),
        body=body,
        client=(str(client[0]), int(client[1])) if client else None,
        scheme=scope.get("scheme", "http"),
    )


def raw_headers(response: HttpResponse) -> list[tuple[bytes, bytes]]:
    """ASGI's header pairs, with a ``content-length`` if the response has none."""
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
    if not any(k == b"content-length" for k, _ in headers):
        headers.append((b"content-length", str(len(response.body)).encode()))
    return headers


async def send_response(send: Send, response: HttpResponse) -> None:
    await send({
        "type": "http.response.start",
        "status": response.status,
        "headers": raw_headers(response),
    })
    await send({"type": "http.response.body", "body": response.body})
