"""One server-side Engine.IO session as a state machine, Sans-I/O.

The I/O layer feeds it what happened (a poll arrived, a POST body, a WebSocket
message, a timer fired) with the current monotonic time, and reads back what
to do: events for the application, WebSocket messages to write, the body for
a held poll, and the next deadline. Nothing here blocks, reads a clock or
raises on peer input: a misbehaving peer closes the session with Node's reason.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from tidings.protocol.engineio.events import (
    Closed,
    Event,
    MessageReceived,
    Upgraded,
    UpgradeFailed,
)
from tidings.protocol.engineio.packets import (
    SEPARATOR,
    Encoded,
    EngineIOError,
    Packet,
    PacketType,
    decode_packet,
    decode_payload,
    encode_message,
)
from tidings.protocol.engineio.requests import PAYLOAD_TOO_LARGE, ErrorCode, RequestError
from tidings.protocol.engineio.session_base import POLLING, PROBE_REPLY, WEBSOCKET, SessionBase
from tidings.protocol.engineio.session_config import (
    SERVER_TRANSITIONS,
    ServerSessionState,
    SessionConfig,
)

__all__ = [
    "BUFFER_LIMIT_EXCEEDED", "POLLING", "WEBSOCKET", "ServerSession", "ServerSessionState",
    "SessionConfig",
]

_PING: Encoded = ("2", "2")
_NOOP = "6"
_CLOSE = "1"
# WebSocket close codes that mean the peer broke the protocol rather than left.
_ERROR_CLOSE_CODES = frozenset({1002, 1003, 1007, 1009, 1010, 1011})


#: ``Closed.detail`` of a session closed because its client did not read what it was sent.
BUFFER_LIMIT_EXCEEDED = "outgoing buffer limit exceeded"


# For the per-message checks: a global read costs a tenth of an enum attribute lookup.
_OPEN = ServerSessionState.OPEN


class ServerSession(SessionBase[ServerSessionState, Event]):
    """The server side of one Engine.IO session.

    Inputs: ``receive_poll``, ``poll_aborted``, ``receive_post``, ``start_upgrade``,
    ``receive_websocket``, ``websocket_closed``, ``handle_timer``.
    Commands: ``send``, ``send_encoded``, ``close``, ``abort``.
    Outputs: ``events_received``, ``data_to_send`` (WebSocket messages),
    ``close_websocket_requested``, ``poll_ready``/``take_poll_response``, ``next_deadline``.
    """

    __slots__ = (
        "_buffer",
        "_buffered",
        "_close_after_upgrade",
        "_close_due",
        "_final",
        "_out",
        "_ping_due",
        "_poll_held",
        "_plain",
        "_pong_due",
        "_probed",
        "_upgrade_due",
        "_ws_attached",
        "_ws_close",
        "config",
        "poll_compressible",
        "sid",
    )

    TRANSITIONS = SERVER_TRANSITIONS

    def __init__(
        self, sid: str, config: SessionConfig, now: float, *, transport: str = POLLING
    ) -> None:
        super().__init__(ServerSessionState.OPEN, transport)
        self.sid = sid
        self.config = config
        self._out: list[str | bytes] = []
        self._ws_attached = transport == WEBSOCKET
        self._ws_close = False
        self._buffer: list[Encoded] = []
        self._buffered = 0
        self._plain = 0  # buffered packets sent with compress=False
        #: Whether the body ``take_poll_response`` (or ``receive_poll``) returned last may
        #: be compressed: as in Node, unless every packet in it was sent with compress=False.
        self.poll_compressible = True
        self._poll_held = False
        self._final: str | None = None
        self._probed = False
        self._ping_due = now + config.ping_interval
        self._pong_due: float | None = None
        self._upgrade_due: float | None = None
        self._close_due: float | None = None
        self._close_after_upgrade: str | None = None
        handshake = {
            "sid": sid,
            "upgrades": list(config.upgrades) if transport == POLLING else [],
            "pingInterval": round(config.ping_interval * 1000),
            "pingTimeout": round(config.ping_timeout * 1000),
            "maxPayload": config.max_payload,
        }
        opening = "0" + orjson.dumps(handshake).decode()
        if transport == WEBSOCKET:
            self._out.append(opening)
        else:
            self._buffer.append((opening, opening))

    # -- read-only views (and ``state``, ``transport``, ``close_reason``) -------------------

    @property
    def websocket_writable(self) -> bool:
        """True when a message may go straight to the WebSocket (the broadcast fast path)."""
        return self._state is _OPEN and self._transport == WEBSOCKET and self._ws_attached

    @property
    def buffered_bytes(self) -> int:
        """Size of the packets waiting for the next poll."""
        return self._buffered

    @property
    def poll_held(self) -> bool:
        return self._poll_held

    @property
    def poll_ready(self) -> bool:
        """A held poll has something to answer with: call ``take_poll_response``."""
        return self._poll_held and (
            bool(self._buffer)
            or self._final is not None
            or self._transport == WEBSOCKET
            or (self._state is ServerSessionState.UPGRADING and self._probed)
        )

    # -- outputs (and ``events_received``) --------------------------------------------------

    def data_to_send(self) -> list[str | bytes]:
        """WebSocket messages to write, in order (for the attached WebSocket)."""
        out = self._out
        if out:
            self._out = []
        return out

    def close_websocket_requested(self) -> bool:
        """True once when the attached WebSocket must be closed (after ``data_to_send``)."""
        if self._ws_close:
            self._ws_close = False
            return True
        return False

    def take_poll_response(self) -> str:
        """The body for the held poll, which is no longer held afterwards."""
        if not self.poll_ready:
            raise RuntimeError("no poll response is ready")
        self._poll_held = False
        self.poll_compressible = True
        if self._transport == WEBSOCKET:
            return _NOOP  # upgraded while a poll was held: release it cleanly
        if self._buffer:
            # The final "1" waits for the next poll, as in Node: a client defers the
            # packets of one body, so a close in the same body would overtake them.
            if self._plain:
                self.poll_compressible = len(self._buffer) > self._plain
                self._plain = 0
            body = SEPARATOR.join([segment for _, segment in self._buffer])
            self._buffer.clear()
            self._buffered = 0
            return body
        final = self._final
        if final is None:
            return _NOOP
        self._final = None
        if self._state is ServerSessionState.CLOSING:
            self._finish(self._close_reason)
        return final

    def next_deadline(self) -> float | None:
        state = self._state
        if state is ServerSessionState.CLOSED:
            return None
        if state is ServerSessionState.CLOSING:
            return self._close_due
        due = self._ping_due if self._pong_due is None else self._pong_due
        if self._upgrade_due is not None and self._upgrade_due < due:
            due = self._upgrade_due
        return due

    # -- commands --------------------------------------------------------------------------

    def send(self, data: str | bytes) -> None:
        """Queue a MESSAGE. Dropped once the session is closing, as Node does."""
        encoded = encode_message(data)
        if self._state is ServerSessionState.OPEN or (
            self._state is ServerSessionState.UPGRADING and self._close_after_upgrade is None
        ):
            self._queue(encoded)

    def send_encoded(self, items: Sequence[Encoded], nbytes: int, compress: bool = True) -> None:
        """Queue packets encoded once for many sessions; ``nbytes`` is their polling size.
        ``compress=False``: a poll body of such packets alone is never compressed."""
        if not (
            self._state is ServerSessionState.OPEN
            or (self._state is ServerSessionState.UPGRADING and self._close_after_upgrade is None)
        ):
            return
        if self.websocket_writable:
            self._out.extend([ws for ws, _ in items])
            return
        self._buffer.extend(items)
        self._buffered += nbytes
        if not compress:
            self._plain += len(items)
        self._check_buffer()

    def close(self, now: float, reason: str = "forced close") -> None:
        """Close from the server: what is buffered is still delivered, then "1"."""
        if self._state is ServerSessionState.CLOSING or self._state is ServerSessionState.CLOSED:
            return
        if self._state is ServerSessionState.UPGRADING:
            if self._probed:
                # The client got "3probe", so it stops polling: the close waits for its
                # UPGRADE and goes over the WebSocket (or the upgrade fails or times out).
                if self._close_after_upgrade is None:
                    self._close_after_upgrade = reason
                return
            self._abort_upgrade("session closed", now)
        if self._transport == WEBSOCKET:
            self._ws_close = self._ws_attached
            self._ws_attached = False
            self._finish(reason)
            return
        self._close_reason = reason
        self._final = _CLOSE
        self._close_due = now + self.config.ping_timeout
        self._set_state(ServerSessionState.CLOSING)

    def abort(self, reason: str, detail: str = "") -> None:
        """Close at once, dropping what is buffered (an error seen by the I/O layer)."""
        self._fail(reason, detail)

    # -- inputs ----------------------------------------------------------------------------

    def receive_poll(self, now: float) -> str | RequestError | None:
        """A polling GET arrived: its body now, a refusal, or None to hold it until ``poll_ready``."""
        self._expire(now)
        if self._state is ServerSessionState.CLOSED:
            return RequestError.of(ErrorCode.UNKNOWN_SID)
        if self._transport != POLLING:
            return RequestError.of(ErrorCode.BAD_REQUEST)
        if self._poll_held:
            self._fail("transport error", "overlapping polling requests")
            return RequestError.of(ErrorCode.BAD_REQUEST)
        self._poll_held = True
        if self.poll_ready:
            return self.take_poll_response()
        return None

    def poll_aborted(self, now: float) -> None:
        """The held poll's connection went away before it was answered."""
        if self._poll_held:
            self._poll_held = False
            self._fail("transport error", "poll connection closed prematurely")

    def receive_post(self, body: bytes, now: float) -> RequestError | None:
        """A polling POST body: None to answer "ok", else the refusal."""
        self._expire(now)
        if self._state is ServerSessionState.CLOSED:
            return RequestError.of(ErrorCode.UNKNOWN_SID)
        if self._transport != POLLING:
            return RequestError.of(ErrorCode.BAD_REQUEST)
        if len(body) > self.config.max_payload:
            return PAYLOAD_TOO_LARGE
        try:
            packets = decode_payload(body.decode("utf-8"))
        except (UnicodeDecodeError, EngineIOError) as exc:
            self._fail("parse error", str(exc))
            return RequestError.of(ErrorCode.BAD_REQUEST)
        for packet in packets:
            self._receive_packet(packet, now)
        return None

    def start_upgrade(self, now: float) -> bool:
        """A WebSocket arrived for this session; False means close it, no upgrade possible."""
        if (
            self._state is not ServerSessionState.OPEN
            or self._transport != POLLING
            or WEBSOCKET not in self.config.upgrades
        ):
            return False
        self._ws_attached = True
        self._ws_close = False
        self._out.clear()
        self._probed = False
        self._upgrade_due = now + self.config.upgrade_timeout
        self._set_state(ServerSessionState.UPGRADING)
        return True

    def receive_websocket(self, data: str | bytes, now: float) -> None:
        """One message from the attached WebSocket (text as str, binary as bytes)."""
        self._expire(now)
        if not self._ws_attached:
            return
        upgrading = self._state is ServerSessionState.UPGRADING
        if len(data) > self.config.max_payload:
            if upgrading:
                self._abort_upgrade("message too large", now)
            else:
                self._fail("transport error", "message too large")
            return
        try:
            packet = decode_packet(data)
        except EngineIOError as exc:
            if upgrading:
                self._abort_upgrade(f"invalid probe packet: {exc}", now)
            else:
                self._fail("parse error", str(exc))
            return
        if upgrading:
            self._receive_upgrade_packet(packet, now)
        else:
            self._receive_packet(packet, now)

    def take_message(self, data: str | bytes, now: float) -> str | None:
        """The text of ``data`` when it is a MESSAGE that changes nothing in the session.

        That is the steady state of an open WebSocket (most of what a server reads), and
        it needs no event object. Otherwise ``None``, with nothing done: the caller feeds
        ``data`` to ``receive_websocket``.
        """
        if (
            type(data) is str
            and data[:1] == "4"
            and self._state is _OPEN
            and self._ws_attached
            and len(data) <= self.config.max_payload
            and now < (self._ping_due if self._pong_due is None else self._pong_due)
        ):
            return data[1:]
        return None

    def websocket_closed(self, now: float, code: int = 1006) -> None:
        """The attached WebSocket is gone (closed by the peer or broken)."""
        if not self._ws_attached:
            return
        self._ws_attached = False
        self._ws_close = False
        if self._state is ServerSessionState.UPGRADING:
            self._abort_upgrade("probe transport closed", now)
        elif self._transport == WEBSOCKET:
            error = code in _ERROR_CLOSE_CODES
            self._fail("transport error" if error else "transport close", f"close code {code}")

    def handle_timer(self, now: float) -> None:
        state = self._state
        if state is ServerSessionState.CLOSED:
            return
        if state is ServerSessionState.CLOSING:
            if self._close_due is not None and now >= self._close_due:
                self._finish(self._close_reason, "close timeout")
            return
        if self._upgrade_due is not None and now >= self._upgrade_due:
            self._abort_upgrade("upgrade timeout", now)
            if self._state is not _OPEN:
                return  # closed meanwhile: a close was waiting for the upgrade
        if self._pong_due is not None:
            if now >= self._pong_due:
                self._fail("ping timeout")
        elif now >= self._ping_due and self._close_after_upgrade is None:
            # Counted from when the ping was due, so a late timer does not stretch the
            # heartbeat; a ping sent very late (stalled loop) still gets half the timeout.
            timeout = self.config.ping_timeout
            self._pong_due = max(self._ping_due + timeout, now + timeout / 2)
            self._queue(_PING)

    def _expire(self, now: float) -> None:
        """Deadlines that passed before an input are handled first, however late the timer."""
        due = self.next_deadline()
        if due is not None and now >= due:
            self.handle_timer(now)

    # -- internals -------------------------------------------------------------------------

    def _receive_packet(self, packet: Packet, now: float) -> None:
        ptype = packet.type
        if ptype is PacketType.CLOSE:
            self._fail("transport close", "closed by the client", final=_NOOP)
            return
        state = self._state
        if not (state is _OPEN or (
            state is ServerSessionState.UPGRADING and self._close_after_upgrade is None
        )):
            return  # closing: Node ignores what arrives meanwhile
        if ptype is PacketType.MESSAGE:
            self._events.append(MessageReceived(packet.data))
        elif ptype is PacketType.PONG:
            self._pong_due = None
            self._ping_due = now + self.config.ping_interval
        elif ptype is PacketType.PING:
            # Engine.IO v4 pings go from server to client only.
            self._fail("transport error", "invalid heartbeat direction")
        # OPEN, UPGRADE and NOOP from a client mean nothing on an open transport.

    def _receive_upgrade_packet(self, packet: Packet, now: float) -> None:
        if packet.type is PacketType.PING and packet.data == "probe":
            self._out.append(PROBE_REPLY)
            self._probed = True  # a held or next poll is answered with NOOP
        elif packet.type is PacketType.UPGRADE:
            self._transport = WEBSOCKET
            self._upgrade_due = None
            self._probed = False
            self._out.extend([ws for ws, _ in self._buffer])
            self._buffer.clear()
            self._buffered = 0
            self._plain = 0
            self._set_state(ServerSessionState.OPEN)
            self._events.append(Upgraded())
            self._close_deferred(now)
        else:
            self._abort_upgrade(f"unexpected packet {packet.type.name} during upgrade", now)

    def _abort_upgrade(self, detail: str, now: float) -> None:
        self._ws_close = self._ws_attached
        self._ws_attached = False
        self._out.clear()
        self._probed = False
        self._upgrade_due = None
        self._set_state(ServerSessionState.OPEN)
        self._events.append(UpgradeFailed(detail))
        self._close_deferred(now)

    def _close_deferred(self, now: float) -> None:
        """The close asked for while the upgrade was under way, now that it has ended."""
        reason = self._close_after_upgrade
        if reason is not None:
            self._close_after_upgrade = None
            self.close(now, reason)

    def _queue(self, encoded: Encoded) -> None:
        if self.websocket_writable:
            self._out.append(encoded[0])
            return
        self._buffer.append(encoded)
        self._buffered += len(encoded[1])
        self._check_buffer()

    def _check_buffer(self) -> None:
        if self._buffered > self.config.max_buffered_bytes:
            self._fail("transport error", BUFFER_LIMIT_EXCEEDED)

    def _fail(self, reason: str, detail: str = "", *, final: str = _CLOSE) -> None:
        """Close at once on an error; a held poll gets ``final``."""
        if self._state is ServerSessionState.CLOSED:
            return
        if self._state is ServerSessionState.CLOSING:
            self._finish(self._close_reason, detail)  # the server's reason stands
            return
        if self._close_after_upgrade is not None:
            reason = self._close_after_upgrade  # here too
        if self._ws_attached:
            self._ws_close = True
            self._ws_attached = False
        self._finish(reason, detail, final=final if self._poll_held else None)

    def _finish(self, reason: str, detail: str = "", *, final: str | None = None) -> None:
        self._buffer.clear()
        self._buffered = 0
        self._plain = 0
        if final is not None:
            self._final = final
        elif not self._poll_held:
            self._final = None
        self._close_reason = reason
        self._close_due = self._pong_due = self._upgrade_due = None
        self._close_after_upgrade = None
        self._set_state(ServerSessionState.CLOSED)
        self._events.append(Closed(reason, detail))

