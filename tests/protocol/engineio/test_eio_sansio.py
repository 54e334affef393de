"""The Engine.IO core must stay Sans-I/O: no event loop, no sockets, no clock."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


def test_protocol_imports_no_io_modules(repo_root: Path) -> None:
    # ``tidings/__init__`` imports the asyncio server, so stand in an empty parent package.
    code = textwrap.dedent(
        """
        import sys, types, pathlib
        root = pathlib.Path(sys.argv[1])
        pkg = types.ModuleType("tidings")
        pkg.__path__ = [str(root / "tidings")]
        sys.modules["tidings"] = pkg
        before = set(sys.modules)
        import tidings.protocol.engineio
        import tidings.protocol.socketio
        import tidings.protocol.websocket
        import tidings.protocol.prepared
        loaded = set(sys.modules) - before
        assert "tidings.protocol.engineio.session" in loaded
        never = {"asyncio", "socket", "selectors", "ssl"}
        print(sorted((never & set(sys.modules)) | ({"threading", "time"} & loaded)))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(repo_root)], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
