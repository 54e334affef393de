"""Where the server is and how to reach it: the URL split into Engine.IO's endpoint,
and aiohttp's per-request TLS and proxy arguments."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from ssl import SSLContext
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from yarl import URL

__all__ = ["EngineTarget", "engine_target", "request_options"]


@dataclass(frozen=True, slots=True)
class EngineTarget:
    """Where the Engine.IO endpoint is. ``namespace`` is the URL's path, if any."""

    http_url: str
    ws_url: str
    query: tuple[tuple[str, str], ...]
    namespace: str | None


def engine_target(url: str, path: str = "socket.io") -> EngineTarget:
    """Split a user's URL into the endpoint's parts; called by ``Client.connect``.

    The scheme is ``http``, ``https``, ``ws`` or ``wss``. As with the JavaScript
    client, the URL's path names a namespace and its query string travels with
    every request.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https", "ws", "wss"):
        raise ValueError(f"URL scheme must be http, https, ws or wss: {url!r}")
    if not parts.hostname:
        raise ValueError(f"URL has no host: {url!r}")
    secure = scheme in ("https", "wss")
    endpoint = "/" + path.strip("/") + "/"
    http_url = urlunsplit(("https" if secure else "http", parts.netloc, endpoint, "", ""))
    ws_url = urlunsplit(("wss" if secure else "ws", parts.netloc, endpoint, "", ""))
    query = tuple(
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k not in ("EIO", "transport", "sid", "t")
    )
    nsp = parts.path.rstrip("/")
    return EngineTarget(http_url, ws_url, query, nsp or None)


def request_options(
    ssl: SSLContext | bool, proxy: str | None, target: EngineTarget
) -> tuple[dict[str, Any], dict[str, str]]:
    """aiohttp's per-request TLS and proxy arguments, and headers for every request.

    Per request, so that a session the application lends keeps its own defaults
    for everything else. Credentials in the proxy URL become its
    ``Proxy-Authorization``: on the CONNECT of a tunnel (``https``, ``wss``), or
    on each request the proxy forwards (``http``, ``ws``), which is where aiohttp
    puts them itself from its deprecated ``proxy_auth``.
    """
    options: dict[str, Any] = {"ssl": ssl}
    headers: dict[str, str] = {}
    if proxy is not None:
        url = URL(proxy)
        if url.user is not None:
            token = base64.b64encode(f"{url.user}:{url.password or ''}".encode()).decode()
            credentials = {"Proxy-Authorization": f"Basic {token}"}
            if target.http_url.startswith("https:"):
                options["proxy_headers"] = credentials
            else:
                headers = credentials
            url = url.with_user(None)
        options["proxy"] = url
    return options, headers
