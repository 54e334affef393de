"""Connection state recovery on the wire: pid in CONNECT, offsets on events, replay on return."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

import tidings
from tests.server.conftest import PollingPeer
from tidings.history import LIVE, SQLiteHistory


def _join_handler(sio: tidings.Server) -> None:
    @sio.event
    def join(socket: tidings.Socket, room: str) -> None:
        socket.join(room)


async def _connect(peer: PollingPeer, auth: Any = None) -> dict[str, Any]:
    await peer.open()
    await peer.post("40" + (json.dumps(auth) if auth is not None else ""))
    reply = await peer.next()
    assert reply.startswith("40{"), reply
    return dict(json.loads(reply[2:]))


async def test_events_carry_offsets_and_a_returning_client_gets_what_it_missed() -> None:
    # A polling session the server closes waits ping_timeout (20 s by default) for its client
    # to fetch the close; this client never comes back for it, so the session ends then.
    sio = tidings.Server(connection_state_recovery=True, ping_timeout=0.2)
    _join_handler(sio)
    gone = asyncio.Event()

    @sio.event
    def disconnect(socket: tidings.Socket, reason: str) -> None:
        gone.set()

    peer = PollingPeer(sio)
    first = await _connect(peer)
    assert set(first) == {"sid", "pid"}
    await peer.post('421["join","r"]')
    assert await peer.next() == "431[]"
    await sio.to("r").emit("msg", "one")
    _, (event, text, offset) = await peer.event()
    assert (event, text) == ("msg", "one") and offset.isdigit()
    sio.engine.sockets[peer.sid].close("transport close")  # the network drops
    await gone.wait()  # and the server notices before the client is back (no loop turn else)
    await sio.to("r").emit("msg", "two")
    await sio.emit("all", "three")
    await sio.to("elsewhere").emit("msg", "not for it")

    back = PollingPeer(sio)
    second = await _connect(back, {"pid": first["pid"], "offset": offset, "token": "x"})
    assert second == first  # same sid, same pid: restored
    assert [(await back.event())[1][:2] for _ in range(2)] == [["msg", "two"], ["all", "three"]]
    (socket,) = await sio.fetch_sockets()
    assert socket.recovered and socket.auth["token"] == "x" and "r" in socket.rooms
    await sio.shutdown(timeout=0.1)


async def test_an_unknown_pid_starts_a_fresh_session() -> None:
    sio = tidings.Server(connection_state_recovery=True)
    peer = PollingPeer(sio)
    reply = await _connect(peer, {"pid": "nope", "offset": "3"})
    assert reply["pid"] != "nope"
    (socket,) = await sio.fetch_sockets()
    assert not socket.recovered
    await sio.shutdown(timeout=0.1)


async def test_recovery_after_the_process_dies(tmp_path: Path) -> None:
    """The first server is abandoned without a shutdown, as a SIGKILL would leave it."""
    db = tmp_path / "history.sqlite3"
    first_server = tidings.Server(history=SQLiteHistory(db), connection_state_recovery=True)
    _join_handler(first_server)
    peer = PollingPeer(first_server)
    first = await _connect(peer)
    await peer.post('421["join","r"]')
    assert await peer.next() == "431[]"
    for text in ("a", "b", "c"):
        await first_server.to("r").emit("msg", text)
    _, (_, text, offset) = await peer.event()
    assert text == "a"
    journal = first_server.journal
    assert journal is not None
    await journal.store.close()  # the process is gone; nothing else of it runs

    second_server = tidings.Server(history=SQLiteHistory(db), connection_state_recovery=True)
    await second_server.startup()
    back = PollingPeer(second_server)
    assert await _connect(back, {"pid": first["pid"], "offset": offset}) == first
    assert [(await back.event())[1][:2] for _ in range(2)] == [["msg", "b"], ["msg", "c"]]
    await second_server.to("r").emit("msg", "d")  # the room membership came back too
    assert (await back.event())[1][:2] == ["msg", "d"]
    await second_server.shutdown(timeout=0.1)


async def test_history_for_late_joiners(tmp_path: Path) -> None:
    sio = tidings.Server(history=SQLiteHistory(tmp_path / "h.sqlite3"))
    for i in range(5):
        await sio.to("lobby").emit("msg", {"n": i}, b"\x00" if i == 4 else None)
    await sio.emit("not-logged", 1)  # no room, no recovery: nothing to keep
    items = await sio.of("/").history.last(2, room="lobby")
    assert [(i.event, i.args) for i in items] == [("msg", [{"n": 3}, None]), ("msg", [{"n": 4}, b"\x00"])]
    assert [i.args[0]["n"] for i in await sio.of("/").history.since(items[0].offset)] == [4]
    await sio.shutdown(timeout=0.1)


async def test_sessions_are_stored_live_under_the_node_id(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        tidings.Server(node_id="has.a.dot")
    store = SQLiteHistory(tmp_path / "history.sqlite3")
    sio = tidings.Server(history=store, connection_state_recovery=True)
    assert sio.node_id == "tidings"
    sio.node_id = "w1"  # as a supervisor names the worker of an imported app
    peer = PollingPeer(sio)
    first = await _connect(peer)
    with pytest.raises(RuntimeError):
        sio.node_id = "w2"
    record = await store.take_session(first["pid"], max_age=60.0, now=time.time())
    assert record is not None and record.node == "w1" and record.disconnected_at == LIVE
    await sio.shutdown(timeout=0.1)
