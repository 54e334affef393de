"""A cluster as a deployment has it: tidings nodes as processes, nginx round-robin in front.

:class:`NodeProcess` runs one node (the test app of ``nodeapp.py`` or the chat of
``examples/cluster/node.py``) and can kill it with SIGKILL. :class:`Nginx` writes
the config of ``examples/cluster/nginx.conf.template`` into a directory of its own
(own port, pid file, temp paths, logs) and runs Debian's nginx on it as the current
user, in the foreground, as a child of the test. Both are stopped by their PID.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import re
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from tests.e2e.harness import http_request

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
TEMPLATE = REPO_ROOT / "examples" / "cluster" / "nginx.conf.template"
HOST = "127.0.0.1"
#: Seconds a process may take to come up or go down.
START_TIMEOUT = 20.0
NODE_NAMES = ("node1", "node2", "node3")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def render_nginx_conf(listen: str, upstreams: Sequence[str]) -> str:
    """The example's config with its placeholders filled, as ``examples/cluster/run`` does."""
    user = ""
    if os.geteuid() == 0:
        # A master running as root would hand its workers to "nobody", who cannot use
        # the private temp directories: keep them as the user who started it.
        user = f"user {pwd.getpwuid(os.geteuid()).pw_name};"
    servers = "\n".join(f"        server {u} max_fails=1 fail_timeout=10s;" for u in upstreams)
    text = TEMPLATE.read_text(encoding="utf-8")
    return text.replace("@USER@", user).replace("@SERVERS@", servers).replace("@LISTEN@", listen)


class Process:
    """A child process whose output is kept (merged), waited for by a line it prints."""

    def __init__(self, name: str, argv: Sequence[str], ready: str, cwd: Path = REPO_ROOT) -> None:
        self.name = name
        self.argv = list(argv)
        self.ready = re.compile(ready)
        self.cwd = cwd
        self.proc: asyncio.subprocess.Process | None = None
        self.output: list[str] = []
        self._drain: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.output.clear()
        # This checkout's tidings, whatever the environment has installed.
        path = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p)
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv, cwd=self.cwd, env={**os.environ, "PYTHONPATH": path},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        assert self.proc.stdout is not None
        try:
            async with asyncio.timeout(START_TIMEOUT):
                while True:
                    line = (await self.proc.stdout.readline()).decode(errors="replace")
                    if not line:
                        raise AssertionError(
                            f"{self.name} exited ({await self.proc.wait()}):\n{self.log()}"
                        )
                    self.output.append(line)
                    if self.ready.search(line):
                        break
        except BaseException:
            await self.kill()
            raise
        self._drain = asyncio.create_task(self._read_rest())

    async def _read_rest(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            self.output.append(line.decode(errors="replace"))

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def kill(self) -> None:
        """SIGKILL: nothing runs on its way out, as when a machine dies."""
        if self.running:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
        await self.wait()

    async def stop(self, sig: int = signal.SIGTERM) -> None:
        """A graceful stop; SIGKILL when it takes longer than START_TIMEOUT."""
        if self.running:
            assert self.proc is not None
            self.proc.send_signal(sig)
            try:
                await self.wait()
            except TimeoutError:
                await self.kill()
        await self.wait()

    async def wait(self) -> None:
        if self.proc is None:
            return
        async with asyncio.timeout(START_TIMEOUT):
            await self.proc.wait()
            if self._drain is not None:
                await self._drain

    def log(self) -> str:
        return "".join(self.output)


class NodeProcess(Process):
    """One tidings node; ``name`` is its owner tag (node1, node2, ...). It listens on a
    port the system gives it, read from its log (and published to the other nodes)."""

    def __init__(self, name: str, argv: Sequence[str]) -> None:
        super().__init__(name, argv, r"listening on http://127\.0\.0\.1:(\d+)")
        self.port = 0

    async def start(self) -> None:
        await super().start()
        found = self.ready.search(self.output[-1])
        assert found is not None
        self.port = int(found.group(1))

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    @classmethod
    def test_app(cls, name: str, redis_url: str, postgres_dsn: str, prefix: str) -> NodeProcess:
        argv = [
            sys.executable, "-m", "tests.scaleout.nodeapp", "--node", name, "--port", "0",
            "--redis", redis_url, "--postgres", postgres_dsn, "--prefix", prefix,
        ]
        return cls(name, argv)

    @classmethod
    def chat(cls, name: str, redis_url: str, postgres_dsn: str, prefix: str) -> NodeProcess:
        argv = [
            sys.executable, str(REPO_ROOT / "examples" / "cluster" / "node.py"),
            "--node", name, "--host", HOST, "--port", "0",
            "--redis", redis_url, "--postgres", postgres_dsn, "--cluster", prefix,
        ]
        return cls(name, argv)


class Nginx(Process):
    """nginx round-robin over ``nodes``, on its own port, in ``workdir``."""

    def __init__(self, binary: str, workdir: Path, nodes: Sequence[NodeProcess]) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.nodes = list(nodes)
        (workdir / "nginx.conf").write_text(
            render_nginx_conf(f"{HOST}:{self.port}", [n.address for n in self.nodes]),
            encoding="utf-8",
        )
        argv = [binary, "-p", str(workdir), "-e", "error.log", "-c", "nginx.conf", "-g", "daemon off;"]
        # nginx prints nothing when it starts well: ``start`` waits for its port instead.
        super().__init__("nginx", argv, ready="")

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv, cwd=self.workdir,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # its own process group, with its workers
        )
        self._drain = asyncio.create_task(self._read_rest())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT
        while True:
            try:
                _, writer = await asyncio.open_connection(HOST, self.port)
                writer.close()
                return
            except OSError:
                pass
            if not self.running or loop.time() > deadline:
                await self.kill()
                raise AssertionError(f"nginx did not come up:\n{self.log()}\n{self.error_log()}")
            await asyncio.sleep(0.05)

    async def stop(self, sig: int = signal.SIGTERM) -> None:
        """SIGTERM: nginx's fast shutdown (a graceful one would wait for every open
        WebSocket). Its workers go with it; if it hangs, its process group is killed."""
        if not self.running:
            await self.wait()
            return
        assert self.proc is not None
        self.proc.send_signal(sig)
        try:
            await self.wait()
        except TimeoutError:
            await self.kill()

    async def kill(self) -> None:
        """SIGKILL to the process group nginx leads: the master and its workers."""
        if self.running:
            assert self.proc is not None
            os.killpg(self.proc.pid, signal.SIGKILL)
        await self.wait()

    def error_log(self) -> str:
        path = self.workdir / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def access_log(self) -> str:
        path = self.workdir / "access.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def node_at(self, upstream: str) -> str:
        """The node name of an ``X-Upstream`` value (the last address tried answered)."""
        address = upstream.split(",")[-1].strip()
        for node in self.nodes:
            if node.address == address:
                return node.name
        raise AssertionError(f"X-Upstream {upstream!r} names none of {[n.address for n in self.nodes]}")

    async def probe(self) -> str:
        """One request through the proxy; returns the node that answered it."""
        _, headers, _ = await http_request(self.url, "GET", "/probe")
        upstream = headers.get("x-upstream")
        assert upstream, f"no X-Upstream header in {headers}"
        return self.node_at(upstream)

    async def steer(self, to: str, alive: Sequence[str]) -> None:
        """Make the next request through the proxy go to node ``to``.

        Round-robin visits the live nodes in the config's order: probe until two
        answers in a row came in that order, the second from the node before ``to``.
        (Right after a node dies, nginx may pick one node twice while it skips the
        dead one; two answers in order show it has settled.) Only valid while no
        other client sends requests through the proxy.
        """
        order = [n.name for n in self.nodes if n.name in alive]
        if len(order) == 1:
            return
        before = order[order.index(to) - 1]
        earlier = order[order.index(to) - 2]
        seen: list[str] = []
        for _ in range(4 * len(self.nodes) + 4):
            seen.append(await self.probe())
            if seen[-2:] == [earlier, before]:
                return
        raise AssertionError(
            f"round-robin over {order} never reached {before}: {seen}\n{self.error_log()[-3000:]}"
        )


