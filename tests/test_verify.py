"""The independent checker: a hand-made valid result verifies, and each single break is caught."""

import copy

import pytest

from planner.instance import parse_instance
from planner.verify import VerificationError, Violation, check, verify

# period_hours 8760 with a 25 % annual rate gives round discount weights: w = [1, 0.8].
INSTANCE = parse_instance({
    "name": "verify-fixture",
    "horizon": {"periods": 2, "period_hours": 8760, "discount_rate": 0.25},
    "generations": [
        {"name": "A", "power_kw": 1.0, "node_size": 4, "train_speed": 2.0, "infer_speed": 2.0},
        {"name": "B", "power_kw": 0.5, "node_size": 2, "train_speed": 1.0, "infer_speed": 1.0},
    ],
    "sites": [
        # usable A: 16, 16 (2 stranded); usable B: 10, 12
        {"name": "s1", "power_mw": 0.018, "pue": 1.0, "energy_price_per_mwh": 10,
         "inventory": {"A": 18, "B": 10}, "deliveries": [{"period": 1, "generation": "B", "gpus": 2}]},
        # usable A: 8, 8; usable B: 0, 4
        {"name": "s2", "power_mw": 0.05, "pue": 2.0, "energy_price_per_mwh": 5,
         "inventory": {"A": 8}, "deliveries": [{"period": 1, "generation": "B", "gpus": 4}]},
    ],
    "training": [
        {"name": "big", "value_per_unit_hour": 0.1, "min_units": 12, "max_units": 32, "required": True,
         "sites": ["s1"]},
        {"name": "mix", "value_per_unit_hour": 0.05, "homogeneous": False, "single_site": False,
         "periods": [1, 2]},
    ],
    "inference": [
        {"name": "chat", "min_units": 2, "demand_scale": [1, 0.5], "sites": ["s1"],
         "demand": [{"units": 4, "value_per_unit_hour": 0.001}, {"units": 10, "value_per_unit_hour": 0.004}]},
    ],
    "leases": [
        {"name": "perg", "price_per_gpu_hour": 0.002, "generations": ["B"], "sites": ["s1"],
         "min_gpus": 2, "max_gpus": 4, "signed": True, "lessee_pays_power": True},
        {"name": "pergen", "price_per_gpu_hour": {"A": 0.003}, "all_or_nothing": True, "max_gpus": 4,
         "periods": [0, 1]},
        {"name": "whole", "payment_per_period": 50, "whole_sites": True, "sites": ["s2"], "generations": ["A"],
         "group": "g"},
        {"name": "rival", "payment_per_period": 20, "all_or_nothing": True, "max_gpus": 4, "group": "g"},
    ],
})


def row(period, site, generation, use, consumer, gpus):
    return {"period": period, "site": site, "generation": generation, "use": use, "consumer": consumer,
            "gpus": gpus}


# Hand computation (H = 8760, w = [1, 0.8]):
#   big    8 A at s1 in both periods: 16 units            -> 8760 * 1.8 * 0.1 * 16      = 25228.8
#   mix    4 A + 2 B at s1 in period 1: 6 GPUs at B's 1.0 -> 8760 * 0.8 * 0.05 * 6      =  2102.4
#   chat   t0: 4 B = 4 units, all in the 0.004 tier       -> 0.016 / h
#          t1: 4 A = 8 units, scale 0.5: 5 x 0.004 + 2 x 0.001 (1 unit unsold) -> 0.022 / h
#                                                         -> 8760 * (0.016 + 0.8 * 0.022) = 294.336
#   perg   2 B at s1 in both periods                      -> 8760 * 1.8 * 2 * 0.002     =    63.072
#   pergen 4 A at s1 in period 0                          -> 8760 * 1 * 4 * 0.003       =   105.12
#   whole  all 8 A at s2 in both periods                  -> 50 * 1.8                   =    90
#   rival  not accepted                                   ->                                  0
#   energy s1 (pue 1, perg's lessee pays its 1 kW): t0 15 - 1 = 14 kW, t1 18 - 1 = 17 kW
#          s2 (pue 2): 8 A = 16 kW facility in both periods
#          -> 8760 * (1 * (10 * 0.014 + 5 * 0.016) + 0.8 * (10 * 0.017 + 5 * 0.016)) = 8760 * 0.42 = 3679.2
#   power  s1: 15 kW, 18 kW <= 18 kW (tight in period 1); s2: 16 kW <= 50 kW
#   objective = 258.192 + 27331.2 + 294.336 - 3679.2 = 24204.528
VALID = {
    "instance": "verify-fixture",
    "status": "optimal",
    "objective": 24204.528,
    "best_bound": 24204.528,
    "mip_gap": 0.0,
    "solver": "highs",
    "solve_seconds": 0.0,
    "breakdown": {"lease_revenue": 258.192, "training_value": 27331.2, "inference_value": 294.336,
                  "energy_cost": 3679.2},
    "allocations": [
        row(0, "s1", "A", "training", "big", 8),
        row(1, "s1", "A", "training", "big", 8),
        row(1, "s1", "A", "training", "mix", 4),
        row(1, "s1", "B", "training", "mix", 2),
        row(0, "s1", "B", "inference", "chat", 4),
        row(1, "s1", "A", "inference", "chat", 4),
        row(0, "s1", "B", "lease", "perg", 2),
        row(1, "s1", "B", "lease", "perg", 2),
        row(0, "s1", "A", "lease", "pergen", 4),
        row(0, "s2", "A", "lease", "whole", 8),
        row(1, "s2", "A", "lease", "whole", 8),
        row(0, "s1", "A", "idle", None, 4),
        row(0, "s1", "B", "idle", None, 4),
        row(1, "s1", "B", "idle", None, 8),
        row(1, "s2", "B", "idle", None, 4),
    ],
    "leases": [
        {"name": "perg", "accepted": True, "gpus": 2, "revenue": 63.072},
        {"name": "pergen", "accepted": True, "gpus": 4, "revenue": 105.12},
        {"name": "whole", "accepted": True, "gpus": 8, "revenue": 90.0},
        {"name": "rival", "accepted": False, "gpus": 0, "revenue": 0.0},
    ],
    "warnings": [],
}


