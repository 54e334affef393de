"""``tidings.ASGIApp``: tidings inside any ASGI server (uvicorn, granian, Hypercorn), beside FastAPI or Starlette."""

from tidings.asgi.app import ASGIApp
from tidings.asgi.conversions import request_from_scope, route_path
from tidings.asgi.websocket_scope import ASGIWebSocket, serve_route, serve_websocket

__all__ = [
    "ASGIApp",
    "ASGIWebSocket",
    "request_from_scope",
    "route_path",
    "serve_route",
    "serve_websocket",
]
