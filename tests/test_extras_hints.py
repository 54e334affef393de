"""A missing optional dependency names the extra that brings it."""

from __future__ import annotations

import subprocess
import sys

import pytest

CASES = [
    ("asyncpg", "tidings.history.postgres", "tidings[postgres]"),
    ("redis", "tidings.adapters.redis", "tidings[redis]"),
    ("msgpack", "tidings.adapters.redis", "tidings[redis]"),
    ("redis", "tidings.emitter", "tidings[redis]"),
    ("aiohttp", "tidings.client", "tidings[client]"),
    ("msgpack", "tidings.protocol.socketio.msgpack_parser", "tidings[msgpack]"),
    ("watchfiles", "tidings.reload", "tidings[reload]"),
]


@pytest.mark.parametrize(("missing", "module", "extra"), CASES)
def test_the_error_names_the_extra(missing: str, module: str, extra: str) -> None:
    code = (
        f"import sys; sys.modules[{missing!r}] = None\n"
        f"try:\n    import {module}\n"
        "except ImportError as exc:\n    print(exc)\nelse:\n    print('imported')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert extra in done.stdout, done.stdout
