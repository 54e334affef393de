"""``tidings.ASGIApp``: tidings inside any ASGI server (uvicorn, granian, Hypercorn), beside FastAPI or Starlette."""

from tidings.asgi.app import ASGIApp
from tidings.asgi.routes import serve_route
from tidings.asgi.scope import request_from_scope, route_path
from tidings.asgi.transport import ASGIWebSocket

__all__ = ["ASGIApp", "ASGIWebSocket", "request_from_scope", "route_path", "serve_route"]
