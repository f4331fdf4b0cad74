"""Every SPEC constraint family on a tiny instance whose optimum is derived by hand.

Each test builds its instance in code, states the derivation (the alternatives compared and
the resulting objective and split) in its docstring, and asserts the hand-derived numbers.
The solver's output is never the source of an expected value.

Conventions unless a test says otherwise (see `instance` and `gen`/`site` below):
  * one period, H = 100 hours, no discounting;
  * generation A: 1 kW, node_size 1, train_speed 1, infer_speed 1;
  * sites have ample power (1000 MW), PUE 1 and free energy;
  * "energy 0.1/GPU-h" means power 1 kW, PUE 1, 100 $/MWh: 0.001 MW * 100 $/MWh = 0.1 $ per GPU-hour.
All values are per hour; the objective is H (or sum of discount weights * H) times the hourly net.
"""

from __future__ import annotations

import pandas as pd
import pytest

from planner import Status, parse_instance, solve

REL = 1e-9
SOLVERS = ["highs", "cbc", "scip", "cpsat"]


# ----- building instances ------------------------------------------------------------------


def gen(name: str = "A", power_kw: float = 1.0, node_size: int = 1, train_speed: float = 1.0,
        infer_speed: float = 1.0) -> dict:
    return {"name": name, "power_kw": power_kw, "node_size": node_size, "train_speed": train_speed,
            "infer_speed": infer_speed}


def site(name: str = "s", inventory: dict | None = None, power_mw: float = 1000.0, pue: float = 1.0,
         energy_price: float = 0.0, deliveries: list | None = None) -> dict:
    return {"name": name, "power_mw": power_mw, "pue": pue, "energy_price_per_mwh": energy_price,
            "inventory": inventory or {}, "deliveries": deliveries or []}


def pool(name: str = "pool", value: float = 1.0, units: float = 1000.0, **extra) -> dict:
    """An inference pool with one ample tier (unless `demand` is given)."""
    return {"name": name, "demand": [{"units": units, "value_per_unit_hour": value}], **extra}


def instance(generations: list | None = None, sites: list | None = None, training: list = (),
             inference: list = (), leases: list = (), periods: int = 1, hours: float = 100.0,
             rate: float = 0.0):
    return parse_instance({
        "name": "rule-test",
        "horizon": {"periods": periods, "period_hours": hours, "discount_rate": rate},
        "generations": generations or [gen()],
        "sites": sites or [site(inventory={"A": 1})],
        "training": list(training),
        "inference": list(inference),
        "leases": list(leases),
    })


def optimal(inst, solver: str = "highs"):
    res = solve(inst, solver=solver)
    assert res.status == Status.OPTIMAL, res.status
    assert res.verified
    return res


def gpus(res, **match) -> int:
    """Total GPUs of the allocation rows matching every given column (period, site, generation, use, consumer)."""
    a = res.allocations
    keep = pd.Series(True, index=a.index)
    for col, val in match.items():
        keep &= a[col] == val
    return int(a.loc[keep, "gpus"].sum())


def lease(res, name: str) -> dict:
    rows = res.leases[res.leases["name"] == name]
    assert len(rows) == 1
    return rows.iloc[0].to_dict()


def used_generations(res, use: str, consumer: str) -> set[str]:
    a = res.allocations
    return set(a.loc[(a["use"] == use) & (a["consumer"] == consumer) & (a["gpus"] > 0), "generation"])


# ----- 3.1 inventory -------------------------------------------------------------------------


def test_inventory_follows_deliveries_and_retirements():
    """Inventory A: 4 at period 0; +4 delivered from period 1; 6 retired from period 2.

    Installed (cumulative from the delivery period on): t0 = 4, t1 = 4+4 = 8, t2 = 8-6 = 2.
    An inference pool worth 1 per unit-hour with ample demand uses every usable GPU
    (free energy, nothing else to do): GPUs per period [4, 8, 2], nothing idle.
    Objective = 100 h * 1 * (4 + 8 + 2) = 1400.
    """
    inst = instance(periods=3, sites=[site(inventory={"A": 4}, deliveries=[
        {"period": 1, "generation": "A", "gpus": 4}, {"period": 2, "generation": "A", "gpus": -6}])],
        inference=[pool(value=1.0)])
    res = optimal(inst)
    assert res.objective == pytest.approx(1400.0, rel=REL)
    assert [gpus(res, period=t, use="inference") for t in range(3)] == [4, 8, 2]
    assert gpus(res, use="idle") == 0


def test_stranded_gpus_are_warned_about_and_unusable():
    """node_size 4, 10 A installed at t0, +2 delivered at t1 (T = 2).

    Usable: t0 floor(10/4) = 2 nodes = 8 GPUs (2 stranded); t1 12 GPUs = 3 nodes (none stranded).
    Pool worth 1/unit-hour, ample demand: serves 8 then 12 -> 100 * (8 + 12) = 2000.
    If the stranded 2 were usable it would be 100 * 22 = 2200 (a node of 2 is not a node).
    Exactly one warning: 2 A GPUs stranded in period 0. No row of period 0 counts them.
    """
    inst = instance(periods=2, generations=[gen(node_size=4)],
                    sites=[site(inventory={"A": 10}, deliveries=[{"period": 1, "generation": "A", "gpus": 2}])],
                    inference=[pool(value=1.0)])
    res = optimal(inst)
    assert res.objective == pytest.approx(2000.0, rel=REL)
    assert gpus(res, period=0, use="inference") == 8
    assert gpus(res, period=0) == 8  # stranded GPUs appear in no row (not even idle)
    assert gpus(res, period=1, use="inference") == 12
    stranded = [w for w in res.warnings if "stranded" in w]
    assert len(stranded) == 1
    assert "2 A GPUs stranded in period 0" in stranded[0]


# ----- 3.2 power with PUE ----------------------------------------------------------------------


