"""``python -m tidings``: the ``tidings`` command, for when its script is not on PATH."""

from tidings.cli import main

main()
