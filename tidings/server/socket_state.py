"""``SocketState``: where a namespace socket is in its life (one enum, read by its connection)."""

from __future__ import annotations

import enum


class SocketState(enum.Enum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    REFUSED = "refused"  # never connected: refused, or gone before the connect flow ended
