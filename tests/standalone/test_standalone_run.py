"""``run()`` in a real process: uvloop, the log line, signals, graceful shutdown."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from pathlib import Path

import pytest

from tests.conftest import LOOP_ID
from tests.standalone.standalone_helpers import WsClient, close_frame, parse_close, request
from tidings.protocol.websocket import Opcode

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
import asyncio, logging, sys
import tidings.standalone
from tests.standalone.standalone_helpers import RecordingEngine

class Engine(RecordingEngine):
    async def shutdown(self, timeout):
        loop = type(asyncio.get_running_loop()).__module__
        print("shutdown", timeout, loop, flush=True)
        await super().shutdown(timeout)

logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s %(message)s")
tidings.standalone.run(Engine(), "127.0.0.1", 0, shutdown_timeout=3)
print("exited", flush=True)
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_run_serves_until_signal_then_shuts_down(sig: signal.Signals) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SCRIPT,
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        port = 0
        while not port:
            line = (await asyncio.wait_for(proc.stderr.readline(), 20)).decode()
            assert line, "the server exited before listening"
            found = re.match(r"tidings\.standalone listening on http://127\.0\.0\.1:(\d+)", line)
            port = int(found.group(1)) if found else 0
        response = await request(port, b"GET /engine.io/?x=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert response.status == 200
        ws, _ = await WsClient.open(port)
        ws.send_text("ping?")
        assert await ws.recv_text() == "ping?"
        proc.send_signal(sig)
        opcode, payload = await asyncio.wait_for(ws.recv(), 10)
        assert opcode == Opcode.CLOSE and parse_close(payload)[0] == 1001
        ws.send(close_frame(1001))
        out = await asyncio.wait_for(proc.stdout.read(), 10)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
        # The loop the suite was asked for (TIDINGS_LOOP reaches run() through the environment).
        loop = "uvloop" if LOOP_ID.startswith("uvloop") else "asyncio.unix_events"
        assert out.decode().splitlines() == [f"shutdown 3 {loop}", "exited"]
        rest = (await proc.stderr.read()).decode()
        assert "shutting down" in rest and "stopped" in rest
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
