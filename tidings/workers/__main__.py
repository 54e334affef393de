"""``python -m tidings.workers SPEC``: one worker, started by the supervisor."""

import sys

from tidings.workers.worker import main

sys.exit(main())