@pytest.mark.parametrize("solver", SOLVERS)
def test_power_with_pue_fills_by_value_per_mw(solver):
    """A: 1 kW, infer 1; B: 2 kW, infer 1.5; 4 of each; PUE 1.5; 12 kW facility power; 10 $/MWh.

    Facility kW per GPU: A 1.5, B 3. Net per GPU per period (H=100): A 100 - 0.0015*100*10 = 98.5,
    B 150 - 0.003*100*10 = 147. Per facility kW: A 65.7 > B 49, so A first.
    All 4 A use 6 kW; the other 6 kW run 2 B. Alternatives: (A 3, B 3) needs 13.5 kW > 12;
    (A 2, B 3) = 197 + 441 = 638; (A 0, B 4) = 588; (A 4, B 2) = 394 + 294 = 688 (best).
    Without the PUE (12 kW of IT) all 8 would run. Capacity 7 units -> value 700, energy 12.
    """
    inst = instance(generations=[gen("A", power_kw=1.0), gen("B", power_kw=2.0, infer_speed=1.5)],
                    sites=[site(inventory={"A": 4, "B": 4}, power_mw=0.012, pue=1.5, energy_price=10.0)],
                    inference=[pool(value=1.0)])
    res = optimal(inst, solver)
    assert res.objective == pytest.approx(688.0, rel=REL)
    assert res.breakdown["inference_value"] == pytest.approx(700.0, rel=REL)
    assert res.breakdown["energy_cost"] == pytest.approx(12.0, rel=REL)
    assert gpus(res, generation="A", use="inference") == 4
    assert gpus(res, generation="B", use="inference") == 2
    assert gpus(res, generation="B", use="idle") == 2


@pytest.mark.parametrize(("power_mw", "winner", "objective"), [(1.0, "B", 1600.0), (0.016, "A", 800.0)])
def test_power_decides_which_generation_trains(power_mw, winner, objective):
    """Homogeneous run worth 1/unit-hour; A: 1 kW speed 1, B: 3 kW speed 2; 8 of each; PUE 2.

    Ample power: all-B = 16 units > all-A = 8 units -> B, 1600.
    16 kW facility (8 kW IT): all 8 A fit (8 units); B only floor(8/3) = 2 GPUs (4 units) -> A, 800.
    """
    inst = instance(generations=[gen("A", power_kw=1.0), gen("B", power_kw=3.0, train_speed=2.0)],
                    sites=[site(inventory={"A": 8, "B": 8}, power_mw=power_mw, pue=2.0)],
                    training=[{"name": "run", "value_per_unit_hour": 1.0}])
    res = optimal(inst)
    assert res.objective == pytest.approx(objective, rel=REL)
    assert used_generations(res, "training", "run") == {winner}
    assert gpus(res, use="training") == 8


# ----- 3.3 granularity -------------------------------------------------------------------------


def test_granularity_whole_nodes_only():
    """node_size 8, 16 A (2 nodes), 1 kW each, 12 kW of power.

    Offer big12: 12 GPUs all-or-nothing at 2/GPU-h -> 12 is not a whole number of nodes: impossible.
    Offer open: 1/GPU-h, any size -> power allows 12 GPUs but only whole nodes: 1 node = 8 GPUs
    (2 nodes = 16 kW > 12). Objective = 8 * 1 * 100 = 800 (ignoring nodes: big12 would give 2400).
    """
    inst = instance(generations=[gen(node_size=8)], sites=[site(inventory={"A": 16}, power_mw=0.012)],
                    leases=[{"name": "big12", "price_per_gpu_hour": 2.0, "all_or_nothing": True, "max_gpus": 12},
                            {"name": "open", "price_per_gpu_hour": 1.0}])
    res = optimal(inst)
    assert res.objective == pytest.approx(800.0, rel=REL)
    assert not lease(res, "big12")["accepted"]
    assert lease(res, "open")["gpus"] == 8
    assert (res.allocations["gpus"] % 8 == 0).all()
    assert gpus(res, use="idle") == 8


# ----- discounting -----------------------------------------------------------------------------


@pytest.mark.parametrize(("hours", "rate", "winner", "objective"),
                         [(8760, 0.0, "later", 8760 * 1.05), (8760, 0.1, "now", 8760.0), (4380, 0.21, "now", 4380.0)])
def test_discounting_decides_between_alternatives(hours, rate, winner, objective):
    """T = 2, one GPU; weights (1+r)^(-t*H/8760).
    H = 8760, r = 0.1: [1, 1/1.1].  H = 4380, r = 0.21: [1, 1.21^(-1/2)] = [1, 1/1.1] as well.

    Alternatives (group g): now = period 0 at 1.00/GPU-h; later = period 1 at 1.05/GPU-h.
    r = 0: later H * 1.05 = 9198 > now 8760.
    weight 1/1.1: later H * 1.05 / 1.1 = 0.9545 H < now H -> now (8760, resp. 4380).
    """
    inst = instance(periods=2, hours=hours, rate=rate,
                    leases=[{"name": "now", "price_per_gpu_hour": 1.0, "periods": [0, 1], "group": "g"},
                            {"name": "later", "price_per_gpu_hour": 1.05, "periods": [1, 2], "group": "g"}])
    res = optimal(inst)
    assert res.objective == pytest.approx(objective, rel=REL)
    assert lease(res, winner)["accepted"]
    assert not lease(res, {"now": "later", "later": "now"}[winner])["accepted"]


@pytest.mark.parametrize("solver", SOLVERS)
def test_discounting_weights_every_term(solver):
    """H = 8760, r = 0.1, T = 2 -> weights [1, 1/1.1], sum 21/11. 2 A leased at 0.5/GPU-h, energy 0.1/GPU-h.

    Revenue = 8760 * 2 * 0.5 * 21/11 = 16723.636...; energy = 8760 * 2 * 0.1 * 21/11 = 3344.727...
    Objective = 8760 * 0.8 * 21/11 = 13378.909... (idling would give 0).
    """
    inst = instance(periods=2, hours=8760, rate=0.1, sites=[site(inventory={"A": 2}, energy_price=100.0)],
                    leases=[{"name": "L", "price_per_gpu_hour": 0.5}])
    res = optimal(inst, solver)
    w = 1 + 1 / 1.1
    assert res.objective == pytest.approx(8760 * 0.8 * w, rel=REL)
    assert res.breakdown["lease_revenue"] == pytest.approx(8760 * 1.0 * w, rel=REL)
    assert res.breakdown["energy_cost"] == pytest.approx(8760 * 0.2 * w, rel=REL)
    assert lease(res, "L")["revenue"] == pytest.approx(8760 * 1.0 * w, rel=REL)
    assert lease(res, "L")["gpus"] == 2