def rules(result):
    return {v.rule for v in check(INSTANCE, result)}


# ----- small result editors, each returning a broken copy -------------------------------


def add(*rows):
    def edit(r):
        r["allocations"] += [row(*x) for x in rows]
    return edit


def set_gpus(consumer, gpus, period=None):
    def edit(r):
        for x in r["allocations"]:
            if x["consumer"] == consumer and period in (None, x["period"]):
                x["gpus"] = gpus
    return edit


def drop(consumer, period=None):
    def edit(r):
        r["allocations"] = [x for x in r["allocations"]
                            if not (x["consumer"] == consumer and period in (None, x["period"]))]
    return edit


def report(name, **fields):
    def edit(r):
        next(x for x in r["leases"] if x["name"] == name).update(fields)
    return edit


def top(key, value):
    def edit(r):
        r[key] = value(r) if callable(value) else value
    return edit


def term(name, delta):
    def edit(r):
        r["breakdown"][name] += delta
    return edit


def both(*edits):
    def edit(r):
        for e in edits:
            e(r)
    return edit


def broken(edit):
    r = copy.deepcopy(VALID)
    edit(r)
    return r


NO_BOUND = both(top("best_bound", None), top("mip_gap", None))
BREAKS = {
    "result.field/status": ("result.field", top("status", "solved")),
    "result.field/mip_gap": ("result.field", top("mip_gap", -1)),
    "result.field/warnings": ("result.field", top("warnings", 5)),
    "result.field/objective": ("result.field", top("objective", "24204.528")),
    "result.field/allocations": ("result.field", top("allocations", 5)),
    "result.field/breakdown": ("result.field", top("breakdown", [1, 2])),
    "result.instance": top("instance", "another-fleet"),
    "result.solver": top("solver", "gurobi"),
    "best_bound": top("best_bound", lambda r: r["objective"] - 100),
    "mip_gap/twice": ("mip_gap", both(top("best_bound", lambda r: 2 * r["objective"]), top("mip_gap", 0.0))),
    "mip_gap/no_bound": ("mip_gap", both(top("best_bound", None), top("mip_gap", 0.0))),
    "result.field/plan_under_infeasible": ("result.field", top("status", "infeasible")),
    "row.name/site": ("row.name", add((0, "s9", "A", "training", "big", 4))),
    "row.name/generation": ("row.name", add((0, "s1", "Z", "training", "big", 4))),
    "row.consumer/unknown": ("row.consumer", add((0, "s1", "A", "training", "nobody", 4))),
    "row.consumer/wrong_use": ("row.consumer", add((0, "s1", "A", "lease", "big", 4))),
    "row.consumer/named_idle": ("row.consumer", add((0, "s1", "A", "idle", "big", 4))),
    "row.use": add((0, "s1", "A", "rent", "big", 4)),
    "row.period": add((2, "s1", "A", "training", "big", 4)),
    "row.gpus/negative": ("row.gpus", add((1, "s1", "B", "idle", None, -2))),
    "row.gpus/fractional": ("row.gpus", add((0, "s1", "B", "inference", "chat", 0.5))),
    "row.gpus/text": ("row.gpus", add((0, "s1", "B", "inference", "chat", "2"))),
    "inventory": add((1, "s1", "A", "inference", "chat", 4)),
    "idle": set_gpus(None, 8, period=0),
    "power": add((0, "s1", "A", "inference", "chat", 4)),
    "granularity": set_gpus("big", 6),
    "scope.generation": add((0, "s1", "B", "lease", "pergen", 2)),
    "scope.site": add((1, "s2", "B", "inference", "chat", 2)),
    "scope.period": add((0, "s1", "A", "training", "mix", 4)),
    "training.same_allocation": set_gpus("big", 12, period=0),
    "training.units": set_gpus("big", 4),
    "training.required": drop("big"),
    "training.homogeneous": add((0, "s1", "B", "training", "big", 2), (1, "s1", "B", "training", "big", 2)),
    "training.single_site": add((0, "s2", "A", "training", "big", 4), (1, "s2", "A", "training", "big", 4)),
    "inference.min_units": drop("chat", period=0),
    "lease.same_allocation": set_gpus("perg", 4, period=1),
    "lease.size": set_gpus("perg", 6),
    "lease.all_or_nothing": set_gpus("pergen", 8),
    "lease.accepted/holds_but_rejected": ("lease.accepted", report("perg", accepted=False)),
    "lease.accepted/empty_but_accepted": (
        "lease.accepted", both(drop("pergen"), report("pergen", gpus=0, revenue=0.0))
    ),
    "lease.whole_sites/partial": ("lease.whole_sites", set_gpus("whole", 4)),
    "lease.whole_sites/shared": ("lease.whole_sites", add((1, "s2", "B", "inference", "chat", 2))),
    "lease.group": report("rival", accepted=True, revenue=36.0),
    "lease.signed": both(drop("perg"), report("perg", accepted=False, gpus=0, revenue=0.0)),
    "lease.report/gpus": ("lease.report", report("perg", gpus=4)),
    "lease.report/missing": ("lease.report", top("leases", lambda r: r["leases"][1:])),
    "lease.report/unknown": ("lease.report", top("leases", lambda r: r["leases"] + [{"name": "ghost"}])),
    "lease.revenue": report("perg", revenue=64.072),
    "breakdown.lease_revenue": term("lease_revenue", 1.0),
    "breakdown.training_value": term("training_value", 1.0),
    "breakdown.inference_value": term("inference_value", 1.0),
    "breakdown.energy_cost": term("energy_cost", -1.0),
    "objective": both(top("objective", lambda r: r["objective"] + 1), NO_BOUND),
}


