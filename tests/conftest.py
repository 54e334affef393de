"""Fixtures every test folder may use.

Node and the npm packages are part of the test set-up (``scripts/test`` runs
``npm ci``): when they are missing a test that needs them fails with a hint,
it is never skipped.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

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