@pytest.mark.parametrize("solver", SOLVERS)
def test_discounting_applies_to_training_inference_and_fixed_payments(solver):
    """H = 8760, r = 0.1, T = 2 -> weights [1, 1/1.1]. Three sites of 1 A each, one consumer per site:
    a run (1/unit-hour, at most 1 unit) at s1 over both periods, a pool (1 unit @ 2) at s2, and a
    fixed payment of 1000 per period for 1 GPU (all_or_nothing) at s3 in term [1, 2) only.

    Each is worth taking (free energy, nothing competes):
    training  = 8760 * 1 * (1 + 1/1.1)  = 8760 * 21/11 = 16723.63...
    inference = 8760 * 2 * (1 + 1/1.1)  = 33447.27...
    lease     = 1000 * 1/1.1 (only period 1 is in the term) = 909.09...
    """
    inst = instance(periods=2, hours=8760, rate=0.1,
                    sites=[site("s1", inventory={"A": 1}), site("s2", inventory={"A": 1}),
                           site("s3", inventory={"A": 1})],
                    training=[{"name": "run", "value_per_unit_hour": 1.0, "max_units": 1, "sites": ["s1"]}],
                    inference=[pool(value=2.0, units=1, sites=["s2"])],
                    leases=[{"name": "fixed", "payment_per_period": 1000.0, "all_or_nothing": True, "max_gpus": 1,
                             "sites": ["s3"], "periods": [1, 2]}])
    res = optimal(inst, solver)
    w = 1 + 1 / 1.1
    assert res.breakdown["training_value"] == pytest.approx(8760 * w, rel=REL)
    assert res.breakdown["inference_value"] == pytest.approx(8760 * 2 * w, rel=REL)
    assert res.breakdown["lease_revenue"] == pytest.approx(1000 / 1.1, rel=REL)
    assert res.objective == pytest.approx(8760 * 3 * w + 1000 / 1.1, rel=REL)
    assert [gpus(res, period=t, use="lease") for t in range(2)] == [0, 1]


# ----- training: size, required ------------------------------------------------------------------


def test_training_min_and_max_units():
    """10 A at train_speed 2; run worth 1/unit-hour with 6 <= units <= 9; leftovers leased at 0.1/GPU-h.

    Run sizes: 3 GPUs = 6 units, 4 GPUs = 8 units, 5 GPUs = 10 > 9 (not allowed).
    4 GPUs: 8 + 6 * 0.1 = 8.6/h; 3 GPUs: 6 + 7 * 0.1 = 6.7/h; no run: 1.0/h.
    Objective = 860, run 4 GPUs, lease 6 GPUs.
    """
    inst = instance(generations=[gen(train_speed=2.0)], sites=[site(inventory={"A": 10})],
                    training=[{"name": "run", "value_per_unit_hour": 1.0, "min_units": 6, "max_units": 9}],
                    leases=[{"name": "rest", "price_per_gpu_hour": 0.1}])
    res = optimal(inst)
    assert res.objective == pytest.approx(860.0, rel=REL)
    assert gpus(res, use="training") == 4
    assert lease(res, "rest")["gpus"] == 6


def test_training_max_units_exact_in_floating_point():
    """train_speed 0.1, max_units 0.3, 5 A, run worth 1/unit-hour, rest leased at 0.01/GPU-h.

    0.3 / 0.1 is 2.9999999999999996 in floating point, but 3 GPUs = 0.3 units is exactly the maximum:
    run 3 GPUs (0.3/h) + lease 2 (0.02/h) = 0.32/h -> 32. (A 2-GPU run: 0.2 + 0.03 = 0.23/h.)
    """
    inst = instance(generations=[gen(train_speed=0.1)], sites=[site(inventory={"A": 5})],
                    training=[{"name": "run", "value_per_unit_hour": 1.0, "max_units": 0.3}],
                    leases=[{"name": "rest", "price_per_gpu_hour": 0.01}])
    res = optimal(inst)
    assert res.objective == pytest.approx(32.0, rel=REL)
    assert gpus(res, use="training") == 3


def test_training_below_min_units_is_not_placed():
    """5 A at speed 2 give at most 10 units < min_units 12: the (optional) run cannot be placed.

    All 5 GPUs go to the lease at 0.1/GPU-h: 5 * 0.1 * 100 = 50.
    """
    inst = instance(generations=[gen(train_speed=2.0)], sites=[site(inventory={"A": 5})],
                    training=[{"name": "run", "value_per_unit_hour": 1.0, "min_units": 12}],
                    leases=[{"name": "rest", "price_per_gpu_hour": 0.1}])
    res = optimal(inst)
    assert res.objective == pytest.approx(50.0, rel=REL)
    assert gpus(res, use="training") == 0


@pytest.mark.parametrize("solver", SOLVERS)
def test_required_run_that_cannot_fit_is_infeasible(solver):
    """Same fleet as above (at most 10 units) but the 12-unit run is required: infeasible."""
    inst = instance(generations=[gen(train_speed=2.0)], sites=[site(inventory={"A": 5})],
                    training=[{"name": "run", "value_per_unit_hour": 1.0, "min_units": 12, "required": True}],
                    leases=[{"name": "rest", "price_per_gpu_hour": 0.1}])
    assert solve(inst, solver=solver).status == Status.INFEASIBLE


