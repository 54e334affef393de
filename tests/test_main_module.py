"""``python -m tidings`` is the ``tidings`` command."""

from __future__ import annotations

import subprocess
import sys


def test_python_dash_m_runs_the_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tidings", "--help"],
        check=False, capture_output=True, text=True, timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert "serve" in done.stdout and "demo" in done.stdout