class Deployment:
    """Three nodes and the proxy; ``url`` is the proxy's, the only one clients are given."""

    def __init__(self, nodes: list[NodeProcess], proxy: Nginx) -> None:
        self.nodes = nodes
        self.proxy = proxy

    @property
    def url(self) -> str:
        return self.proxy.url

    def node(self, name: str) -> NodeProcess:
        return next(n for n in self.nodes if n.name == name)

    def alive(self) -> list[str]:
        return [n.name for n in self.nodes if n.running]

    def logs(self) -> str:
        parts = [f"--- {n.name}\n{n.log()}" for n in self.nodes]
        parts.append(f"--- nginx error.log\n{self.proxy.error_log()}")
        parts.append(f"--- nginx access.log\n{self.proxy.access_log()}")
        return "\n".join(parts)


async def deploy(
    make: Callable[[str], NodeProcess], nginx_bin: str, workdir: Path
) -> Deployment:
    """Start the three nodes, then nginx in front of them; whatever started is stopped
    again if anything fails to."""
    nodes = [make(name) for name in NODE_NAMES]
    try:
        started = await asyncio.gather(*(n.start() for n in nodes), return_exceptions=True)
        for result in started:  # every start has ended, so nothing comes up after the kill
            if isinstance(result, BaseException):
                raise result
        proxy = Nginx(nginx_bin, workdir, nodes)
        await proxy.start()  # (kills nginx itself if it does not come up)
        return Deployment(nodes, proxy)
    except BaseException:
        await asyncio.gather(*(n.kill() for n in nodes), return_exceptions=True)
        raise


async def undeploy(deployment: Deployment) -> None:
    """Stop the proxy, then the nodes (each, whatever the others do); their logs go to
    the output pytest shows on failure."""
    try:
        await deployment.proxy.stop()
    finally:
        stopped = await asyncio.gather(
            *(n.stop() for n in deployment.nodes), return_exceptions=True
        )
        for node, result in zip(deployment.nodes, stopped, strict=True):
            if isinstance(result, BaseException):
                await node.kill()
        print(deployment.logs())
    for node in deployment.nodes:
        assert "Traceback" not in node.log(), deployment.logs()
