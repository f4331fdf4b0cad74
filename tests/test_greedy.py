"""The greedy baseline (planner/greedy/): every plan passes the independent checker, never beats
the MILP, gives the spreadsheet answer derived by hand, and warm-starts HiGHS."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from generated import generated

from planner import Status, load_instance, parse_instance, solve
from planner.greedy import Fleet, Setting, complete, fill, greedy, search
from planner.model import build_model
from planner.solvers import SolveOptions
from planner.solvers.highs import HighsSolver

ROOT = Path(__file__).parent.parent
INSTANCES = [p for p in sorted(ROOT.joinpath("instances").glob("*.yaml")) if not p.stem.startswith("teach_infeasible")]  # the feasible ones
WITH_SCENARIOS = [p for p in INSTANCES if load_instance(p).uncertainty is not None]
REL = 1e-9


# ----- every plan verified, never better than the MILP ------------------------------------------


@pytest.mark.parametrize("path", [p for p in INSTANCES if p not in WITH_SCENARIOS], ids=lambda p: p.stem)
def test_greedy_plan_verifies_on_shipped_instances(path: Path) -> None:
    inst = load_instance(path)
    plan = solve(inst, solver="greedy")
    assert plan.status == Status.FEASIBLE and plan.verified
    assert plan.solver == "greedy" and plan.best_bound is None and plan.mip_gap is None
    optimum = solve(inst, warm_start=False)
    assert optimum.status == Status.OPTIMAL
    assert plan.objective <= optimum.objective * (1 + 1e-9) + 1e-6


@pytest.mark.parametrize("path", WITH_SCENARIOS, ids=lambda p: p.stem)
def test_greedy_refuses_shipped_instances_with_scenarios(path: Path) -> None:
    with pytest.raises(ValueError, match="does not plan under uncertainty"):
        solve(load_instance(path), solver="greedy")


@pytest.mark.parametrize("size,seed", [("S", 0), ("S", 1), ("S", 2), ("M", 0), ("M", 1), ("M", 2)])
def test_greedy_plan_verifies_on_generated_instances(size: str, seed: int) -> None:
    """Verified, and at most the MILP: its optimum on S, its proven bound on M (a short cold solve)."""
    inst = generated(size, seed)
    plan = solve(inst, solver="greedy")
    assert plan.status == Status.FEASIBLE and plan.verified
    assert plan.objective > 0
    milp = solve(inst, time_limit=None if size == "S" else 2.0, warm_start=False)
    bound = milp.objective if milp.status == Status.OPTIMAL else milp.best_bound
    assert plan.objective <= bound * (1 + 1e-9)


@pytest.mark.parametrize("size,seed", [("S", 0), ("S", 1), ("M", 0)])
def test_passes_are_worth_what_they_complete_to(size: str, seed: int) -> None:
    """Passes the search compares (not only the best) are plans the model accepts once their nodes
    are fixed, and what the search compares them by (the model's objective vector times the pass's
    columns) is the objective their completion reports."""
    m = build_model(generated(size, seed))
    best_setting, _ = search(m, max_passes=6)
    for setting in {Setting("mw"), Setting("gpu"), best_setting}:
        f = fill(Fleet(m), setting)
        report = complete(m, f.ledger.x, f.ledger.accepted)
        assert f.worth() == pytest.approx(report.objective, rel=REL), setting.label(m)


def test_worth_counts_the_pace_and_the_held_columns() -> None:
    """The columns the greedy does not decide but the objective reads: teach_mixed_training's run counts
    its GPUs on paced columns (its slowest generation sets the pace); a lease the operator may end holds
    its block on per-period held columns (the greedy keeps it: 10 GPUs x 2 x 4 h = 80, an end at 2 loses
    40 + the fee)."""
    endable = parse_instance({
        "name": "endable", "horizon": {"periods": 4, "period_hours": 1}, "generations": [gen("G", 1.0, 1.0, 1.0)],
        "sites": [{"name": "S", "power_mw": 1, "inventory": {"G": 10}}],
        "leases": [{"name": "A", "price_per_gpu_hour": 2, "max_gpus": 10, "all_or_nothing": True,
                    "termination": {"earliest_period": 2, "fee": 5}}],
    })
    for inst in (load_instance(ROOT / "instances" / "teach_mixed_training.yaml"), endable):
        m = build_model(inst)
        fleet = Fleet(m)
        assert fleet.prices.paced or fleet.prices.held, inst.name
        _, f = search(m)
        assert f.worth() == pytest.approx(complete(m, f.ledger.x, f.ledger.accepted).objective, rel=REL), inst.name
    assert f.worth() == pytest.approx(80.0, rel=REL)


# ----- hand-derived answers -----------------------------------------------------------------------


def gen(name: str, power_kw: float, train_speed: float, infer_speed: float) -> dict:
    return {"name": name, "power_kw": power_kw, "node_size": 1, "train_speed": train_speed, "infer_speed": infer_speed}


def test_spreadsheet_answer_by_hand() -> None:
    """One 10-hour period, free energy. Site `hall`: 6 A (1 kW, train 1, infer 1) + 2 B (2 kW, train 4,
    infer 3), 8 kW. Signed `anchor`: exactly 2 A at 0.5. Pool `chat`: 3 units at 2.0, then 100 at 0.1.
    Run `fit`: 1.0 per unit-hour. Offer `spot`: A only, 1.2 per GPU-hour.

    Mandatory: anchor takes 2 A (2 kW); 6 kW left. Net value per kW of each option:
      B chat (first tier) 3 x 2.0 / 2 = 3.0; A chat (first tier) 2.0; B fit 4 / 2 = 2.0; A spot 1.2;
      A fit 1.0; B chat (second tier) 0.15; A chat (second tier) 0.1.
    The spreadsheet: 1 B serves chat's 3 units (2 kW, 6/h); A chat has fallen to 0.1 (tier full);
    fit goes on the other B (2 kW, 4 units, 4/h); spot takes 2 A (the last 2 kW, 2.4/h); 2 A idle.
    Per hour 1 + 6 + 4 + 2.4 = 13.4; over 10 h: 134. Every alternative use of the 6 kW is worth less
    (3 A on chat instead of 1 B: 6 + 4 + 1.2 = 11.2 < 12.4), so the MILP agrees."""
    inst = parse_instance({
        "name": "spreadsheet", "horizon": {"periods": 1, "period_hours": 10},
        "generations": [gen("A", 1.0, 1.0, 1.0), gen("B", 2.0, 4.0, 3.0)],
        "sites": [{"name": "hall", "power_mw": 0.008, "inventory": {"A": 6, "B": 2}}],
        "training": [{"name": "fit", "value_per_unit_hour": 1.0}],
        "inference": [{"name": "chat", "demand": [{"units": 3, "value_per_unit_hour": 2.0},
                                                  {"units": 100, "value_per_unit_hour": 0.1}]}],
        "leases": [{"name": "anchor", "price_per_gpu_hour": 0.5, "generations": ["A"], "max_gpus": 2,
                    "all_or_nothing": True, "signed": True},
                   {"name": "spot", "price_per_gpu_hour": 1.2, "generations": ["A"], "max_gpus": 8}],
    })
    plan = solve(inst, solver="greedy")
    assert plan.status == Status.FEASIBLE and plan.verified
    assert plan.objective == pytest.approx(134.0, rel=REL)
    assert plan.breakdown == pytest.approx({"lease_revenue": 10 * (1 + 2.4), "training_value": 40.0,
                                            "inference_value": 60.0, "energy_cost": 0.0}, rel=REL)
    used = plan.allocations.set_index(["generation", "use", "consumer"])["gpus"]
    assert used[("A", "lease", "anchor")] == 2 and used[("A", "lease", "spot")] == 2
    assert used[("B", "inference", "chat")] == 1 and used[("B", "training", "fit")] == 1
    assert solve(inst).objective == pytest.approx(134.0, rel=REL)


def test_greedy_fills_power_by_rank_and_strands_it() -> None:
    """Where the ranking is wrong the MILP shows its gain: a 6 kW site, free energy, one 10-hour period.
    A: node_size 4, 1 kW per GPU, 4 GPUs (one 4 kW node); B: node_size 3, 1 kW, 6 GPUs (two 3 kW nodes).
    One offer, 1.25 per A GPU-hour and 1.2 per B GPU-hour. Per kW (and per GPU) A ranks first: the
    spreadsheet leases the A node (4 kW, 5/h) and no 3 kW B node fits the 2 kW left: 50. The MILP
    leases both B nodes (6 kW, 7.2/h): 72."""
    inst = parse_instance({
        "name": "stranded-power", "horizon": {"periods": 1, "period_hours": 10},
        "generations": [{"name": "A", "power_kw": 1.0, "node_size": 4, "train_speed": 1.0, "infer_speed": 1.0},
                        {"name": "B", "power_kw": 1.0, "node_size": 3, "train_speed": 1.0, "infer_speed": 1.0}],
        "sites": [{"name": "hall", "power_mw": 0.006, "inventory": {"A": 4, "B": 6}}],
        "leases": [{"name": "offer", "price_per_gpu_hour": {"A": 1.25, "B": 1.2}}],
    })
    plan = solve(inst, solver="greedy")
    assert plan.objective == pytest.approx(50.0, rel=REL)
    assert plan.allocations.query("use == 'lease'")[["generation", "gpus"]].values.tolist() == [["A", 4]]
    milp = solve(inst)
    assert milp.objective == pytest.approx(72.0, rel=REL)


def test_search_places_a_run_the_ranking_crowds_out() -> None:
    """16 A GPUs (node 8, 1 kW, train 1, infer 1), ample power, free energy, one 100-hour period.
    Pool `chat`: 8 units at 1.5; run `fit`: 1.0 per unit-hour but min_units 16 (both nodes).
    Ranked, chat comes first (1.5 > 1.0 per GPU-hour and per kW): 8 GPUs serve chat (1,200) and fit
    no longer fits in the 8 left: 1,200. The search then tries the left-out run first: fit on all
    16 GPUs, 1,600, which is the optimum."""
    inst = parse_instance({
        "name": "crowded-out", "horizon": {"periods": 1, "period_hours": 100},
        "generations": [{"name": "A", "power_kw": 1.0, "node_size": 8, "train_speed": 1.0, "infer_speed": 1.0}],
        "sites": [{"name": "hall", "power_mw": 1.0, "inventory": {"A": 16}}],
        "training": [{"name": "fit", "value_per_unit_hour": 1.0, "min_units": 16}],
        "inference": [{"name": "chat", "demand": [{"units": 8, "value_per_unit_hour": 1.5}]}],
    })
    m = build_model(inst)
    assert fill(Fleet(m), Setting("mw")).worth() == pytest.approx(1200.0, rel=REL)
    plan = greedy(m)
    assert plan.objective == pytest.approx(1600.0, rel=REL) and plan.label == "per MW, fit first"
    assert solve(inst).objective == pytest.approx(1600.0, rel=REL)


def test_greedy_prices_a_whole_site_offer_against_internal_use() -> None:
    """teach_whole_site: ranked per MW, inference on NEW (4/kW-h) beats the whole-site offer (150 for
    64 kW = 2.3/kW-h) and would leave the offer unplaceable (96); the pass with north-whole forced
    in is worth 246, the hand optimum, so the greedy keeps it."""
    plan = solve(ROOT / "instances" / "teach_whole_site.yaml", solver="greedy")
    assert plan.objective == pytest.approx(246.0, rel=REL)
    assert plan.leases.set_index("name")["accepted"].to_dict() == {"north-whole": True, "campus-whole": False}


def test_greedy_without_a_plan_reports_no_solution() -> None:
    """A required run that no block can hold: the greedy cannot place it (the instance is infeasible)."""
    inst = parse_instance({
        "name": "too-big", "generations": [gen("A", 1.0, 1.0, 1.0)],
        "sites": [{"name": "hall", "power_mw": 1.0, "inventory": {"A": 4}}],
        "training": [{"name": "fit", "value_per_unit_hour": 1.0, "min_units": 8, "required": True}],
    })
    plan = solve(inst, solver="greedy")
    assert plan.status == Status.NO_SOLUTION and plan.objective is None


# ----- the warm start -------------------------------------------------------------------------------


def test_highs_keeps_the_greedy_start_under_a_short_time_limit() -> None:
    """HiGHS given the greedy plan as a start (setSolution) reports an incumbent at least as good,
    even when stopped long before it could find one of its own; and so does `solve`, whose start
    always includes the two ranking passes."""
    inst = generated("M", 0)
    m = build_model(inst)
    start = greedy(m)
    report = HighsSolver().solve(m.lm, SolveOptions(time_limit=1.0, warm_start=start.x))
    assert report.status.has_solution
    assert report.objective >= start.objective * (1 - 1e-9)
    result = solve(inst, time_limit=2.0)
    assert result.verified and result.objective >= greedy(m, max_passes=2).objective * (1 - 1e-9)


def test_cli_solve_with_greedy(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "planner", "solve", str(ROOT / "instances" / "teach_power_bound.yaml"),
                           "--solver", "greedy", "--format", "json"], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path, check=False)
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert (plan["solver"], plan["status"], plan["best_bound"]) == ("greedy", "feasible", None)
    assert plan["objective"] == pytest.approx(177.5)
