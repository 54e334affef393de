"""A real browser on long-polling: Chromium sends ``Accept-Encoding`` on every request, so
tidings' polling answers over the threshold reach it gzip'd, and the official browser client
(served by tidings itself) reads them intact."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

import tidings
from tests.demo.harness import Browser
from tests.e2e.harness import serving
from tidings.engine import HttpRequest

CONNECT_AND_ASK = """async (n) => {
  await new Promise((ok, fail) => {
    const script = document.createElement("script");
    script.src = "/socket.io/socket.io.min.js";
    script.onload = ok;
    script.onerror = fail;
    document.head.appendChild(script);
  });
  const socket = io({ transports: ["polling"], reconnection: false });
  await new Promise((ok) => socket.on("connect", ok));
  const big = await socket.emitWithAck("big", n);
  const small = await socket.emitWithAck("big", 10);
  socket.disconnect();
  return [big === "é".repeat(n), small];
}"""


async def test_chromium_gets_compressed_polls_and_reads_them(node_bin: str) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is not on PATH: scripts/test installs it (apt-get install -y chromium)")
    sio = tidings.Server()
    seen: list[tuple[str | None, str | None]] = []

    @sio.engine.on("headers")
    def record(headers: dict[str, str], request: HttpRequest) -> None:
        if request.method == "GET" and "sid" in request.query:
            seen.append((request.headers.get("accept-encoding"), headers.get("Content-Encoding")))

    @sio.on("big")
    def big(socket: tidings.Socket, n: int) -> str:
        return "é" * n

    async with serving(sio) as url:
        with tempfile.TemporaryDirectory(prefix="tidings-chromium-") as profile:
            browser = await Browser.start(node_bin, chromium, Path(profile))
            try:
                await browser.call("open", name="p")
                await browser.call("goto", name="p", url=url + "/socket.io/socket.io.min.js")
                result: Any = await browser.call("evaluate", name="p", expression=CONNECT_AND_ASK, arg=20_000)
            finally:
                await browser.close()
    assert result == [True, "é" * 10]
    accepts = {accept for accept, _ in seen}
    assert accepts and all(a is not None and "gzip" in a for a in accepts)
    # The 40 KB answer was gzip'd; the small ones (CONNECT, the 10-character answer) were not.
    assert ("gzip" in [encoding for _, encoding in seen]) and (None in [e for _, e in seen])
