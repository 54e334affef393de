"""Medians, ratios and the goal checks of the benchmark report."""

from __future__ import annotations

from typing import Any

from bench import report


def run(server: str, rnd: int, **result: float) -> dict[str, Any]:
    return {"round": rnd, "case": "fanout n=1000", "scenario": "fanout", "server": server,
            "result": result}


RUNS = [
    run("tidings", 1, deliveries_per_s=100.0, cpu_us_per_delivery=7.0, p99_ms=5.0, lost=0),
    run("tidings", 2, deliveries_per_s=300.0, cpu_us_per_delivery=9.0, p99_ms=7.0, lost=0),
    run("tidings", 3, deliveries_per_s=200.0, cpu_us_per_delivery=8.0, p99_ms=6.0, lost=0),
    run("node", 1, deliveries_per_s=100.0, cpu_us_per_delivery=14.0, p99_ms=9.0, lost=0),
    run("floor", 1, deliveries_per_s=400.0, cpu_us_per_delivery=6.0, p99_ms=3.0, lost=0),
    {"round": 2, "case": "fanout n=1000", "scenario": "fanout", "server": "node",
     "error": "Error: boom\nstack"},
]


def test_medians_skip_failed_runs() -> None:
    meds = report.medians(RUNS)
    assert meds["fanout n=1000"]["tidings"]["deliveries_per_s"] == 200.0
    assert meds["fanout n=1000"]["tidings"]["cpu_us_per_delivery"] == 8.0
    assert meds["fanout n=1000"]["node"]["deliveries_per_s"] == 100.0


def test_table_has_every_pairwise_ratio_and_failures() -> None:
    meds = report.medians(RUNS)
    text = report.table(RUNS, meds, ["tidings", "node", "floor"], [("fanout n=1000", "fanout")])
    assert "tidings/node 2.00" in text
    assert "tidings/floor 0.50" in text
    assert "node/floor 0.25" in text
    assert "! node failed: Error: boom" in text


def test_goals_read_from_medians() -> None:
    goals = {g.text: g for g in report.goals(report.medians(RUNS))}
    cpu = goals["fanout n=1000: CPU/delivery <= 1.25 x floor"]
    assert cpu.status == "NOT met"  # 8.0 > 1.25 * 6.0
    speed = goals["fanout n=1000: deliveries/s >= node, p99 <= node, nothing lost"]
    assert speed.status == "met"
    assert goals["echo: round trips/s >= 1.25 x node"].status == "n/a"
