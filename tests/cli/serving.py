"""Start ``tidings serve`` as a subprocess and read its output (the port it listens on, and
everything it logs) until it stops."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path


class Served:
    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self.port = 0
        self._listening = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self, ) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            found = re.search(r"listening on https?://127\.0\.0\.1:(\d+)", line)
            if found and not self.port:
                self.port = int(found.group(1))
                self._listening.set()
        self._listening.set()

    def wait_listening(self, timeout: float = 20) -> int:
        self._listening.wait(timeout)
        if not self.port:
            self.stop()
            raise AssertionError("no 'listening on' line:\n" + "".join(self.lines))
        return self.port

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return "".join(self.lines)


def serve(workdir: Path, app: str, name: str, *args: str, env: dict[str, str] | None = None) -> Served:
    """``tidings serve`` of the module ``name`` (its source ``app``) in ``workdir``."""
    (workdir / f"{name}.py").write_text(app)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tidings", "serve", *args],
        cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "TIDINGS_EAGER_TASKS": "0", **(env or {})},
    )
    served = Served(proc)
    served.wait_listening()
    return served
