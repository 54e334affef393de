import os
import struct

import pytest

from tidings.protocol.websocket import (
    CloseCode,
    Opcode,
    apply_mask,
    encode_close,
    encode_frame,
    is_valid_close_code,
)


def reference_mask(data: bytes, mask: bytes, offset: int = 0) -> bytes:
    return bytes(b ^ mask[(i + offset) % 4] for i, b in enumerate(data))


@pytest.mark.parametrize("n", [0, 1, 3, 4, 5, 125, 16383, 16384, 16385, 40000, 65537])
@pytest.mark.parametrize("offset", [0, 1, 2, 3])
def test_apply_mask_matches_bytewise_xor(n: int, offset: int) -> None:
    data = os.urandom(n)
    mask = b"\x01\x80\xfe\x7f"
    assert apply_mask(data, mask, offset) == reference_mask(data, mask, offset)


def test_apply_mask_is_an_involution_and_keeps_leading_zeros() -> None:
    data = b"\x00" * 10 + b"abc" + b"\x00" * 10
    mask = b"\x00\x00\x00\x00"
    assert apply_mask(data, mask) == data
    masked = apply_mask(data, b"\x12\x34\x56\x78")
    assert len(masked) == len(data)
    assert apply_mask(masked, b"\x12\x34\x56\x78") == data


@pytest.mark.parametrize(
    ("n", "header"),
    [
        (0, b"\x81\x00"),
        (125, b"\x81\x7d"),
        (126, b"\x81\x7e\x00\x7e"),
        (65535, b"\x81\x7e\xff\xff"),
        (65536, b"\x81\x7f" + struct.pack("!Q", 65536)),
    ],
)
def test_encode_frame_length_encodings(n: int, header: bytes) -> None:
    frame = encode_frame(Opcode.TEXT, b"x" * n)
    assert frame == header + b"x" * n


def test_encode_frame_fragment_and_opcodes() -> None:
    assert encode_frame(Opcode.BINARY, b"ab", fin=False) == b"\x02\x02ab"
    assert encode_frame(Opcode.CONT, b"c") == b"\x80\x01c"
    assert encode_frame(Opcode.PONG, b"") == b"\x8a\x00"


def test_encode_close() -> None:
    assert encode_close(1000) == b"\x88\x02\x03\xe8"
    assert encode_close(CloseCode.GOING_AWAY, "bye") == b"\x88\x05\x03\xe9bye"
    assert encode_close(None) == b"\x88\x00"
    with pytest.raises(ValueError):
        encode_close(1005)
    with pytest.raises(ValueError):
        encode_close(1000, "x" * 124)
    with pytest.raises(ValueError):
        encode_close(None, "reason without code")


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4999])
def test_valid_close_codes(code: int) -> None:
    assert is_valid_close_code(code)


@pytest.mark.parametrize(
    "code", [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]
)
def test_invalid_close_codes(code: int) -> None:
    assert not is_valid_close_code(code)
