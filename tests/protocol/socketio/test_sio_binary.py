"""Placeholder helpers shared by the encoder, the decoder and other layers."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

import tidings.protocol.socketio as sio
from tidings.protocol.socketio import (
    DecodeError,
    deconstruct,
    has_binary,
    is_binary,
    is_placeholder,
    placeholder,
)
from tidings.protocol.socketio.binary import fill_placeholders, find_placeholders


def test_is_binary() -> None:
    assert is_binary(b"") and is_binary(bytearray()) and is_binary(memoryview(b"x"))
    assert not is_binary("x") and not is_binary([b"x"]) and not is_binary(None)


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (b"x", True),
        (["a", 1, None], False),
        ({"a": [1, {"b": (2, bytearray(b"z"))}]}, True),
        ({b"key": 1}, False),  # keys are never attachments
        ("bytes", False),
        ([], False),
    ],
)
def test_has_binary(obj: Any, expected: bool) -> None:
    assert has_binary(obj) is expected


def test_placeholder_helpers() -> None:
    assert placeholder(3) == {"_placeholder": True, "num": 3}
    assert is_placeholder(placeholder(0))
    assert not is_placeholder({"_placeholder": 1, "num": 0})
    assert not is_placeholder([True])


def test_deconstruct_then_fill_gives_the_data_back() -> None:
    data = ["ev", {"a": [b"0", {"b": b"1"}]}, (b"2",), "plain"]
    stripped, buffers = deconstruct(data)
    assert buffers == (b"0", b"1", b"2")
    assert stripped == [
        "ev",
        {"a": [placeholder(0), {"b": placeholder(1)}]},
        [placeholder(2)],
        "plain",
    ]
    slots = find_placeholders(stripped, len(buffers), max_depth=10)
    fill_placeholders(slots, list(buffers))
    assert stripped == ["ev", {"a": [b"0", {"b": b"1"}]}, [b"2"], "plain"]


def test_find_placeholders_checks_each_num() -> None:
    assert find_placeholders("scalar", 1, 5) == []
    with pytest.raises(DecodeError, match="placeholder"):
        find_placeholders([placeholder(2)], 2, 5)


def test_protocol_package_imports_no_io() -> None:
    """Sans-I/O: no asyncio, sockets, threads or clocks, and nothing from upper layers."""
    package = Path(sio.__file__).parent
    files = sorted(package.glob("*.py"))
    serializers = package.parent.parent / "serializers.py"
    forbidden = {"asyncio", "socket", "selectors", "threading", "time", "ssl"}
    for path in [*files, serializers]:
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in forbidden, f"{path.name} imports {name}"
                if name.startswith("tidings"):
                    assert name.startswith(("tidings.protocol", "tidings.serializers")), (
                        f"{path.name} imports {name}"
                    )
