"""The client side of one Engine.IO v4 session as a state machine, Sans-I/O.

The I/O layer (``tidings.client.engine``) does what this object asks for, one
long-polling GET at a time, one POST at a time, WebSocket messages, the probe
WebSocket of an upgrade, and feeds back what arrived with the monotonic time.
Everything the protocol decides lives here: the handshake, answering the
server's pings, the ping deadline (``pingInterval + pingTimeout`` after the
last ping, as engine.io-client counts it), the probe sequence and when polling
is quiet enough to switch, and why the session closed. A test drives it with
strings and a made-up clock. Peer errors never raise: they close the session
with engine.io-client's reason; local misuse raises at once.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

import orjson

from tidings.protocol.engineio.events import Closed, MessageReceived, Upgraded, UpgradeFailed
from tidings.protocol.engineio.packets import (
    SEPARATOR,
    EngineIOError,
    Packet,
    PacketType,
    decode_packet,
    decode_payload,
    encode_packet,
    encode_polling_packet,
    message_packet,
)
from tidings.protocol.engineio.session_base import POLLING, PROBE_REPLY, WEBSOCKET, SessionBase

__all__ = [
    "POLLING",
    "WEBSOCKET",
    "ClientEvent",
    "ClientSession",
    "ClientSessionState",
    "Opened",
    "Pinged",
    "parse_handshake",
]

_PONG = Packet(PacketType.PONG)
_CLOSE = Packet(PacketType.CLOSE)
_PROBE = "2probe"
_UPGRADE = "5"


class ClientSessionState(enum.Enum):
    """Where a client-side Engine.IO session is in its life (``ClientSession.state``)."""

    OPENING = "opening"  # the handshake request is out; waiting for the OPEN packet
    OPEN = "open"  # one transport carries the session
    PROBING = "probing"  # polling carries it; a WebSocket is connecting or was sent "2probe"
    PAUSING = "pausing"  # the probe answered; polling finishes its requests in flight
    CLOSED = "closed"


_TRANSITIONS: Mapping[ClientSessionState, frozenset[ClientSessionState]] = {
    ClientSessionState.OPENING: frozenset({ClientSessionState.OPEN, ClientSessionState.CLOSED}),
    ClientSessionState.OPEN: frozenset({ClientSessionState.PROBING, ClientSessionState.CLOSED}),
    ClientSessionState.PROBING: frozenset(
        {ClientSessionState.PAUSING, ClientSessionState.OPEN, ClientSessionState.CLOSED}
    ),
    ClientSessionState.PAUSING: frozenset({ClientSessionState.OPEN, ClientSessionState.CLOSED}),
    ClientSessionState.CLOSED: frozenset(),
}


@dataclass(frozen=True, slots=True)
class Opened:
    """The server accepted the session (its OPEN packet). Times are in seconds."""

    sid: str
    upgrades: tuple[str, ...]
    ping_interval: float
    ping_timeout: float
    max_payload: int


@dataclass(frozen=True, slots=True)
class Pinged:
    """The server's heartbeat came (and was answered): the Manager's ``ping`` event."""


ClientEvent = Opened | Pinged | MessageReceived | Upgraded | UpgradeFailed | Closed


def parse_handshake(data: str) -> Opened:
    """The OPEN packet's JSON, checked; ``EngineIOError`` if it is not a v4 handshake."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise EngineIOError("handshake is not JSON") from None
    if type(obj) is not dict:
        raise EngineIOError("handshake is not a JSON object")
    sid = obj.get("sid")
    upgrades = obj.get("upgrades", [])
    interval = obj.get("pingInterval")
    timeout = obj.get("pingTimeout")
    max_payload = obj.get("maxPayload", 1_000_000)
    if type(sid) is not str or not sid:
        raise EngineIOError("handshake without a sid")
    if type(upgrades) is not list or not all(type(u) is str for u in upgrades):
        raise EngineIOError("handshake upgrades is not a list of names")
    for name, value in (("pingInterval", interval), ("pingTimeout", timeout)):
        if type(value) is not int or value <= 0:
            raise EngineIOError(f"handshake {name} is not a positive integer")
    if type(max_payload) is not int or max_payload <= 0:
        raise EngineIOError("handshake maxPayload is not a positive integer")
    assert isinstance(interval, int) and isinstance(timeout, int)
    return Opened(sid, tuple(upgrades), interval / 1000, timeout / 1000, max_payload)


