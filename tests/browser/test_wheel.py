"""The wheel carries the browser client: ``pip install tidings`` is all a page needs."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tidings import browser

from .client_checks import NODE_CLIENT, REPO_ROOT, official


def test_the_wheel_carries_the_client_its_licence_and_version(tmp_path: Path) -> None:
    # Built from a copy, so the build leaves nothing behind in the source tree.
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copyfile(REPO_ROOT / name, source / name)
    shutil.copytree(
        REPO_ROOT / "tidings", source / "tidings",
        ignore=shutil.ignore_patterns("__pycache__", "*.so"),
    )
    out = tmp_path / "wheel"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "-q", "-w", str(out)],
        check=False, capture_output=True, text=True, timeout=240,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    (wheel,) = out.glob("tidings-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        for name in browser.FILES:
            assert archive.read(f"tidings/browser/{name}") == official(name), name
        assert archive.read("tidings/browser/LICENSE") == (NODE_CLIENT / "LICENSE").read_bytes()
        version = archive.read("tidings/browser/VERSION").decode()
        assert version.split() == ["socket.io-client", browser.version()]
        assert "tidings/browser/__init__.py" in archive.namelist()
        assert not [n for n in archive.namelist() if n.startswith("tidings/browser/") and "msgpack" in n]
