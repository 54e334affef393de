"""The compiled masker the built-in server injects gives the same bytes as the pure one."""

from __future__ import annotations

import os
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tidings.protocol.websocket import ServerConnection, py_apply_mask
from tidings.standalone.speedups import masker


def test_the_compiled_masker_is_used_when_installed() -> None:
    assert masker is not py_apply_mask  # websockets is a dev dependency: the C path is tested


@pytest.mark.parametrize("n", [0, 1, 5, 125, 16385, 65537])
@pytest.mark.parametrize("offset", [0, 1, 2, 3])
def test_compiled_and_pure_maskers_agree(n: int, offset: int) -> None:
    data = os.urandom(n)
    mask = os.urandom(4)
    assert masker(data, mask, offset) == py_apply_mask(data, mask, offset)


@given(
    st.one_of(
        st.binary(max_size=1024),
        # Longer ones cross the pure masker's 16 KiB blocks; seeded, so a failure replays.
        st.tuples(st.integers(1024, 70_000), st.integers(0, 2**32)).map(
            lambda t: random.Random(t[1]).randbytes(t[0])
        ),
    ),
    st.binary(min_size=4, max_size=4),
    st.integers(0, 1 << 20),
)
def test_both_maskers_agree_on_any_payload_key_and_offset(
    data: bytes, mask: bytes, offset: int
) -> None:
    assert masker(data, mask, offset) == py_apply_mask(data, mask, offset)


@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_a_connection_with_the_compiled_masker_reads_fragmented_frames(chunk: int) -> None:
    payload = os.urandom(70_000)
    mask = b"\x11\x22\x33\x44"
    frame = bytes((0x82, 0x80 | 127)) + len(payload).to_bytes(8, "big") + mask
    frame += py_apply_mask(payload, mask)
    conn = ServerConnection(100_000, masker=masker)
    for i in range(0, len(frame), chunk):
        conn.receive_data(frame[i : i + chunk])
    (event,) = conn.events_received()
    assert event.data == payload  # type: ignore[attr-defined]
