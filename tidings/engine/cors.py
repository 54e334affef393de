"""The Origin rule and CORS headers, pure functions of the options and a request.

One rule for every request under the Engine.IO path, polling or WebSocket:
a request without an Origin header is allowed (not a browser, or same-origin
navigation); with one, it must be allowed by ``cors_allowed_origins``
(None: the request's own origin only).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from tidings.engine.io import HttpRequest
from tidings.engine.options import EngineOptions

__all__ = ["cors_headers", "origin_allowed", "preflight_headers", "same_origin"]

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_SECURE = {"https": "https", "wss": "https", "http": "http", "ws": "http"}


def same_origin(origin: str, request: HttpRequest) -> bool:
    """Whether ``origin`` is the request's own (scheme, host and port; ``X-Forwarded-Proto``
    counts, for a server behind a TLS proxy). Also the default rule of plain WebSocket routes."""
    host = request.headers.get("host")
    if not host:
        return False
    try:
        o = urlsplit(origin)
        h = urlsplit("//" + host)
        o_port, h_port = o.port, h.port
    except ValueError:
        return False
    if o.scheme not in _DEFAULT_PORTS or o.hostname is None or h.hostname is None:
        return False
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    schemes = {_SECURE.get(request.scheme, request.scheme)}
    if forwarded:
        schemes.add(_SECURE.get(forwarded, forwarded))
    scheme = _SECURE[o.scheme]
    if scheme not in schemes:
        return False
    default = _DEFAULT_PORTS[o.scheme]
    return o.hostname == h.hostname and (o_port or default) == (h_port or default)


def origin_allowed(options: EngineOptions, request: HttpRequest) -> bool:
    origin = request.headers.get("origin")
    if origin is None:
        return True
    allowed = options.cors_allowed_origins
    if allowed is None:
        return same_origin(origin, request)
    if isinstance(allowed, str):
        return allowed == "*" or allowed == origin
    if callable(allowed):
        try:
            return bool(allowed(origin))
        except Exception:
            return False
    return origin in allowed


def cors_headers(options: EngineOptions, request: HttpRequest) -> list[tuple[str, str]]:
    """Headers for an answer to an allowed request (none when CORS is not configured)."""
    allowed = options.cors_allowed_origins
    if allowed is None:
        return []
    origin = request.headers.get("origin")
    headers: list[tuple[str, str]] = []
    if allowed == "*":  # never with credentials: EngineOptions refuses that pair
        headers.append(("Access-Control-Allow-Origin", "*"))
    elif origin is not None:
        headers.append(("Access-Control-Allow-Origin", origin))
        headers.append(("Vary", "Origin"))
    else:
        return []
    if options.cors_credentials:
        headers.append(("Access-Control-Allow-Credentials", "true"))
    return headers


def preflight_headers(options: EngineOptions, request: HttpRequest) -> list[tuple[str, str]]:
    headers = cors_headers(options, request)
    headers.append(("Access-Control-Allow-Methods", "GET, POST, OPTIONS"))
    requested = request.headers.get("access-control-request-headers")
    headers.append(("Access-Control-Allow-Headers", requested or "Content-Type"))
    headers.append(("Access-Control-Max-Age", "600"))
    return headers