@pytest.mark.parametrize(("required", "objective", "run_gpus"), [(True, 220.0, 2), (False, 400.0, 0)])
def test_required_run_is_placed_even_when_leasing_pays_more(required, objective, run_gpus):
    """4 A; run worth 0.1/unit-hour, exactly 2 units (min = max = 2); lease at 1/GPU-h.

    Required: run holds 2 GPUs (0.2/h), lease the other 2 (2/h) -> 220.
    Optional: the lease is worth 10x more per GPU, so all 4 are leased -> 400, run not placed.
    """
    inst = instance(sites=[site(inventory={"A": 4})],
                    training=[{"name": "run", "value_per_unit_hour": 0.1, "min_units": 2, "max_units": 2,
                               "required": required}],
                    leases=[{"name": "L", "price_per_gpu_hour": 1.0}])
    res = optimal(inst)
    assert res.objective == pytest.approx(objective, rel=REL)
    assert gpus(res, use="training") == run_gpus


# ----- training: homogeneous / mixed pace ----------------------------------------------------------


@pytest.mark.parametrize(("homogeneous", "objective", "generations"),
                         [(True, 480.0, {"B"}), (False, 800.0, {"A", "B"})])
def test_homogeneous_run_uses_one_generation(homogeneous, objective, generations):
    """A speed 1, B speed 1.2, 4 of each; run worth 1/unit-hour, no size limit.

    Homogeneous: all-A 4 units, all-B 4.8 units -> B, 480.
    Mixed allowed: all 8 at the slowest pace 1.0 = 8 units -> 800 (> 480).
    """
    inst = instance(generations=[gen("A"), gen("B", train_speed=1.2)],
                    sites=[site(inventory={"A": 4, "B": 4})],
                    training=[{"name": "run", "value_per_unit_hour": 1.0, "homogeneous": homogeneous}])
    res = optimal(inst)
    assert res.objective == pytest.approx(objective, rel=REL)
    assert used_generations(res, "training", "run") == generations


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize(("inv_a", "objective", "generations", "run_gpus"),
                         [(6, 800.0, {"A", "B"}, 8), (3, 800.0, {"B"}, 4)], ids=["mixing-wins", "mixing-loses"])
def test_mixed_run_is_paced_by_slowest_generation(solver, inv_a, objective, generations, run_gpus):
    """Mixed run (homogeneous false) worth 1/unit-hour; A speed 1 (slow), B speed 2 (fast), 2 or 4 B.

    Mixing runs B at A's pace: it halves B's value.
    mixing-wins (6 A, 2 B): mixed 8 GPUs * 1 = 8; B only 2 * 2 = 4; A only 6 -> mixed, 800.
    mixing-loses (3 A, 4 B): mixed 7 * 1 = 7; B only 4 * 2 = 8; A only 3 -> B only, 800
      (unpaced mixing would give 3 + 8 = 11).
    """
    inv_b = 2 if inv_a == 6 else 4
    inst = instance(generations=[gen("A"), gen("B", train_speed=2.0)],
                    sites=[site(inventory={"A": inv_a, "B": inv_b})],
                    training=[{"name": "run", "value_per_unit_hour": 1.0, "homogeneous": False}])
    res = optimal(inst, solver)
    assert res.objective == pytest.approx(objective, rel=REL)
    assert used_generations(res, "training", "run") == generations
    assert gpus(res, use="training") == run_gpus


@pytest.mark.parametrize("solver", SOLVERS)
def test_mixed_run_picks_the_best_pace_among_three_generations(solver):
    """Mixed run worth 1/unit-hour; A speed 1 x 2, B speed 2 x 3, C speed 3 x 1.

    C only 3; B only 6; B+C at pace 2: 4 * 2 = 8; A+B+C at pace 1: 6; A+B: 5; A+C: 3.
    -> B + C at B's pace, 800; the A GPUs idle.
    """
    inst = instance(generations=[gen("A"), gen("B", train_speed=2.0), gen("C", train_speed=3.0)],
                    sites=[site(inventory={"A": 2, "B": 3, "C": 1})],
                    training=[{"name": "run", "value_per_unit_hour": 1.0, "homogeneous": False}])
    res = optimal(inst, solver)
    assert res.objective == pytest.approx(800.0, rel=REL)
    assert used_generations(res, "training", "run") == {"B", "C"}
    assert gpus(res, use="idle", generation="A") == 2


@pytest.mark.parametrize("solver", SOLVERS)
def test_mixed_run_pace_is_taken_over_all_sites(solver):
    """Mixed multi-site run worth 1/unit-hour: 4 B (speed 2) at s1, 3 A (speed 1) at s2.

    Pace is the slowest generation over all its GPUs at all its sites:
    B only = 8 units; mixing across sites = 7 * 1 = 7; A only = 3. -> B only at s1, 800.
    (Pacing per site would wrongly value the mix at 4*2 + 3*1 = 11.)
    """
    inst = instance(generations=[gen("A"), gen("B", train_speed=2.0)],
                    sites=[site("s1", inventory={"B": 4}), site("s2", inventory={"A": 3})],
                    training=[{"name": "run", "value_per_unit_hour": 1.0, "homogeneous": False,
                               "single_site": False}])
    res = optimal(inst, solver)
    assert res.objective == pytest.approx(800.0, rel=REL)
    assert gpus(res, use="training", site="s1", generation="B") == 4
    assert gpus(res, use="training", site="s2") == 0


# ----- training: single site, scopes, same allocation ---------------------------------------------


@pytest.mark.parametrize(("single_site", "objective", "run_gpus"), [(True, 550.0, 4), (False, 700.0, 7)])
def test_single_site_run(single_site, objective, run_gpus):
    """4 A at s1, 3 A at s2; run worth 1/unit-hour; lease anything at 0.5/GPU-h.

    Single site: run at s1 (4) + lease s2's 3 (1.5) = 5.5/h; run at s2 (3) + lease s1's 4 (2) = 5.0/h
      -> 550 with the run at s1.
    Multi-site: run takes all 7 -> 7/h = 700 (> 550).
    """
    inst = instance(sites=[site("s1", inventory={"A": 4}), site("s2", inventory={"A": 3})],
                    training=[{"name": "run", "value_per_unit_hour": 1.0, "single_site": single_site}],
                    leases=[{"name": "L", "price_per_gpu_hour": 0.5}])
    res = optimal(inst)
    assert res.objective == pytest.approx(objective, rel=REL)
    assert gpus(res, use="training") == run_gpus
    if single_site:
        assert gpus(res, use="training", site="s1") == 4


