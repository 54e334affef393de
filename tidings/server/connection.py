"""``Connection``: one client's Engine.IO connection and the namespace sockets multiplexed over it.

It decodes the client's packets, routes them to its sockets, and runs the connect flow
(middleware, recovery, the connect handler) for each namespace the client joins.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from time import monotonic
from typing import TYPE_CHECKING, Any, Protocol, cast

from tidings.errors import ConnectionRefusedError
from tidings.handlers import call_maybe_async
from tidings.history.base import LIVE
from tidings.history.recovery import Recovered, parse_offset, recover
from tidings.ids import Room, Sid
from tidings.logging_limits import LogLimiter
from tidings.protocol.socketio import DecodeError, Packet, PacketDecoder, PacketType
from tidings.server.context import ServerContext
from tidings.server.namespace import Namespace
from tidings.server.outgoing import write_packet
from tidings.server.ratelimit import RATE_LIMITED, Limiter, RateLimitCounts
from tidings.server.socket import Socket
from tidings.server.socket_state import SocketState

if TYPE_CHECKING:
    from tidings.engine import EngineSocket
    from tidings.server.journal import Journal


logger = logging.getLogger("tidings.server")
#: The warnings a peer's bad input causes: a flood of it must not become a flood of lines.
peer_warnings = LogLimiter(logger, burst=10, interval=60.0)

#: The longest a connection over its rate limit goes unread (well under a ping timeout):
#: its reads wait until what it owes is paid, or this long.
MAX_LIMIT_PAUSE = 5.0


class ConnectionServer(ServerContext, Protocol):
    """What a connection needs of the server: its parts' view, and finding namespaces."""

    def namespace_for(self, name: str, auth: Any) -> Namespace | None:
        """The namespace a client asks to join (made now if a dynamic parent accepts it)."""
        ...

    @property
    def rate_limited(self) -> RateLimitCounts:
        """Where connections count what their rate limits dropped."""
        ...


