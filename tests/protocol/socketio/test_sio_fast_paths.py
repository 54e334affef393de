"""The decoder's short path for an EVENT on "/" gives what its general path gives.

``Decoder.receive`` reads the commonest packet in few steps and hands anything
else to ``receive_text``; a packet or an error that differed between the two
would make the server's behaviour depend on which path a message happened to take.
"""

from __future__ import annotations

from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from tidings.protocol.socketio import (
    MAX_ACK_ID,
    DecodeError,
    Decoder,
    DecoderLimits,
    JsonSerializer,
    OrjsonSerializer,
    Packet,
    PacketType,
    Serializer,
    encode,
)

serializers = st.sampled_from([OrjsonSerializer(), JsonSerializer()])
limits = st.sampled_from(
    [
        DecoderLimits(),
        DecoderLimits(max_ack_id=0),
        DecoderLimits(max_ack_id=9),
        DecoderLimits(max_ack_id=150),
        DecoderLimits(max_ack_id=10**6, max_namespace_length=3),
    ]
)

_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=8)
_json = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), _text),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_text, inner, max_size=3)),
    max_leaves=6,
)
_names = st.one_of(st.sampled_from(["msg", "connect", "disconnect", "newListener", ""]), _text)
_ack_ids = st.one_of(
    st.none(), st.integers(0, 200), st.integers(0, MAX_ACK_ID), st.just(MAX_ACK_ID)
)
_namespaces = st.one_of(st.just("/"), st.just("/"), st.sampled_from(["/a", "/chat", "/ab,c"]))


@st.composite
def encoded_events(draw: st.DrawFn) -> str:
    """The wire text of a valid EVENT (what peers send nearly always), binary ones included."""
    name = draw(_names.filter(lambda n: n not in ("connect", "disconnect", "newListener")))
    args = draw(st.lists(st.one_of(_json, st.binary(max_size=3)), max_size=3))
    nsp = draw(_namespaces.filter(lambda n: "," not in n))
    packet = Packet(PacketType.EVENT, nsp, [name, *args], draw(_ack_ids))
    return encode(packet, OrjsonSerializer()).text


# Pieces of near-valid EVENT texts: ids of every length, non-ASCII digits, namespaces,
# payloads that are not arrays, reserved names, broken JSON.
_heads = st.sampled_from(
    ["2", "2", "2", "20", "207", "2007", "2" + "9" * 16, "2" + "1" * 17, "2\u0661", "2\u00b2",
     "2 ", "2/", "2/a,", "2/a,7", "25-", "21-", "3", "31", "", "2-1", "2+1", "2٣"]
)  # fmt: skip
_bodies = st.one_of(
    st.sampled_from(
        ['["msg"]', '["msg",1,{"a":[2]}]', '["connect"]', '["disconnect",1]', "[]", "[1]",
         '[null,"x"]', '{"a":1}', '"str"', "1", "[", '["msg"', '["msg"]x', '["msg"] ',
         '[["msg"]]', '["\\ud800"]', '["msg",NaN]', '["é"]', "", " [\"msg\"]", "[" * 40]
    ),
    _json.map(lambda v: OrjsonSerializer().dumps(v)),
)  # fmt: skip
near_events = st.builds(lambda h, b: h + b, _heads, _bodies)


def _mutate(text: str, data: st.DataObject) -> str:
    """One character inserted, replaced or removed: a valid text made slightly invalid."""
    if not text:
        return text
    i = data.draw(st.integers(0, len(text)))
    ch = data.draw(st.sampled_from(list('2[]",0194/ -\u0661é')))
    kind = data.draw(st.sampled_from(["insert", "replace", "delete"]))
    if kind == "insert":
        return text[:i] + ch + text[i:]
    if kind == "replace":
        return text[:i] + ch + text[i + 1 :]
    return text[:i] + text[i + 1 :]


def _outcome(call: Any) -> tuple[Any, ...]:
    try:
        packet = call()
    except DecodeError as exc:
        return ("error", type(exc), str(exc))
    return ("packet", packet)


def _assert_same(serializer: Serializer, lim: DecoderLimits, text: str) -> None:
    fast = Decoder(serializer, lim)
    general = Decoder(serializer, lim)
    assert _outcome(lambda: fast.receive(text)) == _outcome(lambda: general.receive_text(text))
    assert fast.awaiting_attachments == general.awaiting_attachments


@settings(max_examples=400, deadline=None)
@given(serializer=serializers, lim=limits, text=encoded_events())
@example(serializer=OrjsonSerializer(), lim=DecoderLimits(), text='2["msg",1]')
@example(serializer=OrjsonSerializer(), lim=DecoderLimits(max_ack_id=150), text='2151["msg"]')
def test_encoded_events_decode_alike(serializer: Serializer, lim: DecoderLimits, text: str) -> None:
    _assert_same(serializer, lim, text)


@settings(max_examples=600, deadline=None)
@given(serializer=serializers, lim=limits, text=near_events)
def test_near_valid_events_decode_or_fail_alike(
    serializer: Serializer, lim: DecoderLimits, text: str
) -> None:
    _assert_same(serializer, lim, text)


@settings(max_examples=400, deadline=None)
@given(
    serializer=serializers,
    lim=limits,
    text=st.one_of(encoded_events(), near_events),
    data=st.data(),
)
def test_mutated_events_decode_or_fail_alike(
    serializer: Serializer, lim: DecoderLimits, text: str, data: st.DataObject
) -> None:
    _assert_same(serializer, lim, _mutate(_mutate(text, data), data))


@settings(max_examples=200, deadline=None)
@given(serializer=serializers, text=st.text(max_size=40))
def test_any_text_decodes_or_fails_alike(serializer: Serializer, text: str) -> None:
    _assert_same(serializer, DecoderLimits(), "2" + text)
    _assert_same(serializer, DecoderLimits(), text)


@settings(max_examples=100, deadline=None)
@given(serializer=serializers, text=st.one_of(encoded_events(), near_events))
def test_text_while_attachments_are_due_fails_alike(serializer: Serializer, text: str) -> None:
    """A pending binary packet makes any text an error, on the short path's side too."""
    fast = Decoder(serializer)
    general = Decoder(serializer)
    assert fast.receive('51-["ev",{"_placeholder":true,"num":0}]') is None
    assert general.receive('51-["ev",{"_placeholder":true,"num":0}]') is None
    assert _outcome(lambda: fast.receive(text)) == _outcome(lambda: general.receive_text(text))
    assert fast.awaiting_attachments == general.awaiting_attachments == 0
