"""``tidings serve --reload``, as uvicorn's: a changed source file restarts the server
process on the same socket, a signal stops both processes, and what does not fit
(``--workers``) is refused."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path, PurePath

import httpx
import pytest

from tests.cli.serving import Served
from tests.cli.serving import serve as serve_app
from tidings.reload import SourceFilter

APP = textwrap.dedent('''
    import tidings

    sio = tidings.Server()

    @sio.on("ask")
    async def ask(socket):
        return "first"
''')


def ask(port: int) -> tuple[str, str]:
    """A new session's answer to "ask", and its base URL (to poll it again)."""
    base = f"http://127.0.0.1:{port}/socket.io/?EIO=4&transport=polling"
    handshake = httpx.get(base, timeout=5)
    sid = re.search(r'"sid":"([^"]+)"', handshake.text)
    assert handshake.status_code == 200 and sid is not None, handshake.text
    base += f"&sid={sid.group(1)}"
    assert httpx.post(base, content=b"40", timeout=5).status_code == 200
    assert httpx.get(base, timeout=5).text.startswith("40")
    assert httpx.post(base, content=b'421["ask"]', timeout=5).status_code == 200
    reply = httpx.get(base, timeout=5).text
    found = re.fullmatch(r'431\["(\w+)"\]', reply)
    assert found is not None, reply
    return found.group(1), base


def wait_for(served: Served, pattern: str, count: int, timeout: float = 30) -> list[str]:
    """The output lines matching ``pattern``, once there are ``count`` of them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [line for line in list(served.lines) if re.search(pattern, line)]
        if len(found) >= count:
            return found
        if served.proc.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError(f"no {count} lines matching {pattern!r}:\n" + "".join(served.lines))


def server_pids(served: Served, count: int) -> list[int]:
    lines = wait_for(served, r"started server process \[\d+\]", count)
    found = [re.search(r"\[(\d+)\]", line) for line in lines]
    return [int(m.group(1)) for m in found if m is not None]


def gone(pid: int, timeout: float = 15) -> bool:
    """Whether ``pid`` ended (a zombie left to a parent that does not reap counts as ended)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


@pytest.mark.timeout(90)
def test_a_changed_module_restarts_the_server_and_sigint_stops_both(tmp_path: Path) -> None:
    (tmp_path / "scratch").mkdir()
    served = serve_app(tmp_path, APP, "reloadapp", "reloadapp:sio", "--reload", "--port", "0",
                       "--reload-dir", ".", "--reload-exclude", "scratch")
    try:
        port = served.port
        [first_pid] = server_pids(served, 1)
        reply, old_session = ask(port)
        assert reply == "first"

        (tmp_path / "scratch" / "notes.py").write_text("# excluded: no restart\n")
        (tmp_path / "notes.txt").write_text("not a source file: no restart\n")
        (tmp_path / "reloadapp.py").write_text(APP.replace('"first"', '"second"'))
        wait_for(served, r"tidings\.reload: reloadapp\.py changed, restarting", 1)
        _, second_pid = server_pids(served, 2)
        assert second_pid != first_pid and gone(first_pid)
        wait_for(served, r"listening on http://127\.0\.0\.1:" + str(port), 2)
        # The same port, a new process: the old session is unknown there, new ones get the
        # new handler.
        assert ask(port)[0] == "second"
        assert httpx.get(old_session, timeout=5).status_code == 400

        served.proc.send_signal(signal.SIGINT)
        assert served.proc.wait(20) == 0
        assert gone(second_pid), f"server process {second_pid} outlived the reloader"
        output = "".join(served.lines)
        assert "do nothing without --reload" not in output, output
        changed = [line.split(": ", 1)[1] for line in output.splitlines() if " changed, " in line]
        assert changed == ["reloadapp.py changed, restarting"], output
        assert f"stopped server process [{second_pid}]" in output
        assert "Traceback" not in output, output
    finally:
        served.stop()


@pytest.mark.timeout(90)
def test_a_module_that_fails_to_import_waits_for_the_next_change(tmp_path: Path) -> None:
    served = serve_app(tmp_path, APP, "reloadapp", "reloadapp:sio", "--reload", "--port", "0")
    try:
        port = served.port
        (tmp_path / "reloadapp.py").write_text(APP + "\nraise RuntimeError('broken on purpose')\n")
        wait_for(served, r"server process \[\d+\] exited with code \d+; it restarts when a file", 1)
        (tmp_path / "reloadapp.py").write_text(APP.replace('"first"', '"fixed"'))
        wait_for(served, r"listening on http://127\.0\.0\.1:" + str(port), 2)
        assert ask(port)[0] == "fixed"
        served.proc.send_signal(signal.SIGTERM)
        assert served.proc.wait(20) == 0
    finally:
        served.stop()


@pytest.mark.timeout(60)
def test_the_server_process_stops_when_the_reloader_is_killed(tmp_path: Path) -> None:
    served = serve_app(tmp_path, APP, "reloadapp", "reloadapp:sio", "--reload", "--port", "0",
                       env={"TIDINGS_RELOAD": "1"})  # --reload by its variable works too
    try:
        [pid] = server_pids(served, 1)
        served.proc.kill()
        served.proc.wait(10)
        assert gone(pid), f"server process {pid} outlived its reloader"
    finally:
        served.stop()


def test_only_matching_files_under_the_watched_roots_count(tmp_path: Path) -> None:
    rules = SourceFilter(["*.html"], ["build"], roots=[tmp_path])
    root = PurePath(tmp_path)
    assert rules.matches(root / "app.py") and rules.matches(root / "pkg" / "mod.py")
    assert rules.matches(root / "templates" / "index.html")
    assert not rules.matches(root / "notes.txt")
    assert not rules.matches(root / ".hidden.py") and not rules.matches(root / "mod.pyc")
    assert not rules.matches(root / ".venv" / "lib" / "x.py")
    assert not rules.matches(root / "node_modules" / "x.py")
    (tmp_path / "build").mkdir()
    assert not SourceFilter([], [str(tmp_path / "build")]).matches(root / "build" / "gen.py")
    # A watched directory inside one of the ignored names is still watched.
    inside = root / "venv" / "project"
    assert SourceFilter(roots=[Path(inside)]).matches(inside / "app.py")


@pytest.mark.parametrize("args", [["--workers", "2"], ["--workers", "3"]])
def test_reload_refuses_several_workers(tmp_path: Path, args: list[str]) -> None:
    (tmp_path / "reloadapp.py").write_text(APP)
    done = subprocess.run(
        [sys.executable, "-m", "tidings", "serve", "reloadapp:sio", "--reload", *args],
        cwd=tmp_path, check=False, capture_output=True, text=True, timeout=30,
        env={**os.environ},
    )
    assert done.returncode == 2, done.stderr
    assert "--reload runs one server process: it does not go with --workers" in done.stderr
    assert "Traceback" not in done.stderr


def test_without_watchfiles_reload_names_the_extra(tmp_path: Path) -> None:
    (tmp_path / "reloadapp.py").write_text(APP)
    code = ("import sys; sys.modules['watchfiles'] = None\n"
            "from tidings.cli import main\nmain(['serve', 'reloadapp:sio', '--reload'])\n")
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, check=False, capture_output=True, text=True,
        timeout=30,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip() == "Error: --reload needs watchfiles: pip install 'tidings[reload]'"