def test_training_allowed_generations_sites_periods():
    """T = 2. s1: 4 A + 4 B (B trains at speed 2), s2: 2 A. A pool takes anything at 0.1/unit-hour.

    The run (1/unit-hour) may only use A, at s2, in period 1 (periods [1, 2)).
    t0: run inactive, the pool serves all 10 GPUs -> 1.0/h -> 100.
    t1: run holds s2's 2 A = 2 units -> 200; the other 8 GPUs serve -> 80.
    Objective = 380. (Unrestricted, the run would take 4 B = 8 units in both periods.)
    """
    inst = instance(periods=2, generations=[gen("A"), gen("B", train_speed=2.0)],
                    sites=[site("s1", inventory={"A": 4, "B": 4}), site("s2", inventory={"A": 2})],
                    training=[{"name": "run", "value_per_unit_hour": 1.0, "generations": ["A"], "sites": ["s2"],
                               "periods": [1, 2]}],
                    inference=[pool(value=0.1)])
    res = optimal(inst)
    assert res.objective == pytest.approx(380.0, rel=REL)
    runs = res.allocations[res.allocations["use"] == "training"]
    assert [tuple(r) for r in runs[["period", "site", "generation", "gpus"]].itertuples(index=False)] == [
        (1, "s2", "A", 2)]
    assert gpus(res, period=0, use="inference") == 10
    assert gpus(res, period=1, use="inference") == 8


def test_training_same_allocation_in_every_period():
    """T = 3, A installed 6, 2, 6 (retire 4 at t1, deliver 4 at t2). Run 1/unit-hour; pool 0.1/unit-hour.

    The run holds the same GPUs in each period, so at most min(6, 2, 6) = 2 -> 2 * 3 * 100 = 600.
    The pool takes the rest: 4 + 0 + 4 = 8 GPU-periods * 0.1 * 100 = 80. Objective 680.
    (No run: 14 * 10 = 140; a run of 6 would break period 1.)
    """
    inst = instance(periods=3, sites=[site(inventory={"A": 6}, deliveries=[
        {"period": 1, "generation": "A", "gpus": -4}, {"period": 2, "generation": "A", "gpus": 4}])],
        training=[{"name": "run", "value_per_unit_hour": 1.0}], inference=[pool(value=0.1)])
    res = optimal(inst)
    assert res.objective == pytest.approx(680.0, rel=REL)
    assert [gpus(res, period=t, use="training") for t in range(3)] == [2, 2, 2]
    assert [gpus(res, period=t, use="inference") for t in range(3)] == [4, 0, 4]


# ----- inference -------------------------------------------------------------------------------------


TIERS = [{"units": 3, "value_per_unit_hour": 0.5}, {"units": 2, "value_per_unit_hour": 2.0},
         {"units": 10, "value_per_unit_hour": 0.0}, {"units": 5, "value_per_unit_hour": -1.0}]


@pytest.mark.parametrize(("inventory", "objective", "served_gpus", "value"),
                         [(4, 460.0, 4, 500.0), (10, 500.0, 5, 550.0)])
def test_inference_tiers_highest_value_first_and_never_worthless(inventory, objective, served_gpus, value):
    """Tiers listed out of order: 3 @ 0.5, 2 @ 2.0, 10 @ 0, 5 @ -1; energy 0.1/GPU-h.

    4 GPUs: best split 2 @ 2.0 + 2 @ 0.5 = 5/h (list order would give 3 @ 0.5 + 1 @ 2 = 3.5/h);
      each GPU nets >= 0.4 so all run: 500 - 40 = 460.
    10 GPUs: 2 @ 2.0 + 3 @ 0.5 = 5.5/h with 5 GPUs; a 6th GPU could only serve the 0-value tier
      (never served, and it would cost 0.1/h) -> 5 run, 5 idle: 550 - 50 = 500.
    """
    inst = instance(sites=[site(inventory={"A": inventory}, energy_price=100.0)],
                    inference=[{"name": "pool", "demand": TIERS}])
    res = optimal(inst)
    assert res.objective == pytest.approx(objective, rel=REL)
    assert res.breakdown["inference_value"] == pytest.approx(value, rel=REL)
    assert gpus(res, use="inference") == served_gpus


@pytest.mark.parametrize(("min_units", "objective", "pool_gpus"), [(2, 70.0, 2), (0, 270.0, 0)])
def test_inference_min_units_forces_capacity_at_a_loss(min_units, objective, pool_gpus):
    """3 A, energy 0.1/GPU-h; pool whose only tier is worth -1 (never served); lease at 1/GPU-h.

    min_units 2: 2 GPUs must serve (capacity, no served value: the tier is negative, value 0 not -200),
      1 GPU leased: 100 - 3 GPUs * 0.1 * 100 = 70.
    min_units 0: all 3 leased: 300 - 30 = 270.
    """
    inst = instance(sites=[site(inventory={"A": 3}, energy_price=100.0)],
                    inference=[{"name": "pool", "min_units": min_units,
                                "demand": [{"units": 10, "value_per_unit_hour": -1.0}]}],
                    leases=[{"name": "L", "price_per_gpu_hour": 1.0}])
    res = optimal(inst)
    assert res.objective == pytest.approx(objective, rel=REL)
    assert res.breakdown["inference_value"] == pytest.approx(0.0, abs=1e-9)
    assert gpus(res, use="inference") == pool_gpus
    assert lease(res, "L")["gpus"] == 3 - pool_gpus


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize(("min_units", "objective", "pool_gpus"), [(0, 540.0, [0, 4, 2]), (6, 510.0, [0, 6, 3])])
def test_inference_demand_scale_per_period(solver, min_units, objective, pool_gpus):
    """T = 3, 10 A, energy 0.1/GPU-h; pool active in periods [1, 3), one tier 4 units @ 1;
    demand_scale [3, 1, 0.5] indexed by absolute period (period 0's 3 is outside the window).

    min_units 0: t1 serves 4 (400 - 40 = 360), t2 serves 4 * 0.5 = 2 (200 - 20 = 180) -> 540.
    min_units 6 (scaled too): t1 capacity 6, serves 4 (400 - 60 = 340); t2 capacity 3, serves 2
      (200 - 30 = 170) -> 510. Period 0: the pool is inactive, nothing runs.
    """
    inst = instance(periods=3, sites=[site(inventory={"A": 10}, energy_price=100.0)],
                    inference=[{"name": "pool", "periods": [1, 3], "demand_scale": [3, 1, 0.5],
                                "min_units": min_units, "demand": [{"units": 4, "value_per_unit_hour": 1.0}]}])
    res = optimal(inst, solver)
    assert res.objective == pytest.approx(objective, rel=REL)
    assert [gpus(res, period=t, use="inference") for t in range(3)] == pool_gpus


