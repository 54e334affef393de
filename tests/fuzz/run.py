"""Run one fuzz target under atheris (coverage-guided): ``python -m tests.fuzz.run TARGET
[libFuzzer options] [CORPUS_DIR ...]``. New inputs that reach new code are written to the
first corpus directory; a crash writes ``crash-*`` and exits non-zero."""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["tidings"]):
    from tests.fuzz.targets import TARGETS


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: python -m tests.fuzz.run {{{','.join(TARGETS)}}} [libFuzzer options] [corpus...]")
    target = TARGETS[sys.argv[1]]
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
