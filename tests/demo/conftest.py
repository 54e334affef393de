"""Fixtures for the demo's tests: the demo as a process, Chromium, where screenshots go.

Screenshots land in ``test-artifacts/demo/<test>/`` at the repo root (or under
``$TIDINGS_TEST_ARTIFACTS``); the run's summary says where.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from .harness import REPO_ROOT, Browser, DemoProcess

ARTIFACTS = Path(os.environ.get("TIDINGS_TEST_ARTIFACTS", REPO_ROOT / "test-artifacts")) / "demo"
_saved: list[Path] = []


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium (``scripts/test`` installs it)."""
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("chromium is not on PATH: scripts/test installs it (apt-get install -y chromium)")
    if not (REPO_ROOT / "node_modules" / "playwright-core" / "package.json").is_file():
        pytest.fail("node_modules/playwright-core is missing: run `npm ci` at the repo root")
    return path


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Path:
    """This test's screenshot folder, emptied first."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    folder = ARTIFACTS / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    _saved.append(folder)
    return folder


@pytest.fixture
async def browser(node_bin: str, chromium: str) -> AsyncIterator[Browser]:
    # Chromium's profile (a fresh one per test) goes under a short path of its own:
    # its singleton socket's path must fit in a UNIX socket address.
    with tempfile.TemporaryDirectory(prefix="tidings-chromium-") as profile_tmp:
        browser = await Browser.start(node_bin, chromium, Path(profile_tmp))
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def start_demo(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[DemoProcess]]]:
    """Start ``tidings demo`` (``start_demo()``, or ``start_demo(port=p)`` to restart on a port);
    every process started is stopped at the end, and none may have logged a traceback."""
    started: list[DemoProcess] = []

    async def start(port: int = 0, db: Path | None = None) -> DemoProcess:
        demo = DemoProcess(db or tmp_path / "chat.sqlite3", port)
        started.append(demo)
        await demo.start()
        return demo

    yield start
    for demo in started:
        if demo.proc is not None and demo.proc.returncode is None:
            await demo.stop()
    for demo in started:
        assert "Traceback" not in demo.log(), demo.log()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _saved:
        terminalreporter.write_sep("-", "demo screenshots")
        terminalreporter.write_line(f"saved under {ARTIFACTS}")
