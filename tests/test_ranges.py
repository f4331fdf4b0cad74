"""Supported ranges (planner/ranges.py): values beyond them exit 2 naming field and range; values at
their edges solve to the same verified optimum with every solver; hostile nesting and aliases fail fast."""

import json
import time

import numpy as np
import pytest

from planner.api import solve
from planner.instance import InstanceError, parse_instance
from tests.test_cli import BASE_YAML, edited, invoke, write

HUGE, TINY = 1e308, 1e-308


def set_in(path: str, value):
    """A change to BASE: the field at a dotted path (list indices as numbers) set to value."""
    def change(data: dict) -> None:
        *head, last = path.split(".")
        for part in head:
            data = data[int(part)] if part.isdigit() else data[part]
        data[int(last) if last.isdigit() else last] = value
    return change


def fixed_payment(**fields):
    return set_in("leases.1", {"name": "l1", "payment_per_period": 5, "all_or_nothing": True, "max_gpus": 4, **fields})


OUT_OF_RANGE = [
    # id, change to BASE, field path, the supported range the message names
    ("node_size-1e308", set_in("generations.0.node_size", HUGE), "generations[0].node_size", "[1, 10000]"),
    ("node_size-10**30", set_in("generations.0.node_size", 10**30), "generations[0].node_size", "[1, 10000]"),
    ("inventory-1e308", set_in("sites.0.inventory.A", HUGE), "sites[0].inventory.A", "[0, 1e7]"),
    ("inventory-10**30", set_in("sites.0.inventory.A", 10**30), "sites[0].inventory.A", "[0, 1e7]"),
    ("delivery-1e308", set_in("sites.0.deliveries", [{"period": 1, "generation": "A", "gpus": HUGE}]),
     "sites[0].deliveries[0].gpus", "[-1e7, 1e7]"),
    ("deliveries-sum-above-1e7", set_in("sites.0.deliveries", [{"period": 1, "generation": "A", "gpus": 10**7}]),
     "sites[0].deliveries", "[0, 1e7]"),
    ("max_gpus-1e308", set_in("leases.1.max_gpus", HUGE), "leases[1].max_gpus", "[0, 1e9]"),
    ("max_gpus-10**30", set_in("leases.1.max_gpus", 10**30), "leases[1].max_gpus", "[0, 1e9]"),
    ("power_kw-1e-308", set_in("generations.0.power_kw", TINY), "generations[0].power_kw", "0 or [0.001, 1000]"),
    ("infer_speed-1e-308", set_in("generations.0.infer_speed", TINY), "generations[0].infer_speed", "0 or [1e-6, 100]"),
    ("train_speed-1e-308", set_in("generations.0.train_speed", TINY), "generations[0].train_speed", "0 or [1e-6, 100]"),
    ("power_mw-1e308", set_in("sites.0.power_mw", HUGE), "sites[0].power_mw", "[0, 1e6]"),
    ("demand_scale-1e308", set_in("inference.0.demand_scale", [1, HUGE]), "inference[0].demand_scale[1]", "[0, 1000]"),
    ("price-1e308", set_in("leases.0.price_per_gpu_hour", HUGE), "leases[0].price_per_gpu_hour", "[0, 1e6]"),
    ("price-map-1e308", set_in("leases.0.price_per_gpu_hour", {"A": HUGE}), "leases[0].price_per_gpu_hour.A", "[0, 1e6]"),
    ("energy-price-1e308", set_in("sites.0.energy_price_per_mwh", HUGE), "sites[0].energy_price_per_mwh", "[0, 1e6]"),
    ("training-value-1e308", set_in("training.0.value_per_unit_hour", HUGE), "training[0].value_per_unit_hour",
     "[0, 1e6]"),
    ("max_units-1e15", set_in("training.0.max_units", 1e15), "training[0].max_units", "[0, 1e12]"),
    ("max_units-1e30", set_in("training.0.max_units", 1e30), "training[0].max_units", "[0, 1e12]"),
    ("pue-1e30", set_in("sites.0.pue", 1e30), "sites[0].pue", "[1, 10]"),
    ("infer_speed-1e30", set_in("generations.0.infer_speed", 1e30), "generations[0].infer_speed", "0 or [1e-6, 100]"),
    ("power_kw-1e30", set_in("generations.0.power_kw", 1e30), "generations[0].power_kw", "0 or [0.001, 1000]"),
    ("period_hours-1e308", set_in("horizon.period_hours", HUGE), "horizon.period_hours", "[0.001, 8784]"),
    ("tier-value-1e308", set_in("inference.0.demand.0.value_per_unit_hour", HUGE),
     "inference[0].demand[0].value_per_unit_hour", "[-1e6, 1e6]"),
    ("tier-value--1e308", set_in("inference.0.demand.0.value_per_unit_hour", -HUGE),
     "inference[0].demand[0].value_per_unit_hour", "[-1e6, 1e6]"),
    ("payment-1e308", fixed_payment(payment_per_period=HUGE), "leases[1].payment_per_period", "[0, 1e13]"),
    ("periods-1e8", set_in("horizon.periods", 10**8), "horizon.periods", "[1, 10000]"),
    ("horizon-over-100-years", set_in("horizon", {"periods": 100, "period_hours": 8784}), "horizon",
     "[0.001, 8.76e5]"),
    ("periods-1e12", set_in("horizon.periods", 1e12), "horizon.periods", "[1, 10000]"),
    ("periods-1e30", set_in("horizon.periods", 1e30), "horizon.periods", "[1, 10000]"),
    ("discount-rate-1e308", set_in("horizon.discount_rate", HUGE), "horizon.discount_rate", "[0, 10]"),
    ("capex-1e308", set_in("generations.0.capex_per_gpu", HUGE), "generations[0].capex_per_gpu", "[0, 1e9]"),
]


