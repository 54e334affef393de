"""FastAPI and tidings in one ASGI app: ``uvicorn examples.fastapi_app:app``.

Socket.IO clients connect at /socket.io/ (polling or WebSocket), everything else
is FastAPI's; an HTTP route can emit to the connected clients.
"""

from typing import Any

from fastapi import FastAPI

import tidings

sio = tidings.Server()
api = FastAPI()


@sio.event
async def chat(socket: tidings.Socket, text: Any) -> None:
    await sio.emit("chat", {"from": socket.id, "text": text})


@api.post("/announce")
async def announce(text: str) -> dict[str, str]:
    await sio.emit("chat", {"from": "server", "text": text})
    return {"sent": text}


app = tidings.ASGIApp(sio, api)
