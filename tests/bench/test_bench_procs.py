"""Where the benchmark's processes run."""

from __future__ import annotations

import os
import subprocess
import sys

from bench.procs import ROOT

# In a child, so that pinning it changes nothing for the test process.
_SCRIPT = """
import os, sys
from bench import procs
first = procs.cores()
os.sched_setaffinity(0, first[1])  # what the runner does to itself
print(first == procs.cores(), len(first[0] | first[1]), sorted(first[0]), sorted(first[1]))
"""


def test_cores_are_read_once_and_split_between_server_and_load_generator() -> None:
    done = subprocess.run([sys.executable, "-c", _SCRIPT], cwd=ROOT, capture_output=True,
                          text=True, check=True, timeout=60)
    same, total, server, loadgen = done.stdout.split(maxsplit=3)
    assert same == "True"  # the runner pinning itself must not move the server onto its core
    if len(os.sched_getaffinity(0)) >= 2:
        assert int(total) == 2
        assert server != loadgen