@pytest.mark.parametrize(("change", "field", "supported"), [c[1:] for c in OUT_OF_RANGE],
                         ids=[c[0] for c in OUT_OF_RANGE])
def test_out_of_range_exits_2_naming_field_and_range(tmp_path, change, field, supported):
    inst = write(tmp_path / "i.yaml", edited(change))
    begin = time.perf_counter()
    result = invoke("solve", inst, "--format", "json")
    assert time.perf_counter() - begin < 5
    assert result.exit_code == 2, result.output
    assert f"{inst}: {field}: " in result.stderr and f"outside the supported range {supported}" in result.stderr, \
        result.stderr
    assert len(result.stderr) < 1000  # the value is quoted as a short excerpt, never echoed whole


EMPTY_FIXED_PAYMENT = [
    ("whole-sites-no-site", fixed_payment(all_or_nothing=False, whole_sites=True, sites=[], max_gpus=None), "sites"),
    ("no-generation", fixed_payment(generations=[]), "generations"),
    ("no-site", fixed_payment(sites=[]), "sites"),
    ("max_gpus-0", fixed_payment(max_gpus=0), "max_gpus"),
]


@pytest.mark.parametrize(("change", "field"), [c[1:] for c in EMPTY_FIXED_PAYMENT], ids=[c[0] for c in EMPTY_FIXED_PAYMENT])
def test_fixed_payment_lease_that_can_hold_no_gpu_is_an_input_error(tmp_path, change, field):
    inst = write(tmp_path / "i.yaml", edited(change))
    result = invoke("validate", inst)
    assert result.exit_code == 2, result.output
    assert f"leases[1].{field}: a fixed-payment lease with" in result.stderr
    assert "can hold no GPU" in result.stderr


# ----- at the edges of the ranges, every solver finds the same verified optimum ----------------


def _edge(change) -> dict:
    return edited(lambda d: (d["sites"][0].update(power_mw=1e6, inventory={"A": 10**7}), change(d)))


