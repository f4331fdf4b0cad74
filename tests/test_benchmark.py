"""The benchmark's M instance (10 sites x 6 generations x 12 periods x 60 consumers) solves to a
proven optimum (gap <= 1e-4) and the plan passes the independent checker. Timings belong to
scripts/bench.py, not here; its summary (medians, maxima, targets met) is checked on synthetic runs."""

import importlib.util

import pandas as pd
import pytest
from generated import ROOT, generated

from planner import solve


@pytest.mark.parametrize("time_limit", [None, 300.0], ids=["no limit", "limit 300 s, as bench.py runs"])
def test_generated_m_instance_is_solved_to_proven_optimality_and_verified(time_limit):
    result = solve(generated("M", 0), gap=1e-4, time_limit=time_limit)
    assert result.status.value == "optimal"
    assert result.mip_gap is not None and result.mip_gap <= 1e-4
    assert result.verified
    assert result.best_bound >= result.objective


@pytest.fixture(scope="module")
def bench():
    """scripts/bench.py, imported by path (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("bench_script", ROOT / "scripts" / "bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(size, family, seed, status, gap, seconds, build=0.1, solver="highs"):
    """One synthetic row as bench.py's --one writes it."""
    return {"size": size, "family": family, "solver": solver, "seed": seed, "variables": 100 + seed,
            "constraints": 50, "integers": 40, "status": status, "objective": 1.0, "best_bound": 1.0,
            "mip_gap": gap, "build_s": build, "solve_s": seconds - build, "verify_s": 0.0, "end_to_end_s": seconds,
            "verified": status in ("optimal", "feasible"), "gain_over_greedy": 1.1, "peak_mb": 100.0 + seed}


RUNS = pd.DataFrame([
    run("M", "mixed", 1, "optimal", 9e-5, 8.0),    # met
    run("M", "mixed", 2, "optimal", 1e-4, 10.0),   # met: at the target gap and seconds exactly
    run("M", "mixed", 3, "optimal", 9e-5, 10.5),   # too slow
    run("M", "mixed", 4, "feasible", 2e-4, 60.0),  # not proven
    run("M", "mixed", 5, "optimal", 5e-4, 4.0),    # optimal at a looser gap (--gap) is not the target
    run("M", "lessor", 1, "optimal", 0.0, 2.0, build=0.5),
    {"size": "M", "family": "lessor", "solver": "highs", "seed": 2, "status": "error", "error": "boom"},
    run("S", "mixed", 1, "optimal", 0.0, 0.1, build=0.01),
    run("L", "mixed", 1, "optimal", 9e-4, 19.0),
    run("L", "mixed", 2, "optimal", 9e-4, 21.0),
])


def test_summary_has_medians_maxima_and_targets_met_per_size_family_and_solver(bench):
    table = bench.summarise(RUNS).set_index(["size", "family", "solver"])
    m = table.loc[("M", "mixed", "highs")]
    assert m["runs"] == 5 and m["met"] == 2 and m["verified"] == 5
    assert m["end_to_end_s"] == 10.0 and m["max_end_to_end_s"] == 60.0
    assert m["max_gap"] == 5e-4 and m["peak_mb"] == 105.0 and m["variables"] == 103
    assert m["build_share"] == pytest.approx(0.1 / 10.0)  # the median of the runs' shares
    assert m["status"] == "feasible/optimal"
    lessor = table.loc[("M", "lessor", "highs")]  # a failed run counts as run, not met, not verified
    assert lessor["runs"] == 2 and lessor["met"] == 1 and lessor["verified"] == 1
    assert lessor["end_to_end_s"] == 2.0 and lessor["status"] == "error/optimal"
    assert table.loc[("L", "mixed", "highs"), "met"] == 1
    assert table.loc[("S", "mixed", "highs"), "met"] == 0  # S has no target


def test_markdown_shows_targets_met_and_every_run(bench):
    lines = bench.markdown(bench.summarise(RUNS)).splitlines()
    assert "| median s | max s |" in lines[0] and "| target | met |" in lines[0]
    assert lines[2] == ("| M | mixed | highs | 103 | 50 | 40 | feasible/optimal | 10.00 | 60.00 | 1.0% | 5.0e-04 "
                        "| 10 s at 1e-04 | 2/5 | 1.100 | 105 | 5/5 |")
    assert "| S | mixed | highs |" in lines[4] and "| - | - | 1.100 |" in lines[4]  # S: no target, nothing met
    per_run = bench.runs_markdown(RUNS).splitlines()
    assert per_run[0] == "| size | family | seed | solver | status | gap | seconds |"
    assert len(per_run) == 2 + len(RUNS)
    assert per_run[2] == "| M | mixed | 1 | highs | optimal | 9.0e-05 | 8.00 |"
    assert per_run[8] == "| M | lessor | 2 | highs | error | - | - |"
