"""What a pip user gets: the wheel, installed in a fresh venv far from the repository.

The wheel is built from a copy of the sources, installed into a venv in a temporary
directory, and run from there with no ``PYTHONPATH``: ``tidings demo`` (two pages
chatting in Chromium) and the README's quickstart (its ``app.py``, page and command,
copied out of the README, so a README whose code breaks fails here), whose page loads
the browser client the wheel carries: no npm.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.demo.harness import Browser, ChatPage, ServedProcess
from tests.docs.markdown import code_blocks

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(600)


def run(argv: list[str], cwd: Path, timeout: float) -> str:
    done = subprocess.run(
        argv, cwd=cwd, env=user_env(), capture_output=True, text=True, timeout=timeout, check=False,
    )
    assert done.returncode == 0, f"{argv}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def user_env() -> dict[str, str]:
    """The environment of someone who never cloned the repository."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "TIDINGS_"))}
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(str(REPO))
    )
    return env


@pytest.fixture(scope="module")
def user(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory outside the repository, with a venv holding the wheel: returns its bin/."""
    home = tmp_path_factory.mktemp("pip-user")
    assert not home.resolve().is_relative_to(REPO)
    source = home / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copyfile(REPO / name, source / name)
    shutil.copytree(REPO / "tidings", source / "tidings",
                    ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    run([sys.executable, "-m", "build", "--wheel", "--outdir", str(home / "dist"), str(source)],
        home, 300)
    (wheel,) = (home / "dist").glob("tidings-*.whl")
    shutil.rmtree(source)
    run([sys.executable, "-m", "venv", str(home / "venv")], home, 120)
    bin_dir = home / "venv" / "bin"
    run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet", str(wheel)], home, 300)
    where = run([str(bin_dir / "python"), "-c", "import tidings; print(tidings.__file__)"], home, 60)
    assert Path(where.strip()).is_relative_to(home / "venv"), where
    return bin_dir


def readme_quickstart() -> tuple[str, str, list[str]]:
    """The README's quickstart: app.py, public/index.html, and the command that serves them."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Quickstart"):]
    section = section[: section.index("\n## ", 1)]
    blocks = code_blocks(section)
    (app,) = [b.code for b in blocks if b.lang == "python"]
    (page,) = [b.code for b in blocks if b.lang == "html"]
    (command,) = [b.code.strip() for b in blocks if b.lang == "sh"]
    assert app.startswith("# app.py\n") and page.startswith("<!-- public/index.html")
    argv = command.split()
    assert argv[:2] == ["tidings", "serve"] and "--port" in argv, command
    argv[argv.index("--port") + 1] = "0"  # a free port, not the README's
    return app, page, argv


async def test_the_demo_from_the_wheel(user: Path, browser: Browser, shots: Path) -> None:
    home = user.parents[1]
    demo = ServedProcess(
        [str(user / "tidings"), "demo", "--host", "127.0.0.1", "--port", "0",
         "--db", str(home / "chat.sqlite3")],
        cwd=home, env=user_env(),
    )
    await demo.start()
    try:
        alice = await ChatPage.open(browser, "Alice", shots, demo.url)
        await alice.login("Alice")
        bob = await ChatPage.open(browser, "Bob", shots, demo.url)
        await bob.login("Bob")
        await alice.say_confirmed("Hello Bob, from a pip install")
        await bob.wait_messages_include(["Hello Bob, from a pip install"])
        await bob.say_confirmed("Hi Alice")
        await alice.wait_messages_include(["Hi Alice"])
        await alice.screenshot("demo-from-the-wheel")
        assert await alice.errors() == [] and await bob.errors() == []
    finally:
        assert await demo.stop() == 0
    assert "Traceback" not in demo.log(), demo.log()


async def test_the_readme_quickstart_from_the_wheel(user: Path, browser: Browser, shots: Path) -> None:
    home = user.parents[1]
    app, page, argv = readme_quickstart()
    project = home / "quickstart"
    (project / "public").mkdir(parents=True)
    (project / "app.py").write_text(app, encoding="utf-8")
    (project / "public" / "index.html").write_text(page, encoding="utf-8")
    server = ServedProcess([str(user / argv[0]), *argv[1:]], cwd=project, env=user_env())
    await server.start()
    try:
        pages = {}
        for name in ("first", "second"):
            await browser.call("open", name=name)
            await browser.call("goto", name=name, url=server.url)
            # The page's own hello was acknowledged: the client came from the wheel.
            await browser.call("waitForText", name=name, selector="#messages", text="delivered")
            pages[name] = await browser.call("evaluate", name=name, expression="() => socket.id")
        # The second page's hello reached the first through the lobby.
        await browser.call("waitForText", name="first", selector="#messages",
                           text=f"{pages['second']}: hello")
        await browser.call("screenshot", name="first", path=str(shots / "quickstart.png"))
        src = await browser.call(
            "evaluate", name="first",
            expression="() => document.querySelector('script[src]').src",
        )
        assert src == f"{server.url}/socket.io/socket.io.min.js"
        for name in pages:
            errors = await browser.call("errors", name=name)
            # Chromium's own request for /favicon.ico, which the quickstart has not.
            assert [e for e in errors if "status of 404" not in e] == [], errors
            assert len(errors) <= 1, errors
    finally:
        assert await server.stop() == 0
    assert "Traceback" not in server.log(), server.log()