class Connection:
    """Made by the server for each Engine.IO connection; the sockets' ``connection``."""

    __slots__ = (
        "server", "conn", "decoder", "sockets", "_connect_timer", "_holding", "_limiter",
        "_event_limiters", "_dropped", "_closed", "_limit_pause",
    )

    def __init__(self, server: ConnectionServer, conn: EngineSocket) -> None:
        self.server = server
        self.conn = conn
        # Text packets go through the server's shared decoder; a connection has its own only
        # while a binary packet awaits its attachments: an idle connection holds none.
        self.decoder: PacketDecoder | None = None
        self.sockets: dict[str, Socket] = {}
        # Sockets with too many events pending: while any is, the connection reads nothing.
        self._holding: set[Socket] | None = None
        rule = server.options.rate_limit
        self._limiter: Limiter | None = None if rule is None else rule.limiter(monotonic())
        # Per-event buckets, made for an event with a limit when it first comes.
        self._event_limiters: dict[tuple[str, str], Limiter] | None = None
        self._dropped = 0
        self._closed = False
        # While set, reading is held because the connection's rate limit is owed.
        self._limit_pause: asyncio.TimerHandle | None = None
        loop = asyncio.get_running_loop()
        self._connect_timer: asyncio.TimerHandle | None = loop.call_later(
            server.options.connect_timeout, self._on_connect_timeout
        )

    def _on_connect_timeout(self) -> None:
        self._connect_timer = None
        if not self.sockets:
            logger.info("sid=%s no namespace joined in time, closing", self.conn.sid)
            self.close("connect timeout")

    def receive(self, data: str | bytes) -> None:
        """One Engine.IO message from the client (called by the server)."""
        decoder = self.decoder
        try:
            if decoder is None:
                shared = self.server.decoder
                packet = shared.receive(data)
                if packet is None:  # a binary packet: its attachments follow
                    self.decoder = shared.detach()
                    return
            else:
                packet = decoder.receive(data)
                if packet is None:
                    if self._limiter is not None:
                        self._limiter.charge(len(data), monotonic())
                    return
                self.decoder = None  # nothing pending: the next message starts afresh
        except DecodeError as exc:
            peer_warnings.warning(
                "malformed packet", "sid=%s malformed packet, closing: %s", self.conn.sid, exc
            )
            self.close("parse error")
            return
        limiter = self._limiter
        if limiter is not None and not limiter.admit(len(data), monotonic()):
            self._over_limit(packet, limiter, None)
            return
        self._route(packet)

    def _route(self, packet: Packet) -> None:
        ptype = packet.type
        socket = self.sockets.get(packet.namespace)
        if ptype is PacketType.CONNECT:
            if socket is not None:
                # The official client sends this when an app reconnects a namespace socket on an
                # open manager; Node takes it as a new connection to that namespace.
                socket.handle_close("client namespace disconnect")
            self._connect(packet.namespace, packet.data)
            return
        if socket is not None:
            if ptype is PacketType.EVENT or ptype is PacketType.BINARY_EVENT:
                if socket.nsp.limits and not self._within_event_limit(socket.nsp, packet):
                    return
                socket.handle_event(packet)
                return
            if ptype is PacketType.ACK or ptype is PacketType.BINARY_ACK:
                socket.handle_ack(packet)
                return
            if ptype is PacketType.DISCONNECT:
                socket.handle_close("client namespace disconnect")
                return
        if self._closed:
            return  # the rest of a POST read before this connection was closed (rate limit)
        peer_warnings.warning(
            "packet in an invalid state",
            "sid=%s packet %s for namespace %r in an invalid state, closing",
            self.conn.sid, ptype.name, packet.namespace,
        )
        self.close("parse error")

    def _within_event_limit(self, nsp: Namespace, packet: Packet) -> bool:
        """Whether ``packet`` (an event) passes its event's own limit, if it has one."""
        event = packet.data[0] if packet.data else None
        if not isinstance(event, str):
            return True
        rule = nsp.limits.get(event)
        if rule is None:
            return True
        limiters = self._event_limiters
        if limiters is None:
            limiters = self._event_limiters = {}
        now = monotonic()
        limiter = limiters.get((nsp.name, event))
        if limiter is None:
            limiter = limiters[(nsp.name, event)] = rule.limiter(now)
        # The packet's own text: its size is not kept once decoded, so it is estimated.
        if limiter.admit(len(str(packet.data)) if limiter.bytes is not None else 0, now):
            return True
        self._over_limit(packet, limiter, event)
        return False

    def _over_limit(self, packet: Packet, limiter: Limiter, event: str | None) -> None:
        """``packet`` went over ``limiter``'s rule: drop it (answering its ack request with
        an error), or disconnect the client, as the rule says. Logged once per connection."""
        if self._closed:
            return  # the rest of a POST read before the disconnect: counted once
        counts = self.server.rate_limited
        what = "the connection's rate limit" if event is None else f"the rate limit of {event!r}"
        if limiter.rule.on_limit == "disconnect":
            counts.disconnected += 1
            peer_warnings.warning(
                "over a rate limit", "sid=%s over %s: disconnecting", self.conn.sid, what
            )
            for socket in list(self.sockets.values()):
                socket.send_packet(Packet(PacketType.DISCONNECT, socket.nsp.name))
            self.close("rate limit exceeded")
            return
        counts.dropped += 1
        self._dropped += 1
        if self._dropped == 1:
            logger.info("sid=%s over %s: dropping packets (counted, not logged, from now on)",
                        self.conn.sid, what)
        if event is None:
            self._pause_reading(limiter)
        ptype = packet.type
        if packet.id is not None and (ptype is PacketType.EVENT or ptype is PacketType.BINARY_EVENT):
            target = self.sockets.get(packet.namespace)
            if target is not None:
                reply = {"error": RATE_LIMITED, "retry_after": limiter.retry_after()}
                target.send_ack(packet.id, [reply])

    def _pause_reading(self, limiter: Limiter) -> None:
        """Read nothing more from this client until what it owes its rate limit is paid (at
        most MAX_LIMIT_PAUSE): TCP pushes back on it alone, where reading, decoding and
        dropping a flood would spend the server's time on it."""
        if self._limit_pause is not None or self._closed:
            return
        if self._holding is None:
            self.conn.hold_reading(True)
        now = monotonic()
        self._arm_resume(limiter, now, now + MAX_LIMIT_PAUSE)

    def _arm_resume(self, limiter: Limiter, now: float, latest: float) -> None:
        wait = min(limiter.wait(now), latest - now)
        self._limit_pause = asyncio.get_running_loop().call_later(
            max(wait, 0.0), self._resume_reading, limiter, latest)

    def _resume_reading(self, limiter: Limiter, latest: float) -> None:
        # What was read before the pause took effect was owed too: wait for that as well.
        now = monotonic()
        if limiter.wait(now) > 0.001 and now < latest and not self._closed:
            self._arm_resume(limiter, now, latest)
            return
        self._limit_pause = None
        if self._holding is None and not self._closed:
            self.conn.hold_reading(False)

    def _connect(self, name: str, auth: Any) -> None:
        nsp = self.server.namespace_for(name, auth)
        if nsp is None:
            self._send(Packet(PacketType.CONNECT_ERROR, name, {"message": "Invalid namespace"}))
            return
        if self._connect_timer is not None:
            self._connect_timer.cancel()
            self._connect_timer = None
        socket = Socket(nsp, self, auth)
        self.sockets[name] = socket
        socket.start(lambda: self._run_connect(nsp, socket))

    async def _run_connect(self, nsp: Namespace, socket: Socket) -> None:
        journal = self.server.journal
        recovered: tuple[Recovered, int] | None = None
        try:
            if journal is not None and journal.recovery is not None:
                recovered = await self._recover(journal, nsp, socket)
            skip = recovered is not None and journal is not None and journal.recovery is not None and (
                journal.recovery.skip_middlewares
            )
            for middleware in () if skip else nsp.middlewares:
                await call_maybe_async(middleware, socket)
                if socket.state is not SocketState.CONNECTING:
                    return
            if journal is not None and journal.recovery is not None:
                await journal.prime(nsp.name, nsp.adapter)
            # Accepted by middleware: from now on the socket is found and reached by broadcasts
            # (what they send waits in its held connection until the CONNECT reply is out).
            nsp.sockets[socket.id] = socket
            registered_at = journal.sent(nsp.name) if journal is not None else 0
            handler = nsp.handlers.get("connect")
            if handler is not None:
                result = await call_maybe_async(handler, socket, socket.auth)
                if result is False:
                    raise ConnectionRefusedError("Connection rejected by server")
            missed: list[Packet] = []
            if journal is not None and socket.pid is not None:
                # Durable before the client learns its pid.
                await journal.save(socket.session_record(journal, LIVE))
                if recovered is not None:
                    missed = await self._catch_up(journal, nsp, *recovered, registered_at)
        except ConnectionRefusedError as exc:
            self._refuse(nsp, socket, exc.to_payload())
            return
        except Exception:
            logger.exception("sid=%s connect to %s failed", self.conn.sid, nsp.name)
            self._refuse(nsp, socket, {"message": "Internal server error"})
            return
        if socket.state is not SocketState.CONNECTING:
            return  # the connection went away meanwhile
        socket.accept(missed)
        logger.debug("sid=%s joined %s as %s%s", self.conn.sid, nsp.name, socket.id,
                     " (recovered)" if socket.recovered else "")

    async def _recover(
        self, journal: Journal, nsp: Namespace, socket: Socket
    ) -> tuple[Recovered, int] | None:
        """Take the client's ``{pid, offset}`` out of its auth and restore that session if it may."""
        auth = socket.auth
        recovery = journal.recovery
        assert recovery is not None
        recovered = None
        start = 0
        if isinstance(auth, dict) and "pid" in auth:
            # Left in the auth payload, as Node leaves them in socket.handshake.auth.
            pid, offset = auth.get("pid"), auth.get("offset")
            start = parse_offset(offset) or 0
            await journal.open()
            recovered = await recover(
                journal.store, nsp.name, pid, offset,
                max_age=recovery.max_disconnection_duration, now=time.time(),
                max_missed=recovery.max_missed,
            )
        if recovered is None:
            socket.pid = secrets.token_urlsafe(15)
            return None
        session = recovered.session
        old = nsp.sockets.get(Sid(session.sid))
        if old is not None:  # the client came back before its old connection was seen to drop
            # A namespace holds the server's own sockets only.
            cast(Socket, old).connection.close("transport close")
        socket.id = Sid(session.sid)
        socket.pid = session.pid
        socket.recovered = True
        nsp.adapter.add_all(socket.id, [Room(r) for r in session.rooms])
        data = journal.restore_data(session.data)
        if data is not None:
            socket.data.update(data)
        return recovered, start

    async def _catch_up(
        self, journal: Journal, nsp: Namespace, recovered: Recovered, start: int, registered_at: int
    ) -> list[Packet]:
        """What the client missed: up to the last event sent before the socket was registered.

        Everything sent after that reached its held connection, in order, behind these.
        """
        read_to = recovered.missed[-1].offset if recovered.missed else start
        entries = [e for e in recovered.missed if e.offset <= registered_at]
        while read_to < registered_at:
            more = await journal.store.since(nsp.name, read_to, rooms=recovered.session.rooms)
            if not more:
                break
            entries.extend(e for e in more if e.offset <= registered_at)
            read_to = more[-1].offset
        return [p for p in map(journal.to_packet, entries) if p is not None]

    def _refuse(self, nsp: Namespace, socket: Socket, payload: dict[str, Any]) -> None:
        if self.sockets.get(nsp.name) is socket:
            del self.sockets[nsp.name]
        socket.refuse()
        self._send(Packet(PacketType.CONNECT_ERROR, nsp.name, payload))

    def _send(self, packet: Packet) -> None:
        write_packet(self.conn, packet, self.server.parser)

    @property
    def busy(self) -> bool:
        """Some socket of this connection has a handler running (see ``Socket.busy``)."""
        return any(socket.busy for socket in self.sockets.values())

    def forget(self, socket: Socket) -> None:
        """``socket`` left its namespace (called by the socket)."""
        if self.sockets.get(socket.nsp.name) is socket:
            del self.sockets[socket.nsp.name]

    def hold(self, socket: Socket, full: bool) -> None:
        """``socket``'s pending events reached ``max_pending_events`` (``full``), or fell to
        a quarter of it: read nothing from the client while any socket of it is full."""
        holding = self._holding
        if full:
            if holding is None:
                holding = self._holding = set()
                self.conn.hold_reading(True)
            holding.add(socket)
        elif holding is not None and socket in holding:
            holding.discard(socket)
            if not holding:
                self._holding = None
                if self._limit_pause is None:
                    self.conn.hold_reading(False)

    def disconnect(self) -> None:
        """Leave every namespace as the server's decision (the client sees "io server disconnect"), then close."""
        for socket in list(self.sockets.values()):
            socket.go_live()  # what waited behind its CONNECT reply leaves before the close
            socket.send_packet(Packet(PacketType.DISCONNECT, socket.nsp.name))
        self.close("server namespace disconnect")

    def close(self, reason: str) -> None:
        """Drop the whole connection: every namespace socket leaves with ``reason``."""
        self.closed(reason)
        self.conn.close()

    def closed(self, reason: str) -> None:
        """The Engine.IO connection closed (called by the server, and by ``close``)."""
        if self._connect_timer is not None:
            self._connect_timer.cancel()
            self._connect_timer = None
        if self._limit_pause is not None:
            self._limit_pause.cancel()
            self._limit_pause = None
        if self._dropped > 1 and not self._closed:
            logger.info("sid=%s dropped %d packets over rate limits", self.conn.sid, self._dropped)
        self._closed = True
        self.decoder = None  # drops a partly received binary packet
        for socket in list(self.sockets.values()):
            socket.handle_close(reason)
        self.sockets.clear()
