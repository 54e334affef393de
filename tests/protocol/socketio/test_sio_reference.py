"""Differential tests against the reference socket.io-parser (run in Node).

Encoding: our text and attachments must equal the reference encoder's, byte
for byte. Decoding: on a deterministic corpus of near-valid packets we must
never accept what the reference refuses, must decode what both accept to the
same packet, and may refuse more only for the documented reasons below.
"""

from __future__ import annotations

import base64
import json
import random
import subprocess
from pathlib import Path
from typing import Any

from tidings.protocol.socketio import (
    MAX_ACK_ID,
    RESERVED_EVENTS,
    DecodeError,
    Decoder,
    OrjsonSerializer,
    Packet,
    PacketType,
    encode,
)

T = PacketType
ORACLE = Path(__file__).with_name("parser_oracle.mjs")


def _to_wire_json(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"$b64": base64.b64encode(value).decode()}
    if isinstance(value, list):
        return [_to_wire_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _to_wire_json(v) for k, v in value.items()}
    return value


def _run_oracle(node_bin: str, work: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [node_bin, str(ORACLE)],
        input=json.dumps(work).encode(),
        capture_output=True,
        timeout=30,
        cwd=ORACLE.parent,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    result: dict[str, Any] = json.loads(done.stdout)
    return result


# -- corpus ---------------------------------------------------------------------------------

_STRINGS = [
    "",
    "a",
    "hello",
    "é",
    "日本語",
    "😀",
    'q"uote',
    "back\\slash",
    "\n\t\r",
    "\x01\x1f",
    "\x7f",
    "/,:",
    "\u2028",
]
_KEYS = ["a", "b", "name", "_x", "key with space", "é", "sid"]
_FLOATS = [0.5, -2.25, 3.14159, 123.456]


def _value(rng: random.Random, depth: int) -> Any:
    roll = rng.random()
    if depth < 3 and roll < 0.2:
        return [_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if depth < 3 and roll < 0.4:
        return {k: _value(rng, depth + 1) for k in rng.sample(_KEYS, rng.randrange(4))}
    if roll < 0.5:
        return rng.randbytes(rng.randrange(5))
    return rng.choice(
        [
            rng.choice(_STRINGS),
            rng.randrange(-(2**53) + 1, 2**53),
            rng.randrange(-5, 100),
            rng.choice(_FLOATS),
            rng.choice([True, False, None]),
        ]
    )


def _without_bytes(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list):
        return [_without_bytes(v) for v in value]
    if isinstance(value, dict):
        return {k: _without_bytes(v) for k, v in value.items()}
    return value


def _packets(rng: random.Random, count: int) -> list[Packet]:
    packets: list[Packet] = []
    for _ in range(count):
        nsp = rng.choice(["/", "/", "/admin", "/é", "/a/b"])
        kind = rng.choice([T.CONNECT, T.DISCONNECT, T.EVENT, T.EVENT, T.ACK, T.CONNECT_ERROR])
        args = [_value(rng, 1) for _ in range(rng.randrange(4))]
        ack_id = rng.choice([None, 0, 7, rng.randrange(MAX_ACK_ID)])
        if kind is T.EVENT:
            name = rng.choice([s for s in _STRINGS if s not in RESERVED_EVENTS])
            packets.append(Packet(kind, nsp, [name, *args], ack_id))
        elif kind is T.ACK:
            packets.append(Packet(kind, nsp, args, ack_id if ack_id is not None else 1))
        elif kind is T.CONNECT:
            data = rng.choice([None, {k: _without_bytes(_value(rng, 2)) for k in _KEYS[:3]}])
            packets.append(Packet(kind, nsp, data))
        elif kind is T.DISCONNECT:
            packets.append(Packet(kind, nsp))
        else:
            reason: Any = rng.choice(
                ["legacy", {"message": "no", "data": _without_bytes(_value(rng, 2))}]
            )
            packets.append(Packet(kind, nsp, reason))
    return packets


_FRAGMENTS = [
    "0", "1", "2", "3", "4", "5", "6", "7", "1-", "2-", "-", "/", "/admin", ",", "12", "007",
    "[", "]", "{", "}", '"', '"ev"', '"a"', ":", "true", "false", "null", '"_placeholder"',
    '"num"', "-1", '"connect"', '"disconnect"', '"newListener"', " ", "\t", "x", "é",
]  # fmt: skip


def _mutate(rng: random.Random, text: str) -> str:
    chars = list(text)
    for _ in range(rng.randrange(1, 4)):
        op = rng.randrange(3)
        pos = rng.randrange(len(chars) + 1)
        if op == 0:
            chars[pos:pos] = rng.choice(_FRAGMENTS)
        elif op == 1 and chars:
            del chars[min(pos, len(chars) - 1)]
        elif chars:
            chars[min(pos, len(chars) - 1)] = rng.choice(_FRAGMENTS)
    return "".join(chars)


def _json_part(rng: random.Random, depth: int = 0) -> str:
    roll = rng.random()
    if depth < 3 and roll < 0.25:
        return "[" + ",".join(_json_part(rng, depth + 1) for _ in range(rng.randrange(3))) + "]"
    if depth < 3 and roll < 0.4:
        keys = rng.sample(
            ['"a"', '"_placeholder"', '"num"', '"message"', '"sid"'], rng.randrange(3)
        )
        return "{" + ",".join(f"{k}:{_json_part(rng, depth + 1)}" for k in keys) + "}"
    if roll < 0.55:
        return (
            '{"_placeholder":'
            + rng.choice(["true", "1", '"true"'])
            + ',"num":'
            + (rng.choice(["0", "1", "2", "-1", "true", '"0"', "null"]) + "}")
        )
    return rng.choice(
        ['"ev"', '"connect"', '"disconnecting"', '"removeListener"', '""', "0", "42", "-7",
         "true", "false", "null", '"x"', "9007199254740993"]
    )  # fmt: skip


def _grammar(rng: random.Random) -> str:
    """Near-valid packets: each part well-formed or slightly off."""
    parts = [rng.choice("0123456" * 4 + "78 x")]
    if rng.random() < 0.4:
        parts.append(rng.choice(["1", "2", "3", "0", "10", "11", "01", "x", ""]) + "-")
    if rng.random() < 0.4:
        parts.append(rng.choice(["/admin", "/", "/a/b", "/é"]) + rng.choice([",", ",", ""]))
    if rng.random() < 0.4:
        parts.append(rng.choice(["0", "1", "12", "007", "9007199254740991", "9007199254740992"]))
    if rng.random() < 0.9:
        payload = rng.choice(["[", "[", "{", ""])
        items = [_json_part(rng) for _ in range(rng.randrange(4))]
        if rng.random() < 0.5:
            items.insert(0, '"ev"')
        if payload == "[":
            payload = "[" + ",".join(items) + "]"
        elif payload == "{":
            payload = '{"message":"no","data":' + (items[0] if items else "1") + "}"
        else:
            payload = items[0] if items else ""
        parts.append(payload)
    return "".join(parts)


def _decode_corpus(rng: random.Random, seeds: list[str]) -> list[str]:
    corpus = list(seeds)
    corpus += [_mutate(rng, rng.choice(seeds)) for _ in range(2000)]
    corpus += [
        "".join(rng.choice(_FRAGMENTS) for _ in range(rng.randrange(1, 12))) for _ in range(1000)
    ]
    corpus += [_grammar(rng) for _ in range(3000)]
    return corpus


# -- comparison -----------------------------------------------------------------------------


def _ours(text: str) -> Packet | str:
    decoder = Decoder(OrjsonSerializer())
    try:
        packet = decoder.receive(text)
        k = 0
        while packet is None:
            packet = decoder.receive(bytes([k]))
            k += 1
    except DecodeError as exc:
        return exc.reason
    return packet


def _same(ours: Any, theirs: Any) -> bool:
    """Equality of JSON values, with numbers beyond 2**53 compared as JavaScript sees them."""
    if isinstance(ours, bool) or isinstance(theirs, bool):
        return ours is theirs
    if isinstance(ours, (int, float)) and isinstance(theirs, (int, float)):
        return float(ours) == float(theirs)
    if isinstance(ours, list) and isinstance(theirs, list):
        return len(ours) == len(theirs) and all(map(_same, ours, theirs))
    if isinstance(ours, dict) and isinstance(theirs, dict):
        return ours.keys() == theirs.keys() and all(_same(ours[k], theirs[k]) for k in ours)
    return bool(ours == theirs)


def _why_stricter(text: str, reason: str, theirs: dict[str, Any]) -> str | None:
    """Why refusing what the reference accepted is deliberate; None if it is not."""
    ptype, data, ack_id = theirs["type"], theirs.get("data"), theirs.get("id")
    if ptype == T.EVENT and isinstance(data, list) and data and not isinstance(data[0], str):
        return "event names are strings (the reference also takes numbers)"
    if data is None and ptype not in (T.CONNECT, T.DISCONNECT):
        return "EVENT, ACK and CONNECT_ERROR need a payload (the reference skips the check)"
    if ptype == T.ACK and ack_id is None:
        return "an ACK needs an id"
    if ptype not in (T.EVENT, T.ACK) and ack_id is not None:
        return "only EVENT and ACK carry an id"
    if ack_id is not None and ack_id > MAX_ACK_ID:
        return "ack ids stay exact in JavaScript"
    if reason == "empty packet" or (reason == "unknown packet type" and text[0].isspace()):
        return "an empty or blank type (the reference reads it as CONNECT)"
    if reason == "invalid payload":
        return "whitespace before the payload (the reference reads it as ack id 0)"
    if reason == "invalid attachment count":
        return "attachment counts are plain digits (the reference takes ' 1', '1.0', '0x1')"
    return None


def test_encoder_matches_the_reference_byte_for_byte(node_bin: str) -> None:
    packets = _packets(random.Random(20240506), 400)
    work = {
        "encode": [
            {"type": int(p.type), "nsp": p.namespace, "data": _to_wire_json(p.data), "id": p.id}
            for p in packets
        ],
        "decode": [],
    }
    theirs = _run_oracle(node_bin, work)["encoded"]
    binary = 0
    for packet, reference in zip(packets, theirs, strict=True):
        encoded = encode(packet, OrjsonSerializer())
        ours = [encoded.text, *(base64.b64encode(a).decode() for a in encoded.attachments)]
        assert ours == reference, packet
        binary += bool(encoded.attachments)
    assert binary > 50  # the corpus exercises attachments


def test_decoder_agrees_with_the_reference(node_bin: str) -> None:
    seeds = [encode(p, OrjsonSerializer()).text for p in _packets(random.Random(7), 150)]
    seeds += [
        '2["ev",{"_placeholder":true,"num":0}]',
        '52-/admin,3["ev",{"_placeholder":true,"num":1}]',
        '2[1,"x"]',
        '4{"message":"x"}',
    ]
    corpus = _decode_corpus(random.Random(99), seeds)
    results = _run_oracle(node_bin, {"encode": [], "decode": corpus})["decoded"]
    agreed = stricter = both_refused = 0
    for text, reference in zip(corpus, results, strict=True):
        ours = _ours(text)
        if "error" in reference:
            assert isinstance(ours, str), (
                f"accepted {text!r}, the reference refuses it: {reference}"
            )
            both_refused += 1
            continue
        theirs = reference["packet"]
        if isinstance(ours, str):
            why = _why_stricter(text, ours, theirs)
            assert why is not None, f"refused {text!r} ({ours}); the reference decodes {theirs}"
            stricter += 1
            continue
        assert int(ours.type) == theirs["type"], text
        assert ours.namespace == theirs["nsp"], text
        assert ours.id == theirs.get("id"), text
        assert _same(_to_wire_json(ours.data), theirs.get("data")), text
        agreed += 1
    # The corpus reaches all three outcomes in earnest.
    assert agreed > 500 and both_refused > 500 and stricter > 10, (agreed, both_refused, stricter)


DIVERGENCES = [
    '2[1,"x"]',
    "2",
    "3[]",
    '01{"a":1}',
    '2 ["x"]',
    '5 1-["x",{"_placeholder":true,"num":0}]',
    "",
    "\t",
    '2123456789012345678["x"]',
]


def test_documented_divergences_are_real(node_bin: str) -> None:
    """Each reason in _why_stricter names something the reference really accepts."""
    results = _run_oracle(node_bin, {"encode": [], "decode": DIVERGENCES})["decoded"]
    for text, reference in zip(DIVERGENCES, results, strict=True):
        assert "packet" in reference, text
        ours = _ours(text)
        assert isinstance(ours, str), text
        assert _why_stricter(text, ours, reference["packet"]) is not None, text
