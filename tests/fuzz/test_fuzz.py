"""The fuzz targets in the test command: the kept corpus replayed, then a short
coverage-guided run of each target (the long run is ``scripts/fuzz``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuzz.targets import TARGETS

REPO_ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).resolve().parent / "corpus"
SHORT_RUN_SECONDS = int(os.environ.get("TIDINGS_FUZZ_SECONDS", "5"))


@pytest.mark.parametrize("name", list(TARGETS))
def test_the_kept_corpus_replays(name: str) -> None:
    """Every input kept (seeds, inputs that reached new code, past crashes) runs clean."""
    files = sorted((CORPUS / name).iterdir())
    assert files, f"no corpus for {name}"
    for path in files:
        TARGETS[name](path.read_bytes())


@pytest.mark.timeout(SHORT_RUN_SECONDS * 4 + 60)
@pytest.mark.parametrize("name", list(TARGETS))
def test_a_short_fuzzing_run_finds_nothing(name: str, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS / name, corpus)
    proc = subprocess.run(
        [sys.executable, "-m", "tests.fuzz.run", name, f"-max_total_time={SHORT_RUN_SECONDS}",
         "-rss_limit_mb=2048", "-timeout=10", str(corpus)],
        check=False, cwd=tmp_path, capture_output=True, text=True,
        timeout=SHORT_RUN_SECONDS * 4 + 30,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    crashes = [p.name for p in tmp_path.iterdir() if p.name.startswith(("crash-", "timeout-", "oom-"))]
    assert proc.returncode == 0 and not crashes, (crashes, proc.stderr[-4000:])
    assert "DONE" in proc.stderr, proc.stderr[-2000:]
