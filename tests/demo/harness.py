"""The demo as a person meets it: ``tidings demo`` in a process of its own, pages in Chromium.

:class:`DemoProcess` runs the real command (CLI, built-in server, SQLite file)
and can kill it with SIGKILL and start it again on the same port and file.
:class:`Browser` talks to ``node/driver.mjs`` (Playwright driving Debian's
Chromium) in JSON lines; :class:`ChatPage` is one person's page, with the
actions a person takes (pick a name, join a room, write) done through the UI.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import re
import signal
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
DRIVER = HERE / "node" / "driver.mjs"
#: Seconds for anything a page should do promptly (bounded, never a sleep).
WAIT = 10.0


class ServedProcess:
    """A command that serves on 127.0.0.1 and says so with its port (``ready``: by default
    ``listening on http://127.0.0.1:PORT``, as ``tidings serve`` and ``tidings demo`` say);
    its output is kept for the report."""

    def __init__(
        self, argv: list[str], *, cwd: Path = REPO_ROOT, env: dict[str, str] | None = None,
        port: int = 0, ready: str = r"listening on http://127\.0\.0\.1:(\d+)",
    ) -> None:
        self.argv = argv
        self.ready = ready
        self.cwd = cwd
        self.env = env
        self.port = port
        self.proc: asyncio.subprocess.Process | None = None
        self.output: list[str] = []
        self._drain: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv,
            cwd=self.cwd,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        assert self.proc.stdout is not None
        async with asyncio.timeout(15):
            while True:
                line = (await self.proc.stdout.readline()).decode()
                if not line:
                    raise AssertionError(
                        f"{self.argv} exited ({await self.proc.wait()}):\n{''.join(self.output)}"
                    )
                self.output.append(line)
                found = re.search(self.ready, line)
                if found:
                    self.port = int(found.group(1))
                    break
        self._drain = asyncio.create_task(self._read_rest())

    async def _read_rest(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            self.output.append(line.decode())

    async def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, nothing is flushed but what is on disk."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.wait()
        assert self.proc.returncode == -signal.SIGKILL

    async def stop(self) -> int:
        """SIGTERM, as Ctrl+C would: a graceful shutdown; returns the exit code."""
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.terminate()
        await self.wait()
        assert self.proc.returncode is not None
        return self.proc.returncode

    async def wait(self) -> None:
        assert self.proc is not None
        async with asyncio.timeout(15):
            await self.proc.wait()
            if self._drain is not None:
                await self._drain

    def log(self) -> str:
        return "".join(self.output)


class DemoProcess(ServedProcess):
    """``python -m tidings.cli demo`` on 127.0.0.1, on its own SQLite file."""

    def __init__(self, db: Path, port: int = 0) -> None:
        self.db = db
        super().__init__(self.command(db, port), port=port)

    @staticmethod
    def command(db: Path, port: int) -> list[str]:
        return [sys.executable, "-m", "tidings.cli", "demo",
                "--host", "127.0.0.1", "--port", str(port), "--db", str(db)]


class DriverError(AssertionError):
    pass


class Browser:
    """One Chromium (via ``node/driver.mjs``); ``call`` runs a command and returns its result."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._stderr: list[str] = []
        self._reader = asyncio.create_task(self._read())
        self._err_reader = asyncio.create_task(self._read_stderr())
        self.ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    @classmethod
    async def start(cls, node: str, chromium: str, tmp: Path) -> Browser:
        env = {**os.environ, "CHROMIUM": chromium, "TMPDIR": str(tmp)}
        proc = await asyncio.create_subprocess_exec(
            node, str(DRIVER), cwd=REPO_ROOT, env=env,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        browser = cls(proc)
        try:
            async with asyncio.timeout(40):
                await browser.ready
        except BaseException:
            await browser.close()
            raise
        return browser

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            message = json.loads(line)
            if message.get("ready"):
                self.ready.set_result(message["version"])
                continue
            future = self._waiting.pop(message["id"], None)
            if future is None or future.done():
                continue
            if message["ok"]:
                future.set_result(message["result"])
            else:
                future.set_exception(DriverError(message["error"]))
        failure = DriverError(f"the browser driver exited: {''.join(self._stderr)[-2000:]}")
        if not self.ready.done():
            self.ready.set_exception(failure)
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(failure)

    async def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        while line := await self.proc.stderr.readline():
            self._stderr.append(line.decode(errors="replace"))

    async def call(self, cmd: str, timeout: float = 30.0, **args: Any) -> Any:
        assert self.proc.stdin is not None
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        self.proc.stdin.write(json.dumps({"id": request_id, "cmd": cmd, "args": args}).encode() + b"\n")
        await self.proc.stdin.drain()
        async with asyncio.timeout(timeout):
            return await future

    async def close(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()
        try:
            async with asyncio.timeout(15):
                await self.proc.wait()
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        await asyncio.gather(self._reader, self._err_reader, return_exceptions=True)


def js_string(value: str) -> str:
    return json.dumps(value)


class ChatPage:
    """One person's page, driven through its UI."""

    def __init__(self, browser: Browser, name: str, shots: Path) -> None:
        self.browser = browser
        self.name = name
        self.shots = shots

    async def call(self, cmd: str, **args: Any) -> Any:
        return await self.browser.call(cmd, name=self.name, **args)

    @classmethod
    async def open(
        cls, browser: Browser, name: str, shots: Path, url: str, *, width: int = 1280, height: int = 800
    ) -> ChatPage:
        page = cls(browser, name, shots)
        await browser.call("open", name=name, viewport={"width": width, "height": height})
        await page.call("goto", url=url)
        return page

    # -- what a person does ----------------------------------------------------------

    async def login(self, nick: str) -> None:
        await self.call("fill", selector="#nick", value=nick)
        await self.call("press", selector="#nick", key="Enter")
        await self.wait_connected()
        await self.call("waitFor", selector="#room-title:has-text('general')")

    async def join(self, room: str) -> None:
        await self.call("fill", selector="#join-room", value=room)
        await self.call("press", selector="#join-room", key="Enter")
        await self.call("waitForText", selector="#room-title", text=room)

    async def open_room(self, room: str) -> None:
        await self.call("click", selector=f"#room-list .room-open[data-room={js_string(room)}]")
        await self.call("waitForText", selector="#room-title", text=room)

    async def say(self, text: str) -> None:
        """Type and press Enter; returns once the text shows as pending or sent."""
        await self.call("fill", selector="#text", value=text)
        await self.call("press", selector="#text", key="Enter")
        await self.wait_text(text)

    async def say_confirmed(self, text: str) -> None:
        """Say it, and wait until the server has it (the page shows it with its offset)."""
        await self.say(text)
        await self.wait_messages_include([text])

    # -- what a person sees -----------------------------------------------------------

    async def wait_connected(self) -> None:
        await self.call("waitFor", selector="#status[data-state=connected]", timeout=WAIT * 1000)

    async def wait_disconnected(self) -> None:
        await self.call("waitFor", selector="#status:not([data-state=connected])", timeout=WAIT * 1000)

    async def wait_text(self, text: str, selector: str = "#messages-area .msg .text") -> None:
        await self.call("waitForText", selector=selector, text=text, timeout=WAIT * 1000)

    async def wait_messages_include(self, texts: list[str], timeout: float = WAIT) -> None:
        """Until every one of ``texts`` shows as a stored message (not pending) in the open room."""
        await self.call(
            "waitForFunction",
            expression="""(want) => {
                const seen = new Set([...document.querySelectorAll(
                    "#messages-area .msg[data-offset]:not(.pending) .text")].map((n) => n.textContent));
                return want.every((t) => seen.has(t));
            }""",
            arg=texts,
            timeout=timeout * 1000,
        )

    async def messages(self) -> list[dict[str, Any]]:
        """The open room's messages, top to bottom: offset (None while pending), nick, text."""
        result: list[dict[str, Any]] = await self.call(
            "evaluate",
            expression="""() => [...document.querySelectorAll("#messages-area .msg")].map((n) => ({
                offset: n.dataset.offset === undefined ? null : Number(n.dataset.offset),
                nick: n.dataset.nick,
                text: n.querySelector(".text")?.textContent ?? null,
                image: n.querySelector("img.picture") ? true : false,
                pending: n.classList.contains("pending"),
            }))""",
        )
        return result

    async def texts(self) -> list[str]:
        return [m["text"] for m in await self.messages() if m["text"] is not None]

    async def stats(self) -> dict[str, int]:
        result: dict[str, int] = await self.call("evaluate", expression="() => ({...tidingsChat.stats})")
        return result

    async def members(self) -> list[str]:
        result: list[str] = await self.call("texts", selector="#member-list .member-nick")
        return result

    async def send_error(self) -> str:
        await self.call("waitFor", selector="#send-error", timeout=WAIT * 1000)
        texts: list[str] = await self.call("texts", selector="#send-error-text")
        return texts[0]

    async def errors(self) -> list[str]:
        result: list[str] = await self.call("errors")
        return result

    async def screenshot(self, label: str, *, full_page: bool = False) -> Path:
        path = self.shots / f"{label}.png"
        await self.call("screenshot", path=str(path), fullPage=full_page)
        return path

    async def set_offline(self, offline: bool) -> None:
        await self.call("setOffline", offline=offline)

    async def set_files(self, selector: str, name: str, mime: str, data: bytes) -> None:
        await self.call(
            "setInputFiles", selector=selector,
            files=[{"name": name, "mimeType": mime, "base64": base64.b64encode(data).decode()}],
        )

    async def close(self) -> None:
        await self.call("close")
