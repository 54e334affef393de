"""Bring in what the benchmark needs: PyPI packages into this venv, npm packages at the root."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable

from bench.procs import ROOT

_PY_MODULES = ("socketio", "uvicorn", "uvloop", "websockets", "httptools")


def _missing_python() -> list[str]:
    code = (
        "import importlib.util, sys; "
        f"print(' '.join(m for m in {_PY_MODULES!r} if importlib.util.find_spec(m) is None))"
    )
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True,
                          text=True, timeout=60)
    return done.stdout.split()


def ensure(log: Callable[[str], None] = print) -> list[str]:
    """Install what is missing; return the problems left (each one disables some servers)."""
    problems: list[str] = []
    missing = _missing_python()
    if missing:
        log(f"setup: installing bench/requirements.txt (missing: {', '.join(missing)})")
        done = subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "-r",
             str(ROOT / "bench" / "requirements.txt")],
            check=False, cwd=ROOT, timeout=600)
        if done.returncode != 0:
            problems.append("pip install -r bench/requirements.txt failed")
    if shutil.which("node") is None:
        problems.append("node is not installed: Node server and load generator unavailable")
        return problems
    if not (ROOT / "node_modules" / "socket.io").is_dir() and (ROOT / "package.json").exists():
        npm = shutil.which("npm")
        if npm is None:
            problems.append("npm is not installed")
        else:
            command = "ci" if (ROOT / "package-lock.json").exists() else "install"
            log(f"setup: npm {command} at the repository root")
            done = subprocess.run([npm, command, "--no-audit", "--no-fund"], check=False,
                                  cwd=ROOT, timeout=900)
            if done.returncode != 0:
                problems.append(f"npm {command} failed")
    if not (ROOT / "node_modules" / "socket.io").is_dir():
        problems.append("node_modules/socket.io missing")
    return problems
