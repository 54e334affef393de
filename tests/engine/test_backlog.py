"""The slow-consumer backlog on its own: order, conflation, dropping, bounded bookkeeping."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tidings.engine.backlog import Backlog
from tidings.protocol.prepared import PreparedMessage


def event(i: int, key: str | None = None, droppable: bool = True) -> PreparedMessage:
    return PreparedMessage([f'2["e",{i}]'], droppable=droppable, key=key)


def drain(backlog: Backlog) -> list[str | bytes | PreparedMessage]:
    out = []
    while (item := backlog.popleft()) is not None:
        out.append(item)
    assert backlog.nbytes == 0 and len(backlog) == 0
    return out


def test_order_is_kept_and_sizes_add_up() -> None:
    backlog = Backlog()
    items: list[str | bytes | PreparedMessage] = ["ack", b"\x01\x02", event(1)]
    for item in items:
        assert backlog.append(item) == 0
    assert backlog.nbytes == 3 + 2 + len(event(1).ws_frames)
    assert drain(backlog) == items


def test_conflation_keeps_the_latest_of_a_key_at_its_own_place() -> None:
    backlog = Backlog()
    a1, b1, a2 = event(1, "a"), event(2, "b"), event(3, "a")
    assert backlog.append(a1) == 0
    assert backlog.append(b1) == 0
    assert backlog.append(a2) == 1
    assert drain(backlog) == [b1, a2]


def test_make_room_drops_the_oldest_droppable_only() -> None:
    backlog = Backlog()
    keep = ["ack-1", event(0, droppable=False)]
    backlog.append(keep[0])
    drops = [event(i) for i in range(1, 4)]
    for item in drops:
        backlog.append(item)
    backlog.append(keep[1])
    size = len(drops[0].ws_frames)
    assert backlog.make_room(backlog.nbytes - size) == 1
    assert backlog.make_room(0) == 2  # nothing else may go: still over
    assert backlog.nbytes == len(keep[0]) + len(keep[1].ws_frames)
    assert drain(backlog) == keep


def test_a_stalled_client_s_conflated_backlog_stays_small() -> None:
    backlog = Backlog()
    for i in range(100_000):
        backlog.append(event(i, key=f"k{i % 3}"))
    assert len(backlog) == 3
    # Replaced entries are compacted away, not kept behind the live ones.
    assert len(backlog._entries) < 200 and len(backlog._droppable) < 200
    assert [item.parts for item in drain(backlog)] == [  # type: ignore[union-attr]
        (f'2["e",{i}]',) for i in range(99_997, 100_000)
    ]


@given(st.lists(st.tuples(st.sampled_from(["append", "pop", "room"]), st.integers(0, 5), st.booleans())))
def test_against_a_list(ops: list[tuple[str, int, bool]]) -> None:
    """Property: the backlog behaves as a plain list with the same rules."""
    backlog, model = Backlog(), []
    n = 0
    for op, k, droppable in ops:
        if op == "append":
            key = f"k{k}" if droppable and k < 3 else None
            item = event(n, key, droppable)
            n += 1
            if key is not None:
                model = [m for m in model if m.key != key]
            model.append(item)
            backlog.append(item)
        elif op == "pop":
            assert backlog.popleft() == (model.pop(0) if model else None)
        else:
            limit = sum(len(m.ws_frames) for m in model) - k * 10
            while sum(len(m.ws_frames) for m in model) > limit and any(m.droppable for m in model):
                model.remove(next(m for m in model if m.droppable))
            backlog.make_room(limit)
        assert backlog.nbytes == sum(len(m.ws_frames) for m in model)
        assert len(backlog) == len(model)
    assert drain(backlog) == model
