"""The chat server: rooms with durable history, presence, typing, text and images.

Everything a page asks for is an event with an ack, and the ack carries the
answer or ``{"ok": False, "error": "<a sentence for the person>"}``. Only chat
messages go to the history (so a page that was away, or a server that was
killed, loses none of them); presence and typing are volatile: they are about
now, and a page asks for the current state again when it (re)joins.

Rooms are ``room:<name>`` in the namespace, so a chat room never collides with
a socket's own room (its id).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import tidings
from tidings.adapters.base import Adapter, LocalNamespace
from tidings.adapters.memory import InMemoryAdapter
from tidings.demo.rules import (
    ChatLimits,
    InputError,
    TokenBucket,
    check_client_id,
    check_image,
    check_nickname,
    check_room,
    check_text,
)
from tidings.errors import ClusterError
from tidings.history import DEFAULT_NODE, HistoryStore, MemoryHistory, RetentionPolicy

logger = logging.getLogger("tidings.demo")

ROOM_PREFIX = "room:"
DEFAULT_ROOM = "general"
#: Enough for an image at the limit sent over long-polling (base64) with room to spare;
#: the chat's own limit (``ChatLimits.max_image_bytes``) answers with a clear error first.
MAX_HTTP_BUFFER = 2_000_000
#: A week of chat, at most 20,000 messages; recovery sessions kept for an hour.
RETENTION = RetentionPolicy(
    max_entries_per_namespace=20_000, max_age_seconds=7 * 24 * 3600.0, session_max_age_seconds=3600.0
)
#: Client ids remembered per room, so a message re-sent after a lost ack is stored once.
RECENT_IDS = 1000


def room_key(name: str) -> str:
    return ROOM_PREFIX + name


def chat_rooms(socket: tidings.SocketHandle) -> list[str]:
    """The chat rooms a socket is in, by name, sorted."""
    return sorted(r[len(ROOM_PREFIX):] for r in socket.rooms if r.startswith(ROOM_PREFIX))


def reply_error(exc: InputError) -> dict[str, Any]:
    reply: dict[str, Any] = {"ok": False, "error": str(exc)}
    if exc.retry_after is not None:
        reply["retryAfter"] = round(exc.retry_after, 3)
    return reply


@dataclass(slots=True)
class _Limiter:
    """A page's allowances; held in memory (a restart forgives everyone)."""

    messages: TokenBucket
    joins: TokenBucket
    typing: TokenBucket


@dataclass(slots=True)
class _RecentIds:
    """Client ids of a room's latest messages, read from the history.

    Loaded on first use, then brought up to date from ``offset`` before each
    message: in a cluster, a page whose node died re-sends its message to
    another node, which must know what the first one stored.
    """

    order: list[str] = field(default_factory=list)
    known: set[str] = field(default_factory=set)
    offset: int = 0
    """The newest offset read from the history."""

    def learn(self, items: list[tidings.HistoryItem]) -> None:
        for item in items:
            self.offset = max(self.offset, int(item.offset))
            if item.event == "message" and item.args and isinstance(item.args[0], dict):
                cid = item.args[0].get("cid")
                if isinstance(cid, str):
                    self.add(cid)

    def discard(self, cid: str) -> None:
        if cid in self.known:
            self.known.discard(cid)
            self.order.remove(cid)

    def add(self, cid: str) -> None:
        if cid in self.known:
            return
        self.order.append(cid)
        self.known.add(cid)
        if len(self.order) > 2 * RECENT_IDS:
            dropped, self.order = self.order[:-RECENT_IDS], self.order[-RECENT_IDS:]
            self.known.difference_update(dropped)


