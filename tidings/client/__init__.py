"""The asyncio Socket.IO client, built on the same Sans-I/O Engine.IO and Socket.IO core.

Needs the ``client`` extra (aiohttp carries both HTTP long-polling and WebSocket).
"""

try:
    import aiohttp  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError("tidings.Client needs aiohttp: pip install 'tidings[client]'") from exc

from tidings.client.arguments import Auth, Headers
from tidings.client.client import MANAGER_EVENTS, Client, ClientState
from tidings.client.errors import (
    AckTimeoutError,
    ConnectError,
    DisconnectedError,
    OfflineBufferFullError,
)
from tidings.client.options import ClientOptions, OptionOverrides, backoff_delay
from tidings.client.sync import SyncClient

__all__ = [
    "MANAGER_EVENTS",
    "AckTimeoutError",
    "Auth",
    "Client",
    "ClientOptions",
    "ClientState",
    "ConnectError",
    "DisconnectedError",
    "Headers",
    "OfflineBufferFullError",
    "OptionOverrides",
    "SyncClient",
    "backoff_delay",
]