# ----- leases: prices, sizes ---------------------------------------------------------------------------


def test_lease_per_generation_price_takes_only_priced_generations():
    """2 each of A, B, C; lease priced {A: 3, B: 1} (C unpriced); pool takes anything at 0.5/unit-hour.

    A and B lease (3 and 1 > 0.5), C cannot be leased so it serves:
    lease (2*3 + 2*1) * 100 = 800, pool 2 * 0.5 * 100 = 100 -> 900.
    """
    inst = instance(generations=[gen("A"), gen("B"), gen("C")],
                    sites=[site(inventory={"A": 2, "B": 2, "C": 2})],
                    inference=[pool(value=0.5)],
                    leases=[{"name": "map", "price_per_gpu_hour": {"A": 3.0, "B": 1.0}}])
    res = optimal(inst)
    assert res.objective == pytest.approx(900.0, rel=REL)
    assert lease(res, "map")["revenue"] == pytest.approx(800.0, rel=REL)
    assert used_generations(res, "lease", "map") == {"A", "B"}
    assert gpus(res, use="inference", generation="C") == 2


@pytest.mark.parametrize(("payment", "accepted", "objective"), [(500.0, True, 1400.0), (300.0, False, 1200.0)])
def test_lease_payment_per_period_all_or_nothing(payment, accepted, objective):
    """T = 2, 6 A; fixed payment per period for exactly 4 GPUs; pool worth 1/unit-hour (100 per GPU-period).

    Accept: 2 * payment + pool 2 GPUs * 2 periods * 100 = 2 * payment + 400. Reject: 6 * 2 * 100 = 1200.
    500 -> 1400 > 1200 accept; 300 -> 1000 < 1200 reject.
    """
    inst = instance(periods=2, sites=[site(inventory={"A": 6})], inference=[pool(value=1.0)],
                    leases=[{"name": "fixed", "payment_per_period": payment, "all_or_nothing": True,
                             "max_gpus": 4}])
    res = optimal(inst)
    assert res.objective == pytest.approx(objective, rel=REL)
    row = lease(res, "fixed")
    assert row["accepted"] == accepted
    assert row["gpus"] == (4 if accepted else 0)
    assert row["revenue"] == pytest.approx(2 * payment if accepted else 0.0, rel=REL, abs=1e-9)


def test_lease_min_gpus():
    """5 A; lease at 0.3/GPU-h with min_gpus 4; pool: one tier of 2 units @ 1.

    Lease 4 + pool 1 = 1.2 + 1 = 2.2/h; no lease, pool 2 = 2.0; lease 5 = 1.5.
    (Lease 3 + pool 2 = 2.9 would be best but 3 < min_gpus.) -> 220.
    """
    inst = instance(sites=[site(inventory={"A": 5})],
                    inference=[pool(value=1.0, units=2)],
                    leases=[{"name": "L", "price_per_gpu_hour": 0.3, "min_gpus": 4}])
    res = optimal(inst)
    assert res.objective == pytest.approx(220.0, rel=REL)
    assert lease(res, "L")["gpus"] == 4
    assert gpus(res, use="inference") == 1


def test_lease_max_gpus():
    """5 A; lease at 1/GPU-h up to 3 GPUs; pool 0.5/unit-hour: lease 3 (300) + pool 2 (100) = 400."""
    inst = instance(sites=[site(inventory={"A": 5})], inference=[pool(value=0.5)],
                    leases=[{"name": "L", "price_per_gpu_hour": 1.0, "max_gpus": 3}])
    res = optimal(inst)
    assert res.objective == pytest.approx(400.0, rel=REL)
    assert lease(res, "L")["gpus"] == 3


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize(("price", "accepted", "objective"), [(1.0, True, 700.0), (0.5, False, 510.0)])
def test_lease_all_or_nothing(solver, price, accepted, objective):
    """6 A; lease exactly 4 GPUs (all_or_nothing) at `price`; pool tiers 3 @ 1.5 then 10 @ 0.2.

    Reject: pool 3 * 1.5 + 3 * 0.2 = 5.1/h -> 510.
    Accept: 4 * price + pool 2 * 1.5 = 4 * price + 3.  price 1: 7.0 -> 700 (accept);
      price 0.5: 5.0 < 5.1 -> reject, 510. (A partial 3-GPU block at price 1 would give 7.5: not allowed.)
    """
    inst = instance(sites=[site(inventory={"A": 6})],
                    inference=[{"name": "pool", "demand": [{"units": 3, "value_per_unit_hour": 1.5},
                                                            {"units": 10, "value_per_unit_hour": 0.2}]}],
                    leases=[{"name": "L", "price_per_gpu_hour": price, "all_or_nothing": True, "max_gpus": 4}])
    res = optimal(inst, solver)
    assert res.objective == pytest.approx(objective, rel=REL)
    assert lease(res, "L")["accepted"] == accepted
    assert lease(res, "L")["gpus"] == (4 if accepted else 0)


