"""Starting, pinning and stopping the processes of a run, and reading /proc.

Every process started here is recorded and stopped by its PID (SIGTERM, then SIGKILL),
on success, on errors and on Ctrl-C alike. Children get their own session, so a Ctrl-C
at the terminal reaches only the runner, which then stops them in order.
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
import re
import resource
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parent.parent

_started: dict[int, subprocess.Popen[bytes]] = {}


@functools.cache
def cores() -> tuple[frozenset[int], frozenset[int]]:
    """(server cores, load generator cores): one each when there are two or more.

    Read once, from the affinity the benchmark started with: the runner then pins itself
    to the load generator's core, and a second reading would put both on that one core.
    """
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        return frozenset(available), frozenset(available)
    return frozenset({available[0]}), frozenset({available[1]})


def raise_nofile(wanted: int = 65536) -> tuple[int, int]:
    """Raise the open-files limit (inherited by every child) for 10,000 clients."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= wanted:
        return soft, hard
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, max(hard, wanted)))
    except (ValueError, OSError):  # not allowed to raise the hard limit
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def ephemeral_ports() -> int:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(high) - int(low) + 1
    except (OSError, ValueError):
        return 0


def free_port() -> int:
    """A free port below the ephemeral range, new for each server so that TIME_WAIT
    connections of earlier runs never collide with this one's."""
    for _ in range(200):
        port = random.randint(20000, 30999)
        with socket.socket() as s:
            try:
                s.bind((HOST, port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port found")


def start(argv: Sequence[str], cpus: frozenset[int], *, stdout: IO[bytes] | int | None = None,
          stderr: IO[bytes] | int | None = None) -> subprocess.Popen[bytes]:
    """Start a process pinned to ``cpus`` (through taskset, so its threads are pinned too)."""
    taskset = shutil.which("taskset")
    pinned = [taskset, "-c", ",".join(map(str, sorted(cpus)))] if taskset else []
    proc = subprocess.Popen(
        [*pinned, *argv], cwd=ROOT, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
        start_new_session=True,
    )
    _started[proc.pid] = proc
    if not taskset:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(proc.pid, cpus)
    return proc


def stop(proc: subprocess.Popen[bytes], grace: float = 3.0) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(grace)
    _started.pop(proc.pid, None)


def stop_all() -> None:
    for proc in list(_started.values()):
        stop(proc, grace=2.0)


@contextlib.contextmanager
def stopping_all() -> Iterator[None]:
    try:
        yield
    finally:
        stop_all()


def wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening")
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"server not listening on {port} after {timeout:.0f}s")


def wait_log(path: Path, offset: int, pattern: str, proc: subprocess.Popen[bytes],
             timeout: float = 30.0) -> None:
    """Until ``path`` shows a line matching ``pattern`` past byte ``offset`` (every worker of a
    multi-process server listens: the port answering as soon as one does is not enough)."""
    wanted = re.compile(pattern.encode())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before it was ready")
        with path.open("rb") as log:
            log.seek(offset)
            if wanted.search(log.read()):
                return
        time.sleep(0.05)
    raise RuntimeError(f"server not ready ({pattern}) after {timeout:.0f}s")


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def redis_info(host: str = HOST, port: int = 6379, section: str = "server",
               timeout: float = 2.0) -> dict[str, str]:
    """``INFO <section>`` of a Redis over a bare socket (RESP), or {} when it does not answer."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as conn:
            conn.sendall(f"INFO {section}\r\n".encode())
            data = b""
            while b"\r\n" not in data or len(data) < _bulk_end(data):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return {}
    if not data.startswith(b"$"):
        return {}
    body = data.split(b"\r\n", 1)[1].decode(errors="replace")
    return dict(line.split(":", 1) for line in body.splitlines() if ":" in line)


def _bulk_end(data: bytes) -> int:
    head, _, _ = data.partition(b"\r\n")
    try:
        return len(head) + 2 + int(head[1:]) + 2
    except ValueError:  # an error reply: ends with its first line
        return len(head) + 2


def redis_pid(info: dict[str, str]) -> int:
    """The redis-server's PID when its /proc is readable here (same PID namespace), else 0."""
    try:
        pid = int(info.get("process_id", "0"))
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except (OSError, ValueError):
        return 0
    return pid if comm.startswith("redis-server") else 0


C_LOADGEN_SOURCE = ROOT / "bench" / "loadgen" / "fanout.c"
C_LOADGEN = ROOT / "bench" / "loadgen" / "build" / "fanout"


def c_loadgen() -> tuple[Path | None, str]:
    """The C fan-out generator, compiled when missing or older than its source: (path, "")
    or (None, why not)."""
    if C_LOADGEN.exists() and C_LOADGEN.stat().st_mtime >= C_LOADGEN_SOURCE.stat().st_mtime:
        return C_LOADGEN, ""
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        return None, "no C compiler (gcc) found"
    C_LOADGEN.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([cc, "-O2", "-o", str(C_LOADGEN), str(C_LOADGEN_SOURCE), "-lm"],
                          check=False, capture_output=True, text=True)
    if done.returncode != 0:
        return None, f"compiling {C_LOADGEN_SOURCE.name} failed: {done.stderr.strip()[:200]}"
    return C_LOADGEN, ""
