"""How a socket's packets leave: written now, or held while the socket connects."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tidings.protocol.socketio import Packet, encode

if TYPE_CHECKING:
    from tidings.adapters.base import LocalConnection
    from tidings.protocol.prepared import PreparedMessage
    from tidings.serializers import Serializer

__all__ = ["HeldConnection", "write_packet"]


def write_packet(writer: LocalConnection, packet: Packet, serializer: Serializer) -> None:
    """Encode ``packet`` and send its text, then each binary attachment, in order."""
    encoded = encode(packet, serializer)
    writer.send(encoded.text)
    for attachment in encoded.attachments:
        writer.send(attachment)


class HeldConnection:
    """Stands in for the engine connection while a socket is connecting."""

    __slots__ = ("_items",)

    writable = True

    def __init__(self) -> None:
        self._items: list[str | bytes | PreparedMessage] = []

    def send(self, data: str | bytes) -> None:
        self._items.append(data)

    def send_prepared(self, prepared: PreparedMessage) -> None:
        self._items.append(prepared)

    def release_to(self, conn: LocalConnection) -> None:
        """Send what was held to ``conn``, in order (called by the socket once it is live)."""
        items, self._items = self._items, []
        for item in items:
            if isinstance(item, (str, bytes)):
                conn.send(item)
            else:
                conn.send_prepared(item)
