"""Fixtures every test folder may use.

Node and the npm packages are part of the test set-up (``scripts/test`` runs
``npm ci``): when they are missing a test that needs them fails with a hint,
it is never skipped.

The loop every async test runs on is the one ``TIDINGS_LOOP`` (``asyncio``, ``uvloop``;
``auto`` by default: uvloop when installed) and ``TIDINGS_EAGER_TASKS`` name, the same
variables a server process started by a test reads: ``scripts/test`` runs the suite once
per Python, loop and task factory.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from tidings.standalone.loops import loop_factory, loop_from_env

REPO_ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = REPO_ROOT / "node_modules"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def node_bin() -> str:
    """The ``node`` executable, with the project's npm packages installed beside us."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH: install Node.js 18+ (scripts/test does the rest)")
    if not (NODE_MODULES / "socket.io-client" / "package.json").is_file():
        pytest.fail("node_modules/socket.io-client is missing: run `npm ci` at the repo root")
    return node


def _loop_id() -> str:
    name, eager = loop_from_env()
    if name == "auto":
        try:
            import uvloop  # noqa: F401
        except ImportError:
            name = "asyncio"
        else:
            name = "uvloop"
    return name + ("-eager" if eager else "")


LOOP_ID = _loop_id()
LOOP_FACTORY = loop_factory()


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    return {LOOP_ID: LOOP_FACTORY}


def pytest_report_header(config: pytest.Config) -> str:
    return f"tidings test loop: {LOOP_ID}"


#: Folders whose outcome does not depend on the Python or loop of the test process
#: (browsers, the demo in Chromium, the scale-out chat, the wheel, the docs site, the
#: benchmark's own tests, fuzzing): every test in them is ``same_everywhere``.
SAME_EVERYWHERE = ("browser", "demo", "scaleout", "packaging", "docs", "bench", "fuzz")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests = Path(__file__).resolve().parent
    folders = {tests / name for name in SAME_EVERYWHERE}
    for item in items:
        if not folders.isdisjoint(item.path.parents):
            item.add_marker(pytest.mark.same_everywhere)
