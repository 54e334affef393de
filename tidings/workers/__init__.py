"""``tidings serve module:app --workers N``: N processes on one port and one cluster.

``tidings.workers.run("module:app", workers=4, port=8000)`` does the same from code.
See docs/workers.md.
"""

from tidings.workers.options import WorkersOptions
from tidings.workers.supervisor import Supervisor, run

__all__ = ["Supervisor", "WorkersOptions", "run"]
