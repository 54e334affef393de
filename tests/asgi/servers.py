"""Run ``served_app`` under a real ASGI server, in its own process, on a free loopback port.

Readiness is the server's own "listening" log line, then a request to a FastAPI
route. uvicorn logs that line once it accepts; granian logs it when the socket
is bound but before its worker listens, and tells nobody when that happens, so
a refused connection is retried there (briefly, and only that error).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]
APP = "tests.asgi.served_app:create_app()"
APP_ARG = "{app}"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 15.0

#: Every way the tests run the app: the server's command line and the log line that says
#: it is listening. uvicorn's default WebSocket stack is websockets' Sans-I/O one;
#: wsproto (over h11) is its other.
SERVERS: dict[str, tuple[list[str], str]] = {
    "uvicorn": (
        ["-m", "uvicorn", APP_ARG, "--no-access-log", "--ws", "websockets-sansio"],
        "Uvicorn running on",
    ),
    "uvicorn-wsproto": (
        ["-m", "uvicorn", APP_ARG, "--no-access-log", "--ws", "wsproto", "--http", "h11"],
        "Uvicorn running on",
    ),
    "granian": (
        ["-m", "granian", "--interface", "asgi", "--workers", "1", "--runtime-threads", "1",
         APP_ARG],
        "Listening at",
    ),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningServer:
    kind: str
    proc: subprocess.Popen[bytes]
    port: int
    events_file: Path
    history_file: Path
    output: list[str] = field(default_factory=list)
    ready: threading.Event = field(default_factory=threading.Event)
    marker: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def events(self) -> list[str]:
        if not self.events_file.exists():
            return []
        return self.events_file.read_text().splitlines()

    def log(self) -> str:
        return "".join(self.output)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace")
            self.output.append(line)
            if self.marker in line:
                self.ready.set()
        self.ready.set()  # exited: whoever waits looks at returncode

    def stop(self, sig: int = signal.SIGINT) -> int:
        """Ask for a graceful shutdown; returns the exit status (kills the group on timeout)."""
        if self.proc.poll() is None:
            if sig == signal.SIGKILL:
                os.killpg(self.proc.pid, signal.SIGKILL)
            else:
                self.proc.send_signal(sig)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
                raise AssertionError(f"{self.kind} did not stop in {STOP_TIMEOUT}s:\n{self.log()}")
        return self.proc.returncode


def _first_answer(server: RunningServer, probe: str) -> httpx.Response:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            return httpx.get(server.url + probe, timeout=START_TIMEOUT)
        except httpx.ConnectError:
            if time.monotonic() > deadline or server.proc.poll() is not None:
                raise
            time.sleep(0.05)  # nothing to wait on: the server does not say when it listens


def start_server(
    kind: str, workdir: Path, app: str = APP, probe: str = "/api/hello", **env: str
) -> RunningServer:
    """Start ``app`` (``served_app`` unless told) under ``kind`` (a key of SERVERS) and wait
    until a GET of ``probe`` answers; ``app`` ending in "()" is a factory."""
    template, marker = SERVERS[kind]
    factory = ["--factory"] if app.endswith("()") else []
    args = [part for t in template
            for part in ([*factory, app.removesuffix("()")] if t == APP_ARG else [t])]
    events_file = workdir / f"{kind}-events.txt"
    history_file = workdir / f"{kind}-history.sqlite3"
    for attempt in range(3):
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, *args, "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own group, so a stuck worker can be killed with it
            env={
                **os.environ,
                "PYTHONUNBUFFERED": "1",
                "TIDINGS_ASGI_EVENTS": str(events_file),
                "TIDINGS_ASGI_HISTORY": str(history_file),
                **env,
            },
        )
        server = RunningServer(kind, proc, port, events_file, history_file, marker=marker)
        threading.Thread(target=server._read, daemon=True).start()
        if not server.ready.wait(START_TIMEOUT):
            server.stop(signal.SIGKILL)
            raise AssertionError(f"{kind} not listening in {START_TIMEOUT}s:\n{server.log()}")
        if proc.poll() is not None:
            if "address already in use" in server.log().lower() and attempt < 2:
                continue  # another process took the port between probe and bind
            raise AssertionError(f"{kind} exited with {proc.returncode}:\n{server.log()}")
        try:
            response = _first_answer(server, probe)
        except httpx.HTTPError as exc:
            server.stop(signal.SIGKILL)
            raise AssertionError(f"{kind} does not answer: {exc!r}\n{server.log()}") from exc
        assert response.status_code < 500, server.log()
        return server
    raise AssertionError(f"{kind}: no free port after 3 attempts")