class ClientSession(SessionBase[ClientSessionState, ClientEvent]):
    """The client side of one Engine.IO session.

    Inputs: ``receive_poll``, ``post_done``, ``websocket_opened``,
    ``receive_websocket``, ``transport_failed``, ``handle_timer``.
    Commands: ``send``, ``close``.
    Outputs: ``events_received``; ``start_poll`` (may a GET start now?),
    ``start_post`` (a body to POST now), ``start_probe`` (open the probe
    WebSocket now?), ``websocket_to_send``, ``next_deadline``.

    ``transport`` is the one carrying the session: ``"websocket"`` from the
    start (the I/O layer opens it without a sid), or ``"polling"`` until an
    upgrade succeeds (the probe WebSocket then becomes the transport, so
    ``receive_websocket`` and ``websocket_to_send`` serve both roles).
    """

    __slots__ = (
        "_buffer",
        "_deadline",
        "_poll_out",
        "_post_out",
        "_probe_due",
        "_upgrade",
        "_ws_out",
        "max_payload",
        "ping_interval",
        "ping_timeout",
        "sid",
    )

    TRANSITIONS = _TRANSITIONS

    def __init__(
        self,
        now: float,
        *,
        transport: str = POLLING,
        upgrade: bool = True,
        open_timeout: float = 20.0,
    ) -> None:
        if not open_timeout > 0:
            raise ValueError("open_timeout must be positive")
        super().__init__(ClientSessionState.OPENING, transport)
        self.sid: str | None = None
        self.ping_interval = 0.0
        self.ping_timeout = 0.0
        self.max_payload = 0
        self._upgrade = upgrade and transport == POLLING
        self._probe_due = False
        self._buffer: list[Packet] = []  # waiting for a transport that can write
        self._ws_out: list[str | bytes] = []  # ready for the WebSocket, in order
        self._poll_out = False  # a GET is in flight
        self._post_out = False  # a POST is in flight
        self._deadline: float | None = now + open_timeout

    # -- state (and ``state``, ``transport``, ``close_reason``, ``events_received``) -----

    def next_deadline(self) -> float | None:
        """When ``handle_timer`` is due: the open timeout, then the ping deadline."""
        return self._deadline

    # -- commands --------------------------------------------------------------------

    def send(self, data: str | bytes) -> None:
        """Queue a MESSAGE packet. Raises ``RuntimeError`` once the session is closed."""
        if self._state is ClientSessionState.CLOSED:
            raise RuntimeError("the Engine.IO session is closed")
        self._queue(message_packet(data))

    def close(self) -> None:
        """Close from this side: a CLOSE packet follows what is queued, if the session is open.

        What is queued stays readable from ``start_post`` / ``websocket_to_send``
        so the I/O layer can flush it before it lets go of the transport.
        """
        if self._state is ClientSessionState.CLOSED:
            return
        if self._state is not ClientSessionState.OPENING:
            self._queue(_CLOSE)
        self._finish("forced close", keep_output=True)

    # -- long-polling ----------------------------------------------------------------

    def start_poll(self) -> bool:
        """Whether a GET should start now; if so it counts as in flight until ``receive_poll``."""
        if (
            self._transport != POLLING
            or self._poll_out
            or self._state is ClientSessionState.PAUSING
            or self._state is ClientSessionState.CLOSED
        ):
            return False
        self._poll_out = True
        return True

    def receive_poll(self, body: str, now: float) -> None:
        """The body of the GET in flight (status 200)."""
        if not self._poll_out:
            raise RuntimeError("no poll in flight")
        self._poll_out = False
        if self._state is ClientSessionState.CLOSED:
            return
        try:
            packets = decode_payload(body)
        except EngineIOError as exc:
            self._finish("transport error", f"invalid payload: {exc}")
            return
        for packet in packets:
            self._receive_packet(packet, now)
            if (
                self.state is ClientSessionState.CLOSED
            ):  # the property: mypy keeps no narrowing across calls
                return
        self._maybe_finish_upgrade()

    def start_post(self) -> str | None:
        """A payload to POST now, or ``None``; it counts as in flight until ``post_done``.

        Packets are batched up to the server's ``maxPayload`` (at least one per
        request), as engine.io-client does.
        """
        if (
            self._transport != POLLING
            or self._post_out
            or not self._buffer
            or self._state is ClientSessionState.OPENING
            or self._state is ClientSessionState.PAUSING
        ):
            return None
        limit = self.max_payload or 1_000_000
        parts: list[str] = []
        size = 0
        taken = 0
        for packet in self._buffer:
            part = encode_polling_packet(packet)
            size += len(part) + (1 if parts else 0)
            if parts and size > limit:
                break
            parts.append(part)
            taken += 1
        del self._buffer[:taken]
        self._post_out = True
        return SEPARATOR.join(parts)

    def post_done(self, now: float) -> None:
        """The POST in flight was accepted."""
        if not self._post_out:
            raise RuntimeError("no post in flight")
        self._post_out = False
        self._maybe_finish_upgrade()

    # -- WebSocket -------------------------------------------------------------------

    def start_probe(self) -> bool:
        """Whether to open the probe WebSocket (with ``sid``) now; true at most once."""
        if not self._probe_due:
            return False
        self._probe_due = False
        self._set_state(ClientSessionState.PROBING)
        return True

    def websocket_opened(self, now: float) -> None:
        """The WebSocket is connected: the probe starts (a WebSocket transport waits for OPEN)."""
        if self._state is ClientSessionState.PROBING:
            self._ws_out.append(_PROBE)

    def receive_websocket(self, data: str | bytes, now: float) -> None:
        """One WebSocket message, from the transport or from the probe."""
        state = self._state
        if state is ClientSessionState.CLOSED:
            return
        if self._transport == POLLING:
            if state is ClientSessionState.PROBING and data == PROBE_REPLY:
                self._set_state(ClientSessionState.PAUSING)
                self._maybe_finish_upgrade()
            elif state is ClientSessionState.PROBING or state is ClientSessionState.PAUSING:
                self._abort_upgrade("probe error: unexpected message")
            return
        try:
            packet = decode_packet(data)
        except EngineIOError as exc:
            self._finish("transport error", f"invalid packet: {exc}")
            return
        self._receive_packet(packet, now)

    def websocket_to_send(self) -> list[str | bytes]:
        """Messages for the WebSocket (transport or probe), in order."""
        out = self._ws_out
        self._ws_out = []
        return out

    def transport_failed(
        self, transport: str, now: float, *, reason: str = "transport error", detail: str = ""
    ) -> None:
        """A request failed, or a WebSocket failed or closed ("transport close").

        A failed probe only ends the upgrade; the session carries on over polling.
        """
        if self._state is ClientSessionState.CLOSED:
            return
        if transport == WEBSOCKET and self._transport == POLLING:
            if (
                self._state is ClientSessionState.PROBING
                or self._state is ClientSessionState.PAUSING
            ):
                self._abort_upgrade(f"probe error: {detail or reason}")
            return
        if transport != self._transport:
            return  # a polling request that outlived the upgrade
        if transport == POLLING:
            self._poll_out = self._post_out = False
        self._finish(reason, detail)

    # -- time ------------------------------------------------------------------------

    def handle_timer(self, now: float) -> None:
        deadline = self._deadline
        if deadline is None or now < deadline or self._state is ClientSessionState.CLOSED:
            return
        if self._state is ClientSessionState.OPENING:
            self._finish("timeout", "no handshake in time")
        else:
            self._finish("ping timeout", "no ping from the server in time")

    # -- internals -------------------------------------------------------------------

    def _receive_packet(self, packet: Packet, now: float) -> None:
        ptype = packet.type
        if self._state is ClientSessionState.OPENING:
            if ptype is not PacketType.OPEN:
                self._finish("transport error", f"expected OPEN, got {ptype.name}")
                return
            self._open(str(packet.data), now)
            return
        if ptype is PacketType.MESSAGE:
            self._events.append(MessageReceived(packet.data))
        elif ptype is PacketType.PING:
            self._deadline = now + self.ping_interval + self.ping_timeout
            self._queue(_PONG)
            self._events.append(Pinged())
        elif ptype is PacketType.CLOSE:
            self._finish("transport close", "closed by the server")
        elif ptype is PacketType.OPEN or ptype is PacketType.UPGRADE:
            self._finish("transport error", f"unexpected {ptype.name} packet")
        # NOOP, and a PONG from a v3 habit: nothing to do

    def _open(self, data: str, now: float) -> None:
        try:
            opened = parse_handshake(data)
        except EngineIOError as exc:
            self._finish("transport error", str(exc))
            return
        self.sid = opened.sid
        self.ping_interval = opened.ping_interval
        self.ping_timeout = opened.ping_timeout
        self.max_payload = opened.max_payload
        self._deadline = now + opened.ping_interval + opened.ping_timeout
        self._set_state(ClientSessionState.OPEN)
        self._events.append(opened)
        if self._upgrade and WEBSOCKET in opened.upgrades:
            self._probe_due = True
        self._flush_to_websocket()

    def _queue(self, packet: Packet) -> None:
        self._buffer.append(packet)
        self._flush_to_websocket()

    def _flush_to_websocket(self) -> None:
        if (
            self._transport == WEBSOCKET
            and self._state is not ClientSessionState.OPENING
            and self._buffer
        ):
            self._ws_out.extend([encode_packet(p) for p in self._buffer])
            self._buffer.clear()

    def _maybe_finish_upgrade(self) -> None:
        if self._state is not ClientSessionState.PAUSING or self._poll_out or self._post_out:
            return
        self._ws_out.append(_UPGRADE)
        self._transport = WEBSOCKET
        self._set_state(ClientSessionState.OPEN)
        self._flush_to_websocket()
        self._events.append(Upgraded(WEBSOCKET))

    def _abort_upgrade(self, detail: str) -> None:
        self._ws_out.clear()
        self._set_state(ClientSessionState.OPEN)
        self._events.append(UpgradeFailed(detail))

    def _finish(self, reason: str, detail: str = "", *, keep_output: bool = False) -> None:
        if not keep_output:
            self._buffer.clear()
            self._ws_out.clear()
        self._probe_due = False
        self._deadline = None
        self._close_reason = reason
        self._set_state(ClientSessionState.CLOSED)
        self._events.append(Closed(reason, detail))

