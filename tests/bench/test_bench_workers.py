"""The workers' cases of the benchmark: the scaling factor, and the servers' command lines."""

from __future__ import annotations

from typing import Any

from bench import report, runner
from bench.scenarios import WORKER_SCENARIOS, WORKER_SERVERS


def run(case: str, server: str, **result: float) -> dict[str, Any]:
    return {"round": 1, "case": case, "scenario": case.split(" ")[0], "server": server,
            "result": result}


def test_scaling_divides_two_workers_by_one_for_each_family() -> None:
    runs = [
        run("fanout n=500", "tidings-w1", deliveries_per_s=100.0),
        run("fanout n=500", "tidings-w2", deliveries_per_s=150.0),
        run("fanout n=500", "node-w1", deliveries_per_s=80.0),
        run("echo c=50", "node-w1", round_trips_per_s=40.0),
        run("echo c=50", "node-w2", round_trips_per_s=60.0),
        run("echo c=50", "tidings", round_trips_per_s=99.0),
    ]
    items = report.scaling(report.medians(runs))
    assert [(i["case"], i["server"], i["factor"]) for i in items] == [
        ("fanout n=500", "tidings", 1.5), ("echo c=50", "node", 1.5),
    ]
    text = report.scaling_text(items)
    assert "fanout n=500       tidings  deliveries_per_s: 100 -> 150  x1.50" in text


def test_workers_flag_picks_the_unpinned_servers_and_their_scenarios() -> None:
    args = runner.parse_args(["--workers"])
    assert args.workers and args.servers is None and args.scenarios is None
    assert {s.name for s in WORKER_SERVERS} == {"tidings-w1", "tidings-w2", "node-w1", "node-w2"}
    assert all(not s.pinned and s.scenarios == WORKER_SCENARIOS and s.ready for s in WORKER_SERVERS)
    tidings_w2 = next(s for s in WORKER_SERVERS if s.name == "tidings-w2")
    argv = tidings_w2.argv(4321)
    assert argv[1:4] == ["-m", "tidings", "serve"]
    assert argv[argv.index("--workers") + 1] == "2" and argv[argv.index("--port") + 1] == "4321"