class Chat:
    """The handlers, and what they share: limits, allowances, recent message ids."""

    def __init__(self, sio: tidings.Server, limits: ChatLimits) -> None:
        self.sio = sio
        self.limits = limits
        self._limiters: dict[str, _Limiter] = {}
        self._recent: dict[str, _RecentIds] = {}
        for name in ("connect", "disconnect", "join", "leave", "message", "image", "typing", "rooms"):
            sio.on(name, getattr(self, "on_" + name))

    # -- helpers ----------------------------------------------------------------------

    def _limiter(self, socket: tidings.Socket) -> _Limiter:
        limiter = self._limiters.get(socket.id)
        if limiter is None:
            lim = self.limits
            limiter = self._limiters[socket.id] = _Limiter(
                TokenBucket(lim.message_burst, lim.message_rate),
                TokenBucket(lim.join_burst, lim.join_rate),
                TokenBucket(max(1.0, lim.typing_rate), lim.typing_rate),
            )
        return limiter

    @staticmethod
    def _slow_down(wait: float, what: str) -> InputError:
        seconds = max(1, round(wait + 0.49))
        return InputError(f"You are {what} too fast: wait {seconds} s and try again.", wait)

    async def sockets(self, key: str | None = None) -> list[tidings.SocketHandle]:
        """The sockets in room ``key`` (``None``: all), on every node of a cluster.

        When a node does not answer (it is stopping, or died), this node's own are
        returned: a page is better shown who this node knows of than nothing.
        """
        operator = self.sio.operator() if key is None else self.sio.in_(key)
        try:
            return await operator.fetch_sockets()
        except (tidings.AckTimeoutError, ClusterError) as exc:
            logger.warning("sockets in %s from this node only: the cluster did not answer (%s)",
                           key or "the namespace", exc)
            return await operator.local.fetch_sockets()

    async def members(self, key: str) -> list[str]:
        """Who is in the room now: nicknames, once each, sorted (case-insensitively)."""
        nicks = {s.data.get("nick") for s in await self.sockets(key)}
        return sorted((n for n in nicks if isinstance(n, str)), key=str.casefold)

    async def announce(self, name: str) -> None:
        """Tell a room who is in it (volatile: only the present state matters)."""
        key = room_key(name)
        await self.sio.to(key).volatile.emit(
            "presence", {"room": name, "members": await self.members(key)}
        )

    def _member_room(self, socket: tidings.Socket, payload: Any) -> tuple[str, str]:
        name = check_room(payload.get("room") if isinstance(payload, dict) else None)
        key = room_key(name)
        if key not in socket.rooms:
            raise InputError(f"Join #{name} before writing there.")
        return name, key

    async def _recent_ids(self, key: str) -> _RecentIds:
        history = self.sio.of("/").history
        recent = self._recent.get(key)
        if recent is None:
            # After a restart, the ids come back from the log: a retry stays a retry.
            items = await history.last(RECENT_IDS, room=key)
            recent = self._recent.setdefault(key, _RecentIds())
            recent.learn(items)
            return recent
        while True:  # what was stored since, here or by another node
            items = await history.since(recent.offset, room=key, limit=RECENT_IDS)
            recent.learn(items)
            if len(items) < RECENT_IDS:
                return recent

    async def _post(self, socket: tidings.Socket, payload: Any, body: dict[str, Any]) -> dict[str, Any]:
        """Store and send one message to its room; the ack goes out once it is on disk."""
        name, key = self._member_room(socket, payload)
        cid = check_client_id(payload.get("cid"))
        recent = await self._recent_ids(key)
        if cid in recent.known:
            return {"ok": True, "duplicate": True}
        wait = self._limiter(socket).messages.take(time.monotonic())
        if wait:
            raise self._slow_down(wait, "sending messages")
        recent.add(cid)
        message = {"room": name, "cid": cid, "nick": socket.data["nick"], "at": time.time(), **body}
        try:
            await self.sio.to(key).emit("message", message)
        except BaseException:
            recent.discard(cid)  # not stored: the page's retry must not count as a duplicate
            raise
        return {"ok": True}

    # -- handlers -----------------------------------------------------------------------

    async def on_connect(self, socket: tidings.Socket, auth: Any) -> None:
        if not socket.recovered or not isinstance(socket.data.get("nick"), str):
            try:
                nick = check_nickname(auth.get("nick") if isinstance(auth, dict) else None)
            except InputError as exc:
                raise tidings.ConnectionRefusedError(str(exc)) from None
            socket.data["nick"] = nick
        rooms = chat_rooms(socket)
        logger.info(
            "sid=%s %s connected from %s%s", socket.id, socket.data["nick"],
            socket.handshake.address, f" (recovered, in {', '.join(rooms)})" if socket.recovered else "",
        )
        for name in rooms:
            await self.announce(name)

    async def on_disconnect(self, socket: tidings.Socket, reason: str) -> None:
        self._limiters.pop(socket.id, None)
        logger.info("sid=%s %s left: %s", socket.id, socket.data.get("nick"), reason)
        for name in chat_rooms(socket):
            await self.announce(name)

    async def on_join(self, socket: tidings.Socket, payload: Any) -> dict[str, Any]:
        try:
            name = check_room(payload.get("room") if isinstance(payload, dict) else None)
            key = room_key(name)
            if key not in socket.rooms:
                if len(chat_rooms(socket)) >= self.limits.max_rooms:
                    raise InputError(
                        f"You are in {self.limits.max_rooms} rooms already: leave one first."
                    )
                wait = self._limiter(socket).joins.take(time.monotonic())
                if wait:
                    raise self._slow_down(wait, "joining rooms")
        except InputError as exc:
            return reply_error(exc)
        socket.join(key)
        # Joined first, read second: a message sent in between is in both, and the
        # page keeps one of each offset.
        items = await self.sio.of("/").history.last(self.limits.history_on_join, room=key)
        history = [
            {**item.args[0], "offset": item.offset}
            for item in items
            if item.event == "message" and item.args and isinstance(item.args[0], dict)
        ]
        members = await self.members(key)
        logger.info("sid=%s %s joined #%s", socket.id, socket.data["nick"], name)
        await self.announce(name)
        return {"ok": True, "room": name, "history": history, "members": members}

    async def on_leave(self, socket: tidings.Socket, payload: Any) -> dict[str, Any]:
        try:
            name = check_room(payload.get("room") if isinstance(payload, dict) else None)
        except InputError as exc:
            return reply_error(exc)
        socket.leave(room_key(name))
        await self.announce(name)
        return {"ok": True, "room": name}

    async def on_message(self, socket: tidings.Socket, payload: Any) -> dict[str, Any]:
        try:
            text = check_text(payload.get("text") if isinstance(payload, dict) else None, self.limits)
            return await self._post(socket, payload, {"kind": "text", "text": text})
        except InputError as exc:
            return reply_error(exc)

    async def on_image(self, socket: tidings.Socket, payload: Any) -> dict[str, Any]:
        try:
            if not isinstance(payload, dict):
                raise InputError("That is not an image: send the picture's bytes.")
            data, mime = check_image(payload.get("data"), payload.get("mime"), self.limits)
            body: dict[str, Any] = {"kind": "image", "mime": mime, "image": data}
            for side in ("width", "height"):  # lets the page keep room for it while it loads
                value = payload.get(side)
                if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 20_000:
                    body[side] = value
            return await self._post(socket, payload, body)
        except InputError as exc:
            return reply_error(exc)

    async def on_typing(self, socket: tidings.Socket, payload: Any) -> None:
        try:
            _, key = self._member_room(socket, payload)
        except InputError:
            return
        if self._limiter(socket).typing.take(time.monotonic()):
            return
        name = key[len(ROOM_PREFIX):]
        await socket.to(key).volatile.emit("typing", {"room": name, "nick": socket.data["nick"]})

    async def on_rooms(self, socket: tidings.Socket, *_: Any) -> dict[str, Any]:
        """Rooms with someone in them, busiest first, for the page's room list."""
        counts: dict[str, set[str]] = {}
        for s in await self.sockets():
            for name in chat_rooms(s):
                counts.setdefault(name, set()).add(str(s.data.get("nick")))
        rooms = sorted(counts.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        return {"ok": True, "rooms": [{"room": n, "online": len(m)} for n, m in rooms[:50]]}


def create_app(
    db: str | os.PathLike[str] | None = None,
    *,
    limits: ChatLimits | None = None,
    history: HistoryStore | None = None,
    adapter_factory: Callable[[LocalNamespace], Adapter] = InMemoryAdapter,
    node_id: str = DEFAULT_NODE,
) -> tidings.Server:
    """A new chat server: history in the SQLite file ``db`` (``None``: in memory only),
    or in ``history``; rooms in this process, or spread by ``adapter_factory``;
    ``node_id`` names this server among the nodes sharing the history.

    Connection state recovery is on, backed by that history: a page that was
    offline, or that saw the server restart, gets what it missed, once, in order.
    """
    if history is None:
        if db is None:
            history = MemoryHistory(retention=RETENTION)
        else:
            from tidings.history import SQLiteHistory

            history = SQLiteHistory(db, retention=RETENTION)
    sio = tidings.Server(
        history=history,
        adapter_factory=adapter_factory,
        node_id=node_id,
        connection_state_recovery=tidings.RecoveryOptions(max_disconnection_duration=600),
        max_http_buffer_size=MAX_HTTP_BUFFER,
    )
    Chat(sio, limits or ChatLimits())
    return sio