def test_valid_result_verifies():
    assert check(INSTANCE, VALID) == []
    verify(INSTANCE, VALID)


@pytest.mark.parametrize("case", BREAKS)
def test_each_break_is_caught_by_its_rule(case):
    expected, edit = BREAKS[case] if isinstance(BREAKS[case], tuple) else (case, BREAKS[case])
    found = check(INSTANCE, broken(edit))
    assert expected in {v.rule for v in found}, found
    assert all(isinstance(v, Violation) and v.message for v in found)


def test_single_report_breaks_touch_nothing_else():
    assert rules(broken(report("perg", revenue=64.072))) == {"lease.revenue"}
    assert rules(broken(term("training_value", 1.0))) == {"breakdown.training_value"}
    assert rules(broken(set_gpus(None, 8, period=0))) == {"idle"}


def test_idle_and_zero_rows_are_optional_and_duplicate_rows_add_up():
    no_idle = broken(lambda r: r.update(allocations=[x for x in r["allocations"] if x["use"] != "idle"]))
    assert check(INSTANCE, no_idle) == []
    zeros = broken(add((0, "s2", "A", "lease", "rival", 0), (1, "s1", "A", "training", "mix", 0)))
    assert check(INSTANCE, zeros) == []
    split = broken(both(drop("big"), add(*[(t, "s1", "A", "training", "big", 4) for t in (0, 1) for _ in "ab"])))
    assert check(INSTANCE, split) == []


def test_within_tolerance_and_without_bound_passes():
    nudged = broken(both(top("objective", lambda r: r["objective"] + 1e-9), NO_BOUND))
    assert check(INSTANCE, nudged) == []


