import ast
from pathlib import Path

import tidings.protocol.websocket as package

FORBIDDEN = {"asyncio", "socket", "selectors", "threading", "time", "trio", "anyio"}


def test_websocket_core_imports_no_io() -> None:
    root = Path(package.__file__).parent
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN, f"{path.name} imports {name}"
