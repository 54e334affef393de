"""The docs build as a site, with no broken link, anchor or API reference."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(180)
def test_the_site_builds_strictly(tmp_path: Path) -> None:
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": str(REPO)}
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=170, check=False,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    # Every page of docs/ is in the site, and the API reference was generated.
    for page in (REPO / "docs").glob("*.md"):
        folder = "" if page.stem == "index" else page.stem
        assert (site / folder / "index.html").is_file(), page.name
    api = (site / "api" / "index.html").read_text(encoding="utf-8")
    for name in ("tidings.Server.emit", "tidings.Socket.join", "tidings.client.Client.connect",
                 "tidings.client.SyncClient", "tidings.emitter.Emitter", "tidings.ASGIApp",
                 "tidings.standalone.serve", "tidings.standalone.run",
                 "tidings.errors.ConnectionRefusedError", "tidings.testing.connect"):
        assert f'id="{name}"' in api, name
