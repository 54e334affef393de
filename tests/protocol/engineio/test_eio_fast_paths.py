"""``ServerSession.take_message`` gives what ``receive_websocket`` gives.

The I/O layer reads most WebSocket messages through ``take_message``, which
builds no event; if it ever took a message the general path would have treated
differently (a deadline passed, an upgrade under way, a message too large), the
session would drift. For any history of the session, a message it takes must be
exactly one ``MessageReceived`` and nothing else on the general path; a message it
declines must leave the session untouched, so the fallback gives the general result.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from tidings.protocol.engineio import MessageReceived, ServerSession, SessionConfig

CONFIGS = [
    SessionConfig(ping_interval=25.0, ping_timeout=20.0, max_payload=1000, upgrade_timeout=10.0),
    SessionConfig(ping_interval=5.0, ping_timeout=3.0, max_payload=8, max_buffered_bytes=40),
]

_ws_messages = st.one_of(
    st.sampled_from(
        ["2probe", "5", "3", "2", "1", "6", "4", "4hi", "0", "", "x", "bAA==", "3probe"]
    ),
    st.text(max_size=12).map(lambda t: "4" + t),
    st.binary(max_size=12),
)
_bodies = st.sampled_from(
    [b"4hi", b"3", b"2", b"1", b"6", b"4a\x1e4b", b"x", b"bAAA=", b"\xff", b"4" + b"z" * 20]
)
_times = st.floats(0, 40, allow_nan=False)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("advance"), _times),
        st.tuples(st.just("send"), st.one_of(st.text(max_size=12), st.binary(max_size=6))),
        st.tuples(st.sampled_from(["poll", "take_poll", "poll_aborted", "upgrade"]), st.none()),
        st.tuples(st.sampled_from(["timer", "close", "abort", "drain"]), st.none()),
        st.tuples(st.just("post"), _bodies),
        st.tuples(st.just("ws"), _ws_messages),
        st.tuples(st.just("ws_closed"), st.sampled_from([1000, 1001, 1002, 1006])),
    ),
    max_size=14,
)


def drain(session: ServerSession) -> tuple[Any, ...]:
    """Everything the session has to say, taken out of it."""
    return (
        session.events_received(),
        session.data_to_send(),
        session.close_websocket_requested(),
    )


def play(session: ServerSession, ops: list[tuple[str, Any]], now: float) -> float:
    for name, arg in ops:
        if name == "advance":
            now += arg
        elif name == "send":
            session.send(arg)
        elif name == "poll":
            session.receive_poll(now)
        elif name == "take_poll":
            if session.poll_ready:
                session.take_poll_response()
        elif name == "poll_aborted":
            session.poll_aborted(now)
        elif name == "upgrade":
            session.start_upgrade(now)
        elif name == "timer":
            session.handle_timer(now)
        elif name == "close":
            session.close(now)
        elif name == "abort":
            session.abort("transport error", "test")
        elif name == "drain":
            drain(session)
        elif name == "post":
            session.receive_post(arg, now)
        elif name == "ws":
            session.receive_websocket(arg, now)
        elif name == "ws_closed":
            session.websocket_closed(now, arg)
    return now


def views(session: ServerSession) -> tuple[Any, ...]:
    """The whole state: every slot's value, and what the public views say."""
    return (
        session.__getstate__(),
        session.state,
        session.transport,
        session.close_reason,
        session.websocket_writable,
        session.buffered_bytes,
        session.poll_held,
        session.poll_ready,
        session.next_deadline(),
    )


@settings(max_examples=800, deadline=None)
@given(
    config=st.sampled_from(CONFIGS),
    transport=st.sampled_from(["websocket", "polling"]),
    ops=operations,
    data=_ws_messages,
    dt=st.one_of(st.just(0.0), _times),
)
@example(config=CONFIGS[0], transport="websocket", ops=[], data="4hello", dt=0.0)
@example(config=CONFIGS[0], transport="websocket", ops=[], data="4hello", dt=25.0)
@example(config=CONFIGS[1], transport="websocket", ops=[], data="4" + "x" * 8, dt=0.0)
@example(
    config=CONFIGS[0], transport="polling", ops=[("upgrade", None), ("ws", "5")], data="4a", dt=1.0
)
def test_take_message_equals_the_general_path(
    config: SessionConfig, transport: str, ops: list[tuple[str, Any]], data: str | bytes, dt: float
) -> None:
    session = ServerSession("sid", config, 1000.0, transport=transport)
    now = play(session, ops, 1000.0) + dt
    drain(session)
    before = views(session)
    fast, general = copy.deepcopy(session), copy.deepcopy(session)

    text = fast.take_message(data, now)
    general.receive_websocket(data, now)
    if text is None:
        # Declined: nothing changed, and the caller's fallback is the general path.
        assert views(fast) == before
        fast.receive_websocket(data, now)
        assert drain(fast) == drain(general)
        assert views(fast) == views(general)
    else:
        assert drain(fast) == ([], [], False)
        assert views(fast) == before
        assert drain(general) == ([MessageReceived(text)], [], False)
        assert views(general) == before


def test_the_fast_path_is_taken_in_the_steady_state() -> None:
    """The comparison above is not vacuous: an open WebSocket's messages are taken."""
    session = ServerSession("sid", CONFIGS[0], 1000.0, transport="websocket")
    assert session.take_message('42["m"]', 1001.0) == '2["m"]'
    assert session.take_message('42["m"]', 1025.0) is None  # a ping is due first
    assert session.take_message(b"4", 1001.0) is None
