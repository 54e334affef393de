"""Test a ``tidings.Server`` from your own tests: clients in the same loop, no sockets.

``connect(sio)`` gives a ``TestClient`` that speaks Engine.IO and Socket.IO to the
server through the same core and I/O contract as the built-in server and the ASGI
app, with an in-memory WebSocket where the network would be::

    async with tidings.testing.connect(sio, auth={"token": "t"}) as client:
        await client.emit("chat", "hi")
        assert await client.emit_with_ack("shout", "hi") == "HI"
        assert await client.event("news") == ("hello",)

See docs/testing.md, "Testing your own app".
"""

from tidings.testing.client import TestClient, connect
from tidings.testing.inbox import Received
from tidings.testing.lifespan import running, settle

__all__ = ["Received", "TestClient", "connect", "running", "settle"]
