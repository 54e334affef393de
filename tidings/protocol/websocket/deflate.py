"""permessage-deflate (RFC 7692), Sans-I/O: the options, the negotiation, the codec.

Off by default, as in Node's engine.io 4+: compression costs CPU on every message and
helps only large, repetitive payloads. The server accepts the first offer it can honour,
as Node's ``ws`` does; an offer it cannot honour is declined, never an error (RFC 7692
section 5), and a connection with no acceptable offer goes on uncompressed.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from typing import Protocol

from tidings.protocol.websocket.events import ProtocolError
from tidings.protocol.websocket.frames import CloseCode, encode_frame

__all__ = [
    "EXTENSION",
    "Agreement",
    "DeflateOptions",
    "PerMessageDeflate",
    "encode_compressed_frame",
    "negotiate",
    "parse_offers",
]

EXTENSION = "permessage-deflate"
_TAIL = b"\x00\x00\xff\xff"
_BITS = re.compile(r"[1-9][0-9]?")  # RFC 7692 7.1.2: 1*DIGIT, no leading zero


def _check_bits(name: str, value: int | None) -> None:
    # 8 is valid on the wire but zlib cannot deflate with a 256-byte window: refused
    # here as an option; an offer asking the server for it is declined.
    if value is not None and (isinstance(value, bool) or not 9 <= value <= 15):
        raise ValueError(f"{name} must be None or 9..15, got {value!r}")


@dataclass(frozen=True, slots=True)
class DeflateOptions:
    """What the server accepts, after Node's ``ws`` ``perMessageDeflate`` options.

    The decompressed size of a message is bounded by the connection's maximum message
    size (``max_payload``): a message inflating past it fails the connection with 1009.
    """

    #: Messages shorter than this many bytes are sent uncompressed (Node's ``ws``: 1,024).
    threshold: int = 1024
    #: Compress every message on its own (no shared window): costs ratio, saves the
    #: ~260 KiB a deflate stream keeps per connection, and lets a broadcast be
    #: compressed once for all such recipients. Granted too whenever a client asks.
    server_no_context_takeover: bool = False
    #: Ask clients to compress every message on its own (saves our inflate window).
    client_no_context_takeover: bool = False
    #: Our deflate window (9..15); None: what the client asks, else 15.
    server_max_window_bits: int | None = None
    #: The client's window (9..15), granted only to clients that offer the parameter.
    client_max_window_bits: int | None = None
    #: zlib level 0..9, -1 for zlib's default (6), as ``ws``'s ``zlibDeflateOptions.level``.
    level: int = -1
    #: zlib memLevel 1..9 (``ws``'s ``zlibDeflateOptions.memLevel``).
    mem_level: int = 8

    def __post_init__(self) -> None:
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, int) or self.threshold < 0:
            raise ValueError(f"threshold must be a non-negative integer, got {self.threshold!r}")
        _check_bits("server_max_window_bits", self.server_max_window_bits)
        _check_bits("client_max_window_bits", self.client_max_window_bits)
        if not -1 <= self.level <= 9:
            raise ValueError(f"level must be -1..9, got {self.level!r}")
        if not 1 <= self.mem_level <= 9:
            raise ValueError(f"mem_level must be 1..9, got {self.mem_level!r}")


# An offer's parameters: name -> value (None: the parameter without a value).
Offer = dict[str, "str | None"]


def parse_offers(header: str) -> list[Offer]:
    """The ``permessage-deflate`` offers of a ``Sec-WebSocket-Extensions`` value, in order.

    An offer with a duplicated parameter is kept with a marker (``"": None``) so that
    ``negotiate`` declines it; other extensions are skipped."""
    offers: list[Offer] = []
    for item in header.split(","):
        name, *params = (p.strip() for p in item.split(";"))
        if name.lower() != EXTENSION:
            continue
        offer: Offer = {}
        for param in params:
            key, eq, value = param.partition("=")
            key = key.strip().lower()
            val: str | None = value.strip() if eq else None
            if val is not None and len(val) >= 2 and val[0] == val[-1] == '"':
                val = val[1:-1]
            offer[key if key not in offer and key else ""] = val
        offers.append(offer)
    return offers


@dataclass(frozen=True, slots=True)
class Agreement:
    """A negotiated configuration, from the server's side."""

    server_no_context_takeover: bool
    client_no_context_takeover: bool
    server_max_window_bits: int  # what we deflate with
    client_max_window_bits: int  # what the client deflates with: our inflate window
    response: str  # the Sec-WebSocket-Extensions value of the 101


def _bits(value: str | None) -> int | None:
    """A window-bits value, or -1 when it is not one (the offer is declined)."""
    if value is None or not _BITS.fullmatch(value) or not 8 <= int(value) <= 15:
        return -1
    return int(value)