# ----- leases: whole sites ---------------------------------------------------------------------------


WHOLE_SITES = [site("s1", inventory={"A": 4, "B": 2}), site("s2", inventory={"A": 2})]
TWO_TIERS = [{"units": 2, "value_per_unit_hour": 3.0}, {"units": 100, "value_per_unit_hour": 0.5}]


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize(("generations", "objective", "leased"), [(["A"], 1000.0, 4), (None, 1200.0, 6)])
def test_whole_sites_lease_takes_everything_exclusively(solver, generations, objective, leased):
    """s1: 4 A + 2 B, s2: 2 A. Pool tiers 2 @ 3 then 100 @ 0.5. Lease at 1/GPU-h, whole_sites [s1].

    Generations [A]: accept -> s1's 4 A leased (4/h), s1's B must idle (exclusive), s2's 2 A serve
      the 3-tier (6/h): 10/h = 1000. Reject: pool 2 @ 3 + 6 @ 0.5 = 9/h = 900.
      (Non-exclusive would let s1's B serve too: 11/h. Not allowed.)
    All generations: accept -> 6 GPUs leased (6/h) + s2 serves 6/h = 1200 > 900.
    """
    lease_spec = {"name": "whole", "price_per_gpu_hour": 1.0, "whole_sites": True, "sites": ["s1"]}
    if generations:
        lease_spec["generations"] = generations
    inst = instance(generations=[gen("A"), gen("B")], sites=WHOLE_SITES,
                    inference=[{"name": "pool", "demand": TWO_TIERS}], leases=[lease_spec])
    res = optimal(inst, solver)
    assert res.objective == pytest.approx(objective, rel=REL)
    assert lease(res, "whole")["accepted"]
    assert lease(res, "whole")["gpus"] == leased
    assert gpus(res, site="s1", use="inference") == 0
    assert gpus(res, site="s1", use="idle") == 6 - leased
    assert gpus(res, site="s2", use="inference") == 2


@pytest.mark.parametrize("limit", [{"max_gpus": 3}, {"min_gpus": 5}], ids=["max_gpus", "min_gpus"])
def test_whole_sites_lease_still_obeys_min_and_max_gpus(limit):
    """The first whole-site case (s1: 4 A + 2 B, s2: 2 A, lease A at s1 at 1/GPU-h), but the lessee takes
    at most 3 GPUs (or at least 5): holding all 4 A of s1 breaks that, so the offer is rejected
    and the pool serves all 8 GPUs: 2 @ 3 + 6 @ 0.5 = 9/h -> 900 (accepting was worth 1000).
    """
    inst = instance(generations=[gen("A"), gen("B")], sites=WHOLE_SITES,
                    inference=[{"name": "pool", "demand": TWO_TIERS}],
                    leases=[{"name": "whole", "price_per_gpu_hour": 1.0, "whole_sites": True, "sites": ["s1"],
                             "generations": ["A"], **limit}])
    res = optimal(inst)
    assert res.objective == pytest.approx(900.0, rel=REL)
    assert not lease(res, "whole")["accepted"]
    assert gpus(res, use="inference") == 8


def test_whole_sites_lease_needs_power_for_every_gpu():
    """As above but s1 has 3 kW (all GPUs 1 kW): the 4 A cannot all be powered, so the whole-site
    offer (even at a fixed 1000 per period) cannot be accepted.

    Best without it: s1 runs 3 GPUs + s2's 2 = 5 units: 2 @ 3 + 3 @ 0.5 = 7.5/h -> 750.
    (Accepting would be worth 1000 + s2 2 @ 3 * 100 = 1600.)
    """
    inst = instance(generations=[gen("A"), gen("B")],
                    sites=[site("s1", inventory={"A": 4, "B": 2}, power_mw=0.003), site("s2", inventory={"A": 2})],
                    inference=[{"name": "pool", "demand": TWO_TIERS}],
                    leases=[{"name": "whole", "payment_per_period": 1000.0, "whole_sites": True, "sites": ["s1"],
                             "generations": ["A"]}])
    res = optimal(inst)
    assert res.objective == pytest.approx(750.0, rel=REL)
    assert not lease(res, "whole")["accepted"]
    assert gpus(res, site="s1", use="inference") == 3


def test_whole_sites_lease_cannot_hold_a_changing_site():
    """T = 2, s1 has 4 A then 6 A (2 delivered at t1). A whole-site lease of s1 would need every GPU
    in every period (4, then 6) and the same block in both: impossible, so it is rejected (with a warning).
    The pool (0.5/unit-hour) serves 4 + 6 GPU-periods -> 500 (accepting would be worth 2 * 1000).
    """
    inst = instance(periods=2, sites=[site("s1", inventory={"A": 4},
                                           deliveries=[{"period": 1, "generation": "A", "gpus": 2}])],
                    inference=[pool(value=0.5)],
                    leases=[{"name": "whole", "payment_per_period": 1000.0, "whole_sites": True, "sites": ["s1"]}])
    res = optimal(inst)
    assert res.objective == pytest.approx(500.0, rel=REL)
    assert not lease(res, "whole")["accepted"]
    assert any("whole" in w for w in res.warnings)


# ----- leases: groups, terms, signed, power -------------------------------------------------------------


def test_lease_group_alternatives_at_most_one():
    """5 A; group g: x = up to 3 at 1/GPU-h (300), y = up to 5 at 0.8 (400). Both would give
    3 + 2 * 0.8 = 4.6/h, but at most one: y, 400."""
    inst = instance(sites=[site(inventory={"A": 5})],
                    leases=[{"name": "x", "price_per_gpu_hour": 1.0, "max_gpus": 3, "group": "g"},
                            {"name": "y", "price_per_gpu_hour": 0.8, "max_gpus": 5, "group": "g"}])
    res = optimal(inst)
    assert res.objective == pytest.approx(400.0, rel=REL)
    assert not lease(res, "x")["accepted"]
    assert lease(res, "y")["accepted"]
    assert lease(res, "y")["gpus"] == 5