EDGES = {
    # the optional run (10^7 GPUs x speed 1 x 1 h x 2 periods) is worth the most, its max_units never binds
    "max_units-1e12": (_edge(set_in("training.0.max_units", 1e12)), 2e7),
    # 1 W GPUs on a 10 kW site: 10^4 GPUs fit, not 10^7
    "power_kw-1e-3-tight": (edited(lambda d: (d["generations"][0].update(power_kw=1e-3),
                                               d["sites"][0].update(power_mw=1e-2, inventory={"A": 10**7}))), 2e4),
    # 10^7 GPUs at 10^6 per GPU-hour for 99 periods of a leap year (869,616 h), in nodes of 10^4
    "price-1e6-node-1e4": (_edge(lambda d: (d["leases"][0].update(price_per_gpu_hour=1e6),
                                            d["horizon"].update(period_hours=8784, periods=99),
                                            d["generations"][0].update(node_size=10**4))), 1e7 * 1e6 * 8784 * 99),
    # the same horizon: 10^7 GPUs x speed 100 training at 10^6 a unit-hour, the largest objective coefficient
    "training-value-1e6-speed-100": (_edge(lambda d: (d["training"][0].update(value_per_unit_hour=1e6),
                                                      d["horizon"].update(period_hours=8784, periods=99),
                                                      d["generations"][0].update(node_size=10**4, train_speed=100))),
                                     1e7 * 100 * 1e6 * 8784 * 99),
    # 10^7 GPUs x speed 100 = 10^9 serving units worth 10^6 an hour, 2 periods
    "speed-100-tier-1e6": (_edge(lambda d: (d["generations"][0].update(train_speed=100, infer_speed=100),
                                            set_in("inference.0.demand.0", {"units": 1e12, "value_per_unit_hour": 1e6})(d))),
                           2e15),
    # B draws 10 MW a GPU (1000 kW x pue 10), 10^5 MW a node of 10^4. All of A (10^5 MW) leased at 10^6 an
    # hour: 2e13; the 9e5 MW left run 9 nodes of B in the (mixed) run alone: 9e4 GPUs x 100 x 10^6 x 2 = 1.8e13
    "power_kw-1e3-pue-10": (_edge(lambda d: (
        d["generations"].append({"name": "B", "power_kw": 1e3, "node_size": 10**4, "train_speed": 100,
                                 "infer_speed": 1e-6}),
        d["sites"][0].update(pue=10, inventory={"A": 10**7, "B": 10**7}),
        d["training"][0].update(homogeneous=False, single_site=False, max_units=1e12, value_per_unit_hour=1e6),
        d["leases"][0].update(price_per_gpu_hour=1e6))), 3.8e13),
    # a mixed run capped at 1e12 units over GPUs of speed 1e-6 and 0.5: the cap's big-M crashed HiGHS
    # (segfault) until it was capped at what the GPUs reach. All 1,440 B at pace 0.5 (A would slow the
    # run to 1e-6): 720 units x 2.5 x 730 h
    "max_units-1e12-speed-1e-6-mixed": ({
        "name": "big-m", "generations": [
            {"name": "A", "power_kw": 0.001, "train_speed": 1e-6, "infer_speed": 3},
            {"name": "B", "power_kw": 1000, "train_speed": 0.5, "infer_speed": 3}],
        "sites": [{"name": "s", "power_mw": 1e6, "inventory": {"A": 1440, "B": 1440}}],
        "training": [{"name": "t", "value_per_unit_hour": 2.5, "max_units": 1e12, "homogeneous": False}]},
        720 * 2.5 * 730),
}


# CP-SAT once ran one 1 W GPU past a 10 kW site's limit here (power_kw-1e-3-tight, within its tolerance); the
# power rows in whole nodes (planner/model/knapsack.py) now bound the count itself. (Its "optimal" at 2.0002e13
# for the 2e15 optimum of speed-100-tier-1e6 is overruled: the greedy start is worth more, and a bound below a
# plan is no proof.)
@pytest.mark.parametrize(("case", "solver"), [
    (case, solver) for case in EDGES for solver in ("highs", "scip", "cbc", "cpsat", "greedy")])
def test_edges_of_the_ranges_solve_to_the_verified_optimum(case, solver):
    data, optimum = EDGES[case]
    result = solve(parse_instance(data), solver=solver)
    assert result.verified and result.status.has_solution
    assert result.objective == pytest.approx(optimum, rel=1e-9)