def test_an_objective_off_by_1e_8_relative_fails():
    """Only served units are continuous (off by at most HiGHS's 1e-7 of a unit); the rest is exact."""
    nudged = broken(both(top("objective", lambda r: r["objective"] * (1 + 1e-8)), NO_BOUND))
    assert rules(nudged) == {"objective"}


@pytest.mark.parametrize("status", ["infeasible", "unbounded", "no_solution"])
def test_results_without_a_solution_are_not_checked(status):
    unsolved = broken(lambda r: r.update(status=status, objective=None, best_bound=None, mip_gap=None,
                                         allocations=[], leases=[]))
    assert check(INSTANCE, unsolved) == []


@pytest.mark.parametrize("doc", [5, [], "optimal", None])
def test_a_document_that_is_not_a_mapping_is_a_violation(doc):
    assert rules(doc) == {"result.field"}


def test_verify_raises_with_the_violations():
    with pytest.raises(VerificationError) as err:
        verify(INSTANCE, broken(set_gpus("big", 6)))
    assert "granularity" in {v.rule for v in err.value.violations}
    assert "granularity" in str(err.value)


def test_a_scenario_result_against_an_instance_without_scenarios_is_one_violation():
    """It listed 77 violations, every rule failing on rows of several scenarios added up."""
    from pathlib import Path

    from planner import load_instance, solve

    root = Path(__file__).resolve().parents[1]
    doc = solve(load_instance(root / "instances" / "teach_scenarios.yaml")).to_dict()
    plain = load_instance(root / "instances" / "teach_scenarios.yaml").model_copy(update={"uncertainty": None})
    assert [v.rule for v in check(plain, doc)] == ["result.scenarios"]


# The optional `consumers` section of VALID's plan, by hand (fixture comment above): big holds 8 A in its
# first period (16 units); mix 4 A + 2 B in period 1, all at B's speed (6 units); chat's tiers as written
# (0.001 then 0.004 per unit-hour): t0 capacity 4 fills the 0.004 tier's 10 up to 4; t1 capacity 8 at scale
# 0.5 serves the 0.004 tier's 5, then 2 of the 0.001 tier's 2.
CONSUMERS = {
    "training": [
        {"run": "big", "placed": True, "gpus": 8, "units": 16.0, "generations": ["A"], "sites": ["s1"],
         "lacked": None, "why": None},
        {"run": "mix", "placed": True, "gpus": 6, "units": 6.0, "generations": ["A", "B"], "sites": ["s1"],
         "lacked": None, "why": None},
    ],
    "inference": [
        {"pool": "chat", "period": 0, "tier": 0, "value_per_unit_hour": 0.001, "demand": 4.0, "served": 0.0,
         "unserved": 4.0},
        {"pool": "chat", "period": 0, "tier": 1, "value_per_unit_hour": 0.004, "demand": 10.0, "served": 4.0,
         "unserved": 6.0},
        {"pool": "chat", "period": 1, "tier": 0, "value_per_unit_hour": 0.001, "demand": 2.0, "served": 2.0,
         "unserved": 0.0},
        {"pool": "chat", "period": 1, "tier": 1, "value_per_unit_hour": 0.004, "demand": 5.0, "served": 5.0,
         "unserved": 0.0},
    ],
}


def with_consumers(edit=None):
    r = broken(lambda r: r.update(consumers=copy.deepcopy(CONSUMERS)))
    if edit is not None:
        edit(r["consumers"])
    return r


def test_the_consumers_section_agrees_with_the_rows_and_planner_writes_it_so():
    import pandas as pd

    from planner.outcomes import consumer_outcomes

    assert check(INSTANCE, with_consumers()) == []
    assert consumer_outcomes(INSTANCE, pd.DataFrame(VALID["allocations"])) == CONSUMERS


@pytest.mark.parametrize("edit", [
    lambda c: c["training"][0].update(gpus=4),
    lambda c: c["training"][1].update(units=12.0),
    lambda c: c["training"][0].update(placed="yes"),
    lambda c: c["training"].pop(),
    lambda c: c["inference"][1].update(served=10.0, unserved=0.0),
    lambda c: c["inference"][2].update(demand=4.0),
    lambda c: c["inference"][3].update(period=0),
    lambda c: c.pop("inference"),
    lambda c: c["inference"][0].update(served=False),  # 0 as a flag, not a quantity
], ids=["gpus", "units", "placed", "missing run", "served", "demand", "period", "no inference", "served flag"])
def test_a_consumers_section_at_odds_with_the_rows_is_caught(edit):
    assert rules(with_consumers(edit)) == {"consumers.report"}