def _accept(offer: Offer, options: DeflateOptions) -> Agreement | None:
    for key, value in offer.items():
        if key in ("server_no_context_takeover", "client_no_context_takeover"):
            if value is not None:
                return None
        elif key == "server_max_window_bits":
            bits = _bits(value)
            if bits == -1 or bits == 8:  # zlib has no 256-byte deflate window
                return None
        elif key == "client_max_window_bits":
            if value is not None and _bits(value) == -1:
                return None
        else:
            return None  # unknown parameter, duplicate, or empty name
    params = [EXTENSION]
    server_nct = options.server_no_context_takeover or "server_no_context_takeover" in offer
    client_nct = options.client_no_context_takeover or "client_no_context_takeover" in offer
    if server_nct:
        params.append("server_no_context_takeover")
    if client_nct:
        params.append("client_no_context_takeover")
    server_bits = 15
    offered = offer.get("server_max_window_bits")
    if offered is not None:
        server_bits = int(offered)
    if options.server_max_window_bits is not None:
        server_bits = min(server_bits, options.server_max_window_bits)
    if server_bits < 15 or offered is not None:
        params.append(f"server_max_window_bits={server_bits}")
    client_bits = 15
    if "client_max_window_bits" in offer:
        asked = offer["client_max_window_bits"]
        client_bits = int(asked) if asked is not None else 15
        if options.client_max_window_bits is not None:
            client_bits = min(client_bits, options.client_max_window_bits)
        if client_bits < 15 or asked is not None:
            params.append(f"client_max_window_bits={client_bits}")
    elif options.client_max_window_bits is not None:
        return None  # a window we need cannot be set on a client that did not offer it
    return Agreement(server_nct, client_nct, server_bits, client_bits, "; ".join(params))


def negotiate(header: str | None, options: DeflateOptions) -> Agreement | None:
    """The first offer of ``header`` the server can accept, or None (no compression)."""
    if not header:
        return None
    for offer in parse_offers(header):
        agreement = _accept(offer, options)
        if agreement is not None:
            return agreement
    return None


def encode_compressed_frame(opcode: int, payload: bytes) -> bytes:
    """An unmasked server frame with RSV1 set: ``payload`` is already deflated."""
    return encode_frame(opcode, payload, rsv1=True)


def deflate_once(payload: bytes, wbits: int, level: int, mem_level: int) -> bytes:
    """``payload`` deflated with a fresh stream (no context), as a message body."""
    c = zlib.compressobj(level, zlib.DEFLATED, -wbits, mem_level)
    data = c.compress(payload) + c.flush(zlib.Z_SYNC_FLUSH)
    return data[:-4] if data.endswith(_TAIL) else data


class Deflater(Protocol):
    """A ``zlib.compressobj``."""

    def compress(self, data: bytes, /) -> bytes: ...

    def flush(self, mode: int = ..., /) -> bytes: ...


class Inflater(Protocol):
    """A ``zlib.decompressobj``."""

    @property
    def eof(self) -> bool: ...

    def decompress(self, data: bytes, /, max_length: int = ...) -> bytes: ...


class PerMessageDeflate:
    """One connection's compression state: our deflate stream, the peer's inflate stream.

    ``compress`` and the inflate methods keep their zlib objects across messages unless
    the agreement says no context takeover for that direction."""

    __slots__ = ("_deflater", "_inflater", "agreement", "key", "options")

    def __init__(self, agreement: Agreement, options: DeflateOptions) -> None:
        self.agreement = agreement
        self.options = options
        #: What a message deflated without context for this connection depends on: equal
        #: keys can share the very same compressed bytes (a broadcast compresses once).
        self.key = (agreement.server_max_window_bits, options.level, options.mem_level)
        self._deflater: Deflater | None = None
        self._inflater: Inflater | None = None

    @property
    def shared(self) -> bool:
        """True when messages are deflated without context: the same bytes suit any peer
        with the same ``key``."""
        return self.agreement.server_no_context_takeover

    def compress(self, payload: bytes) -> bytes:
        """``payload`` as the body of a compressed message (RSV1 frame)."""
        if self.agreement.server_no_context_takeover:
            return deflate_once(payload, *self.key)
        c = self._deflater
        if c is None:
            c = self._deflater = zlib.compressobj(
                self.options.level, zlib.DEFLATED, -self.key[0], self.options.mem_level
            )
        data = c.compress(payload) + c.flush(zlib.Z_SYNC_FLUSH)
        return data[:-4] if data.endswith(_TAIL) else data

    def inflate(self, chunk: bytes, limit: int) -> bytes:
        """Inflate part of a compressed message; at most ``limit`` bytes may come out,
        more fails the connection with 1009 before any more is allocated."""
        d = self._inflater
        if d is None:
            # zlib inflates a 256-byte window only as 512: 8 is read with 9 (a superset).
            d = self._inflater = zlib.decompressobj(-max(9, self.agreement.client_max_window_bits))
        try:
            out = d.decompress(chunk, limit + 1)  # max_length 0 would mean no limit
        except zlib.error as exc:
            self._inflater = None
            raise ProtocolError(CloseCode.INVALID_DATA, f"invalid deflate data: {exc}") from None
        if len(out) > limit:
            self._inflater = None
            raise ProtocolError(CloseCode.MESSAGE_TOO_BIG, "message too big once inflated")
        return out

    def finish(self, limit: int) -> bytes:
        """The end of a compressed message: the rest of its data, bounded as ``inflate``."""
        out = self.inflate(_TAIL, limit)
        d = self._inflater
        if d is not None and (d.eof or self.agreement.client_no_context_takeover):
            self._inflater = None  # a final block, or no context: a fresh stream next time
        return out
