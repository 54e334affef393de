"""Every ``python`` block of the docs runs, so no example can rot.

A page's blocks run in order in one namespace, as a reader would type them into
``python -m asyncio``: a name one block defines is there for the next, and top-level
``await`` works. The page's own directory is not the working directory: each page
runs in a fresh temporary one, so files an example writes land there. Directives
(``tests/docs/markdown.py``): ``<!-- not run: why -->`` (compiled only) and
``<!-- with: a client -->`` (a ``tidings.testing`` client is connected to the page's
``sio`` first, and ``socket`` is its server-side Socket; ``<!-- with: a server -->``:
the page's ``sio`` is served on a free port first, its address in ``url``). Programs guard their blocking
``run(...)`` with ``if __name__ == "__main__":``; the examples run as a module named ``docs_<page>``.
The examples' Redis (``redis://127.0.0.1:6379``) is a ``redis-server`` of the page's own
on a free port, so they never meet other tests, or other runs, on the shared one.
"""

from __future__ import annotations

import ast
import inspect
import linecache
import logging
import re
import shutil
import sys
import tempfile
import types
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

import tidings
import tidings.standalone
import tidings.testing
from tests.cluster.redis_server import PrivateRedis, free_port

from .markdown import Block, code_blocks

REPO = Path(__file__).resolve().parents[2]
#: The Redis the docs' examples use, replaced in their code by the page's own.
DOCS_REDIS = "redis://127.0.0.1:6379"
DOCS = REPO / "docs"
#: Pages whose examples another test runs, in its own way.
RUN_ELSEWHERE = {
    "docs/testing.md": "tests/testing/test_docs.py runs each block as a pytest file",
}
PAGES = sorted(
    str(path.relative_to(REPO)) for path in [*DOCS.glob("*.md"), REPO / "README.md"]
)
#: Directives a block may carry (``with: ...`` arguments the runner knows).
KNOWN_WITH = {"a client", "a server"}


def python_blocks(page: str) -> list[Block]:
    return [b for b in code_blocks((REPO / page).read_text(encoding="utf-8")) if b.lang == "python"]


def test_every_directive_is_known_and_says_why() -> None:
    for page in PAGES:
        for block in code_blocks((REPO / page).read_text(encoding="utf-8")):
            where = f"{page}:{block.line}"
            if block.directive == "not run":
                assert len(block.argument) >= 8, f"{where}: say why it is not run"
            elif block.directive == "with":
                assert block.argument in KNOWN_WITH, f"{where}: unknown `with: {block.argument}`"


def test_the_pages_have_examples() -> None:
    runnable = [
        block for page in PAGES if page not in RUN_ELSEWHERE for block in python_blocks(page)
        if block.directive != "not run"
    ]
    assert len(runnable) >= 30


class Reader:
    """One page's blocks, run in one namespace inside the test's loop."""

    def __init__(self, page: str, stack: AsyncExitStack) -> None:
        self.page = page
        self.stack = stack
        # A module of its own, importable by its name while it runs (Django's ROOT_URLCONF).
        self.module = types.ModuleType("docs_" + re.sub(r"\W", "_", Path(page).stem))
        self.namespace: dict[str, Any] = self.module.__dict__
        self.client: tidings.testing.TestClient | None = None
        self.served = False
        self.redis: str | None = None
        text = (REPO / page).read_text(encoding="utf-8")
        # Tracebacks show the page's own lines.
        linecache.cache[page] = (len(text), None, text.splitlines(keepends=True), page)

    def compile(self, block: Block) -> Any:
        code = block.code if self.redis is None else block.code.replace(DOCS_REDIS, self.redis)
        source = "\n" * (block.line - 1) + code
        return compile(source, self.page, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)

    def sio(self) -> tidings.Server:
        sio = self.namespace.get("sio")
        assert isinstance(sio, tidings.Server), f"{self.page}: a `with:` directive needs a `sio`"
        return sio

    async def serve(self) -> None:
        """The page's ``sio`` on a free port of 127.0.0.1, its address in ``url``."""
        if self.served:
            return
        server = await self.stack.enter_async_context(
            tidings.standalone.serve(self.sio(), "127.0.0.1", 0)
        )
        self.served = True
        self.namespace["url"] = f"http://127.0.0.1:{server.port}"

    async def connect_client(self) -> None:
        if self.client is not None and self.client.connected:
            return
        self.client = await self.stack.enter_async_context(
            tidings.testing.connect(self.sio(), lifespan=not self.served)
        )
        # The client answers whatever the server asks with the first argument it got.
        self.client.on("*", lambda event, *args: args[0] if args else None)
        self.namespace["socket"] = self.client.socket

    async def start_redis(self) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None, "redis-server is missing: scripts/test installs it"
        workdir = self.stack.enter_context(tempfile.TemporaryDirectory(prefix="tidings-redis-"))
        redis = PrivateRedis(binary, free_port(), Path(workdir))
        await redis.start()
        self.stack.push_async_callback(redis.stop)
        self.redis = f"redis://127.0.0.1:{redis.port}"

    async def run(self, block: Block) -> None:
        if DOCS_REDIS in block.code and self.redis is None and block.directive != "not run":
            await self.start_redis()
        code = self.compile(block)
        if block.directive == "not run":
            return
        if block.directive == "with" and block.argument == "a client":
            await self.connect_client()
        elif block.directive == "with" and block.argument == "a server":
            await self.serve()
        result = eval(code, self.namespace)  # the docs' own example
        if inspect.iscoroutine(result):
            await result


@pytest.fixture
def logging_kept() -> Iterator[None]:
    """What an example sets up in ``logging`` is undone: the next tests log as before."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logger.level for name, logger in logging.Logger.manager.loggerDict.items()
              if isinstance(logger, logging.Logger)}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, logger in logging.Logger.manager.loggerDict.items():
        if isinstance(logger, logging.Logger):
            logger.setLevel(levels.get(name, logging.NOTSET))


@pytest.mark.timeout(60)
@pytest.mark.usefixtures("logging_kept")
@pytest.mark.parametrize("page", [p for p in PAGES if p not in RUN_ELSEWHERE])
async def test_the_examples_of(page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    async with AsyncExitStack() as stack:
        reader = Reader(page, stack)
        monkeypatch.setitem(sys.modules, reader.module.__name__, reader.module)
        for block in python_blocks(page):
            await reader.run(block)