# ----- hostile structure ---------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_deep_nesting_exits_2_without_recursion_error(tmp_path, suffix):
    deep = "[" * 100_000 + "]" * 100_000
    text = BASE_YAML + f"description: {deep}\n" if suffix == ".yaml" else \
        json.dumps(edited(lambda d: None))[:-1] + f', "description": {deep}}}'
    inst = write(tmp_path / f"deep{suffix}", text)
    result = invoke("validate", inst)
    assert result.exit_code == 2, result.output
    assert "nested deeper than" in result.stderr and len(result.stderr) < 1000


def test_alias_bomb_fails_fast_with_a_short_message(tmp_path):
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    inst = write(tmp_path / "bomb.yaml", "\n".join(lines) + "\n" + BASE_YAML + "description: *a9\n")
    begin = time.perf_counter()
    result = invoke("validate", inst)
    assert time.perf_counter() - begin < 10
    assert result.exit_code == 2, result.output
    assert "description: Input should be a valid string" in result.stderr
    assert max(len(line) for line in result.stderr.splitlines()) < 400, result.stderr[:2000]


def test_a_huge_bad_value_is_quoted_as_a_short_excerpt():
    with pytest.raises(InstanceError) as err:
        parse_instance(edited(set_in("generations.0.power_kw", "x" * 1_000_000)))
    assert len(str(err.value)) < 500


# ----- what the solvers see at the corners -------------------------------------------------

CORNER = {
    "name": "corner",
    "horizon": {"periods": 99, "period_hours": 8784},
    "generations": [
        {"name": "big", "power_kw": 1e3, "node_size": 10**4, "train_speed": 100, "infer_speed": 100},
        {"name": "small", "power_kw": 1e-3, "node_size": 1, "train_speed": 1e-6, "infer_speed": 1e-6},
    ],
    "sites": [{"name": "s", "power_mw": 1e6, "pue": 10, "energy_price_per_mwh": 1e6,
               "inventory": {"big": 10**7, "small": 10**7}},
              {"name": "t", "power_mw": 1e-3, "inventory": {"small": 10**7}}],
    "training": [{"name": "mixed", "value_per_unit_hour": 1e6, "max_units": 1e12, "min_units": 1e-6,
                  "homogeneous": False, "single_site": False},
                 {"name": "homogeneous", "value_per_unit_hour": 1e6}],
    "inference": [{"name": "pool", "min_units": 1e-6, "demand_scale": [1e3] * 99,
                   "demand": [{"units": 1e12, "value_per_unit_hour": 1e6}, {"units": 1e12, "value_per_unit_hour": -1e6}]}],
    "leases": [{"name": "per-gpu", "price_per_gpu_hour": 1e6, "max_gpus": 10**9},
               {"name": "fixed", "payment_per_period": 1e13, "all_or_nothing": True, "max_gpus": 10**4},
               {"name": "whole", "payment_per_period": 1e13, "whole_sites": True, "sites": ["s"]}],
}


def test_at_the_corners_every_coefficient_is_finite_and_where_the_solvers_are_exact():
    """HiGHS drops matrix entries <= 1e-9, refuses them >= 1e15 and takes costs >= 1e20 as infinite."""
    from planner.model import build_model

    lm = build_model(parse_instance(CORNER)).lm
    entries = np.abs(lm.matrix().data)
    costs = np.abs(lm.objective())
    bounds = np.concatenate([*lm.bounds(), *lm.row_bounds()])
    assert np.isfinite(entries).all() and np.isfinite(costs).all() and not np.isnan(bounds).any()
    assert 1e-6 <= entries[entries > 0].min() and entries.max() <= 1e12
    assert costs.max() < 1e18


@pytest.mark.parametrize("solver", ["scip", pytest.param("cbc", marks=pytest.mark.xfail(
    strict=True, reason="CBC (planner/solvers/cbc.py, not hardened here) calls the corner infeasible"))])
def test_the_corner_solves_to_the_optimum_highs_also_finds(solver):
    """HiGHS finds the same plan (1.57408322544e19, proven within 4e-7) but takes ~50 s on a shared machine."""
    result = solve(parse_instance(CORNER), solver=solver)
    assert result.verified and result.objective == pytest.approx(1.57408322544e19, rel=1e-9)
