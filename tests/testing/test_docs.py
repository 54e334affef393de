"""Every Python example of docs/testing.md is a complete test file that passes as it stands.

Each block is written to a file of its own and run by pytest in a subprocess, as a
reader would run it after copying it; the e2e example gets the fixtures of
tests/e2e/conftest.py, as it would beside the e2e tests.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.docs.markdown import python_blocks

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "testing.md"

CONFTEST = """\
from tests.conftest import *  # noqa: F403  (node_bin)
from tests.e2e.conftest import *  # noqa: F403  (node, client_opts, ...)
"""


def test_the_page_has_the_examples_it_promises() -> None:
    blocks = python_blocks(DOC.read_text(encoding="utf-8"))
    assert len(blocks) >= 3
    for block in blocks:
        assert "[...]" not in block and "..." not in block.replace('"""', "")
        assert re.search(r"^async def test_", block, flags=re.MULTILINE), block[:200]
        assert re.search(r"^import tidings$", block, flags=re.MULTILINE), block[:200]


@pytest.mark.timeout(120)
async def test_every_example_passes(tmp_path: Path, node_bin: str) -> None:
    blocks = python_blocks(DOC.read_text(encoding="utf-8"))
    names = []
    for index, block in enumerate(blocks):
        name = f"test_doc_example_{index}"
        (tmp_path / f"{name}.py").write_text(block, encoding="utf-8")
        names.append(name)
    (tmp_path / "conftest.py").write_text(CONFTEST, encoding="utf-8")
    report = tmp_path / "report.xml"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pytest", str(tmp_path), "-q", "-p", "no:cacheprovider",
        "--rootdir", str(tmp_path), "-c", os.devnull,
        "-o", "asyncio_mode=auto", "-o", "asyncio_default_fixture_loop_scope=function",
        f"--junitxml={report}",
        cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 110)
    output = out.decode(errors="replace")
    assert proc.returncode == 0, output
    passed: dict[str, int] = {}
    for case in ET.parse(report).iter("testcase"):
        assert not list(case), output  # no failure, error or skip
        module = case.get("classname", "").rpartition(".")[2] or case.get("classname", "")
        passed[module] = passed.get(module, 0) + 1
    assert set(passed) == set(names), output  # every block ran tests
