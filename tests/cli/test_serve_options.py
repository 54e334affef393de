"""``tidings serve`` as uvicorn users expect it: one-line errors for a wrong target, a clear
word for an ASGI app, ``--factory``, ``--loop`` and ``TIDINGS_*`` environment variables."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from tests.cli.serving import Served
from tests.cli.serving import serve as serve_app

APP = textwrap.dedent('''
    import asyncio
    import tidings

    def make():
        sio = tidings.Server()

        @sio.on("loop")
        async def loop(socket):
            return type(asyncio.get_running_loop()).__module__

        return sio

    sio = make()
    asgi = tidings.ASGIApp(sio)
''')


def serve(tmp_path: Path, *args: str, env: dict[str, str] | None = None,
          timeout: float = 20) -> subprocess.CompletedProcess[str]:
    (tmp_path / "cliapp.py").write_text(APP)
    return subprocess.run(
        [sys.executable, "-m", "tidings", "serve", *args],
        cwd=tmp_path, check=False, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize(("target", "says"), [
    ("nowhere:sio", "cannot import 'nowhere'"),
    ("cliapp:missing", "has no attribute 'missing'"),
    ("cliapp", "expected 'module:attribute'"),
])
def test_a_wrong_target_is_one_line(tmp_path: Path, target: str, says: str) -> None:
    done = serve(tmp_path, target)
    assert done.returncode == 2, done.stderr
    assert says in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr


def test_an_asgi_app_is_sent_to_an_asgi_server(tmp_path: Path) -> None:
    done = serve(tmp_path, "cliapp:asgi")
    assert done.returncode == 2, done.stderr
    assert "is an ASGI application" in done.stderr and "uvicorn cliapp:asgi" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(("args", "env", "loop_module"), [
    (["cliapp:make", "--factory", "--port", "0", "--loop", "asyncio"], {}, "asyncio"),
    (["cliapp:sio"], {"TIDINGS_PORT": "0", "TIDINGS_LOOP": "uvloop"}, "uvloop"),
    (["cliapp:make"], {"TIDINGS_FACTORY": "1", "TIDINGS_PORT": "0", "TIDINGS_LOOP": "asyncio"}, "asyncio"),
])
def test_factory_loop_and_environment(
    tmp_path: Path, args: list[str], env: dict[str, str], loop_module: str
) -> None:
    served = serve_app(tmp_path, APP, "cliapp", *args, env=env)
    port = served.port
    try:
        handshake = httpx.get(f"http://127.0.0.1:{port}/socket.io/?EIO=4&transport=polling", timeout=10)
        assert handshake.status_code == 200 and handshake.text.startswith("0{")
        sid = re.search(r'"sid":"([^"]+)"', handshake.text)
        assert sid is not None
        base = f"http://127.0.0.1:{port}/socket.io/?EIO=4&transport=polling&sid={sid.group(1)}"
        assert httpx.post(base, content=b"40", timeout=10).status_code == 200
        assert httpx.get(base, timeout=10).text.startswith("40")
        assert httpx.post(base, content=b'421["loop"]', timeout=10).status_code == 200
        reply = httpx.get(base, timeout=10).text
        assert reply.startswith("431[") and loop_module in reply, reply
    finally:
        served.stop()


def test_fd_serves_on_an_inherited_socket(tmp_path: Path) -> None:
    """``--fd N``: the socket a supervisor bound (here this test) is served, --port ignored."""
    import socket

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    (tmp_path / "cliapp.py").write_text(APP)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tidings", "serve", "cliapp:sio", "--fd", str(listener.fileno()),
         "--port", "1"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        pass_fds=(listener.fileno(),), env={**os.environ},
    )
    served = Served(proc)
    listener.close()  # the server process has its own copy
    try:
        assert served.wait_listening() == port
        handshake = httpx.get(f"http://127.0.0.1:{port}/socket.io/?EIO=4&transport=polling",
                              timeout=10)
        assert handshake.status_code == 200 and handshake.text.startswith("0{")
    finally:
        served.stop()
