"""The request that opened a session, kept small for the session's whole life.

An idle connection holds its opening request only for ``socket.handshake``,
read rarely if ever, so the headers are packed into one string and the query
is parsed again from the query string when asked for: a few hundred bytes
per connection less than the parsed dicts. Strings most connections share
(the method, the engine path, the last query string seen) are shared.
"""

from __future__ import annotations

from tidings.engine.io import HttpRequest, parse_query

__all__ = ["KeptRequest"]

_METHODS = {m: m for m in ("GET", "POST", "OPTIONS")}


class KeptRequest:
    """What is kept of an ``HttpRequest`` once its session is open; ``request()`` rebuilds it."""

    __slots__ = ("client", "headers", "method", "path", "query", "query_string", "scheme")

    def __init__(self, request: HttpRequest, path: str, last_query_string: str) -> None:
        self.method = _METHODS.get(request.method, request.method)
        self.path = path if request.path == path else request.path
        qs = request.query_string
        self.query_string = last_query_string if qs == last_query_string else qs
        self.client = request.client
        self.scheme = request.scheme
        # The query dict is kept only when the query string does not give it back.
        query = request.query
        self.query: dict[str, str] | None = (
            None if query == parse_query(qs) else dict(query)
        )
        self.headers: str | dict[str, str] = _pack(request.headers)

    def request(self) -> HttpRequest:
        """The opening request as the I/O layer gave it (the body excepted), rebuilt."""
        qs = self.query_string
        query = self.query
        headers = self.headers
        return HttpRequest(
            method=self.method,
            path=self.path,
            query_string=qs,
            query=dict(query) if query is not None else parse_query(qs),
            headers=dict(headers) if isinstance(headers, dict) else _unpack(headers),
            client=self.client,
            scheme=self.scheme,
        )


def _pack(headers: dict[str, str]) -> str | dict[str, str]:
    """"name:value" lines; a header that cannot be told apart that way keeps the dict."""
    lines = []
    for name, value in headers.items():
        if ":" in name or "\n" in name or "\n" in value:
            return dict(headers)
        lines.append(f"{name}:{value}")
    return "\n".join(lines)


def _unpack(packed: str) -> dict[str, str]:
    headers: dict[str, str] = {}
    if packed:
        for line in packed.split("\n"):
            name, _, value = line.partition(":")
            headers[name] = value
    return headers
