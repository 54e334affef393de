"""Counting what the server deflates: the tests' view of "compressed once" and "not at all"."""

from __future__ import annotations

import pytest

from tidings.protocol.websocket.deflate import PerMessageDeflate


def count_deflates(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes of the payloads every ``PerMessageDeflate`` compresses from now on."""
    compressed: list[int] = []
    compress = PerMessageDeflate.compress

    def counting(self: PerMessageDeflate, payload: bytes) -> bytes:
        compressed.append(len(payload))
        return compress(self, payload)

    monkeypatch.setattr(PerMessageDeflate, "compress", counting)
    return compressed