@pytest.mark.parametrize("solver", SOLVERS)
def test_lease_term_same_gpus_in_every_term_period(solver):
    """T = 3, A installed 2, 6, 5 (+4 at t1, -1 at t2). Lease term [1, 3) at 1/GPU-h; pool 0.5/unit-hour.

    The lease holds the same block in t1 and t2 and nothing in t0: at most min(6, 5) = 5 (period 0's 2
    does not cap it: it is outside the term) -> 5 * 2 * 100 = 1000.
    Pool: t0 2 (100), t1 6 - 5 = 1 (50), t2 0 -> 150. Objective 1150.
    (A lease over the whole horizon could hold only 2: 600 + pool (4 + 3) * 50 = 950.)
    """
    inst = instance(periods=3, sites=[site(inventory={"A": 2}, deliveries=[
        {"period": 1, "generation": "A", "gpus": 4}, {"period": 2, "generation": "A", "gpus": -1}])],
        inference=[pool(value=0.5)], leases=[{"name": "term", "price_per_gpu_hour": 1.0, "periods": [1, 3]}])
    res = optimal(inst, solver)
    assert res.objective == pytest.approx(1150.0, rel=REL)
    assert [gpus(res, period=t, use="lease") for t in range(3)] == [0, 5, 5]
    assert [gpus(res, period=t, use="inference") for t in range(3)] == [2, 1, 0]
    assert lease(res, "term")["revenue"] == pytest.approx(1000.0, rel=REL)


@pytest.mark.parametrize(("signed", "objective", "leased"), [(True, 160.0, 4), (False, 540.0, 0)])
def test_signed_lease_is_honoured_at_a_loss(signed, objective, leased):
    """6 A, energy 0.1/GPU-h; pool 1/unit-hour; lease exactly 4 GPUs at 0.05/GPU-h (below energy cost).

    Signed: 4 leased (20), 2 serve (200), energy 6 * 10 = 60 -> 160.
    Offer only: all 6 serve: 600 - 60 = 540.
    """
    inst = instance(sites=[site(inventory={"A": 6}, energy_price=100.0)], inference=[pool(value=1.0)],
                    leases=[{"name": "old", "price_per_gpu_hour": 0.05, "min_gpus": 4, "max_gpus": 4,
                             "signed": signed}])
    res = optimal(inst)
    assert res.objective == pytest.approx(objective, rel=REL)
    assert lease(res, "old")["accepted"] == signed
    assert lease(res, "old")["gpus"] == leased


@pytest.mark.parametrize(("pays", "objective", "leased"), [(True, 24.0, 3), (False, 0.0, 0)])
def test_lessee_pays_power(pays, objective, leased):
    """5 A at 1 kW, PUE 1.5, 4.5 kW facility (3 GPUs), 100 $/MWh -> energy 0.15/GPU-h; lease at 0.08/GPU-h.

    Operator pays power: 0.08 - 0.15 < 0 per GPU-h -> reject, 0.
    Lessee pays: 0.08 per GPU-h with no energy cost, but still bound by power: 3 GPUs -> 24.
    """
    inst = instance(sites=[site(inventory={"A": 5}, power_mw=0.0045, pue=1.5, energy_price=100.0)],
                    leases=[{"name": "L", "price_per_gpu_hour": 0.08, "lessee_pays_power": pays}])
    res = optimal(inst)
    assert res.objective == pytest.approx(objective, abs=1e-9)
    assert lease(res, "L")["gpus"] == leased
    assert res.breakdown["energy_cost"] == pytest.approx(0.0, abs=1e-9)


# ----- infeasible combinations -------------------------------------------------------------------------


@pytest.mark.parametrize("solver", SOLVERS)
def test_two_signed_leases_exceeding_inventory_are_infeasible(solver):
    """6 A; two signed leases of exactly 4 GPUs each need 8 > 6: infeasible."""
    inst = instance(sites=[site(inventory={"A": 6})],
                    leases=[{"name": f"L{i}", "price_per_gpu_hour": 1.0, "all_or_nothing": True, "max_gpus": 4,
                             "signed": True} for i in range(2)])
    assert solve(inst, solver=solver).status == Status.INFEASIBLE


def test_signed_leases_in_one_group_are_infeasible():
    """Two signed (forced accepted) leases sharing a group (at most one accepted): infeasible."""
    inst = instance(sites=[site(inventory={"A": 6})],
                    leases=[{"name": f"L{i}", "price_per_gpu_hour": 1.0, "max_gpus": 1, "signed": True,
                             "group": "g"} for i in range(2)])
    assert solve(inst).status == Status.INFEASIBLE


def test_inference_min_units_beyond_capacity_is_infeasible():
    """3 A can serve 3 units; min_units 4 in the only period: infeasible."""
    inst = instance(sites=[site(inventory={"A": 3})],
                    inference=[{"name": "pool", "min_units": 4, "demand": [{"units": 10, "value_per_unit_hour": 1}]}])
    assert solve(inst).status == Status.INFEASIBLE


def test_required_run_over_a_period_without_gpus_is_infeasible():
    """T = 2, the only 4 A are retired at t1; a required run over the whole horizon needs the same
    (>= 1 node) allocation in both periods, but t1 has none: infeasible."""
    inst = instance(periods=2, sites=[site(inventory={"A": 4}, deliveries=[{"period": 1, "generation": "A",
                                                                            "gpus": -4}])],
                    training=[{"name": "run", "value_per_unit_hour": 1.0, "required": True}])
    assert solve(inst).status == Status.INFEASIBLE


def test_required_run_and_signed_lease_competing_are_infeasible():
    """4 A: a signed 4-GPU lease and a required run of >= 1 unit cannot both be placed."""
    inst = instance(sites=[site(inventory={"A": 4})],
                    training=[{"name": "run", "value_per_unit_hour": 1.0, "min_units": 1, "required": True}],
                    leases=[{"name": "L", "price_per_gpu_hour": 1.0, "all_or_nothing": True, "max_gpus": 4,
                             "signed": True}])
    assert solve(inst).status == Status.INFEASIBLE
