"""The power rows in whole nodes (planner/model/knapsack.py, constraints.define_power_whole_nodes):
every row holds at every whole-node count that fits (checked by enumeration), for one or two kinds
of node together they are the whole hull (an LP over them is as good as the best count), and in the
model they cut fractions of nodes, never a plan."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest
from generated import generated
from scipy.optimize import linprog

from planner import Instance
from planner.model import build_model, knapsack
from planner.model.knapsack import hull_facets, whole_node_facets
from planner.solvers import SolveOptions
from planner.solvers.highs import HighsSolver


def test_two_items_by_hand() -> None:
    """3 n1 + 2 n2 <= 7, n1 <= 2, n2 <= 3: the counts on top are (0, 3), (1, 2), (2, 0), so the hull's
    facets are n1 + n2 <= 3 and 2 n1 + n2 <= 4 (the bounds n1 <= 2 and n2 <= 3 are given already)."""
    assert sorted(hull_facets((3.0, 2.0), 7.0, (2, 3))) == [((1, 1), 3), ((2, 1), 4)]
    assert sorted(hull_facets((2.0, 3.0), 7.0, (3, 2))) == [((1, 1), 3), ((1, 2), 4)]  # either order


def test_one_item_is_bounded_by_the_nodes_the_power_holds() -> None:
    assert hull_facets((0.008,), 0.02, (5,)) == [((1,), 2)]
    assert hull_facets((0.008,), 0.02, (2,)) == []  # the inventory binds first
    assert hull_facets((0.2,), 1.0, (9,)) == [((1,), 5)]  # 1.0 / 0.2 is 4.999... in floats: five fit


def _points(a: tuple, power: float, caps: tuple) -> list[tuple[int, ...]]:
    return [n for n in itertools.product(*[range(c + 1) for c in caps]) if np.dot(a, n) <= power + 1e-9]


def _random_row(rng: random.Random, items: list[int], most_nodes: int, most_power: float) -> tuple[tuple, float, tuple]:
    """Node powers (a few decimals, some whole), a power and inventories for one random power row."""
    k = rng.choice(items)
    a = tuple(round(rng.uniform(0.1, 5.0), rng.choice([0, 1, 3])) or 0.5 for _ in range(k))
    caps = tuple(rng.randint(0, most_nodes) for _ in range(k))
    return a, round(rng.uniform(0.0, most_power), rng.choice([0, 1, 2])), caps


@pytest.mark.parametrize("seed", range(4))
def test_facets_hold_at_every_count_that_fits_and_give_the_hull(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(150):
        a, power, caps = _random_row(rng, [1, 2, 2], 25, 40.0)
        facets = hull_facets(a, power, caps)
        points = _points(a, power, caps)
        for coef, rhs in facets:
            assert all(np.dot(coef, n) <= rhs for n in points), (a, power, caps, coef, rhs)
        rows = [list(coef) for coef, _ in facets] + [list(a)]
        for _ in range(4):
            w = [rng.uniform(0.0, 1.0) for _ in a]
            lp = linprog([-x for x in w], A_ub=rows, b_ub=[r for _, r in facets] + [power],
                         bounds=[(0, c) for c in caps])
            assert -lp.fun <= max(np.dot(w, n) for n in points) + 1e-7, (a, power, caps, facets, w)


def test_a_pair_lifted_over_a_third_item_by_hand() -> None:
    """3 n1 + 3 n2 + 4 n3 <= 5, each n <= 1: any two exceed 5, so each pair's hull has the facet
    n_i + n_j <= 1. Lifted over the third: while it draws W of the power (W in [4, 5] for n3, [3, 5]
    for n1 or n2), none of the pair fits beside it, so its coefficient is the least 1 / W times its
    power: 0.8 for n3, 0.6 for n1 or n2 (a whole 1 would be valid; the grid of W cannot know that
    the third draws exactly its own power or nothing)."""
    rows = sorted(whole_node_facets((3.0, 3.0, 4.0), 5.0, (1, 1, 1)))
    assert [rhs for _, rhs in rows] == [1.0, 1.0, 1.0]
    assert [coef for coef, _ in rows] == [pytest.approx(c, rel=1e-6) for c in ((0.6, 1, 1), (1, 0.6, 1), (1, 1, 0.8))]


@pytest.mark.parametrize("seed, work", [(0, None), (1, None), (2, None), (3, 1)])
def test_lifted_rows_hold_at_every_count_that_fits(seed: int, work: int | None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Work 1: the coarsest grid (the lightest other node and the whole power), as a pair with many
    nodes gets: smaller coefficients, still valid."""
    if work is not None:
        monkeypatch.setattr(knapsack, "LIFT_WORK", work)
    rng = random.Random(seed)
    for _ in range(200):
        a, power, caps = _random_row(rng, [3, 3, 4], 8, 25.0)
        points = _points(a, power, caps)
        for coef, rhs in whole_node_facets(a, power, caps):
            assert max(np.dot(coef, n) for n in points) <= rhs + 1e-9, (a, power, caps, coef, rhs)


def _fleet(generations: list[dict], inventory: dict, power_mw: float) -> Instance:
    """One site, one one-hour period, one inference pool worth 1 per unit-hour with demand to spare."""
    return Instance.model_validate({
        "name": "whole-nodes", "horizon": {"periods": 1, "period_hours": 1},
        "generations": generations,
        "sites": [{"name": "s", "power_mw": power_mw, "inventory": inventory}],
        "inference": [{"name": "p", "demand": [{"units": 1000, "value_per_unit_hour": 1.0}]}],
    })


def _lp(inst: Instance, cuts: bool) -> float:
    return HighsSolver().solve(build_model(inst, cuts=cuts).lm.relaxed(), SolveOptions()).objective


def test_the_relaxation_no_longer_powers_a_fraction_of_a_node() -> None:
    """8-GPU nodes of 8 kW under 20 kW: two run (16 units an hour: 16), the LP ran 2.5 (20)."""
    inst = _fleet([{"name": "G", "power_kw": 1.0, "node_size": 8, "train_speed": 1, "infer_speed": 1}],
                  {"G": 40}, 0.02)
    assert _lp(inst, cuts=False) == pytest.approx(20.0)
    assert _lp(inst, cuts=True) == pytest.approx(16.0)


def test_two_generations_relaxation_is_the_hull_by_hand() -> None:
    """GPUs of 3 kW (2 of them) and 2 kW (3) under 7 kW, one serving unit each: at most 3 run
    (the hand case above); the LP ran 1/3 + 3."""
    gens = [{"name": "A", "power_kw": 3.0, "node_size": 1, "train_speed": 1, "infer_speed": 1},
            {"name": "B", "power_kw": 2.0, "node_size": 1, "train_speed": 1, "infer_speed": 1}]
    inst = _fleet(gens, {"A": 2, "B": 3}, 0.007)
    assert _lp(inst, cuts=False) == pytest.approx(10 / 3)
    assert _lp(inst, cuts=True) == pytest.approx(3.0)


def test_three_generations_relaxation_by_hand() -> None:
    """GPUs of 3, 3 and 4 kW (one each) under 5 kW, one serving unit each: one runs. The LP ran 1 + 2/3
    (the 3 kW ones first). With the lifted rows above, by symmetry n1 = n2 = x, n3 = y, and
    2x + 0.8y <= 1, 1.6x + y <= 1 meet at x = 5/18, y = 5/9: 10/9."""
    gens = [{"name": name, "power_kw": kw, "node_size": 1, "train_speed": 1, "infer_speed": 1}
            for name, kw in (("A", 3.0), ("B", 3.0), ("C", 4.0))]
    inst = _fleet(gens, {"A": 1, "B": 1, "C": 1}, 0.005)
    assert _lp(inst, cuts=False) == pytest.approx(5 / 3)
    assert _lp(inst, cuts=True) == pytest.approx(10 / 9, rel=1e-4)  # rounding room: 1e-7 MW, 2e-5 of 5 kW
    scenario_model = build_model(inst, lifted=False)  # as a scenario's (planner.model.stochastic): pairs only
    assert HighsSolver().solve(scenario_model.lm.relaxed(), SolveOptions()).objective == pytest.approx(5 / 3)


@pytest.mark.parametrize("seed", range(2))
def test_lifted_rows_change_no_optimum_of_three_or_four_generations(seed: int) -> None:
    """One site whose power binds, 3 or 4 generations of random power, node size, speed and inventory:
    the MILP's optimum is the same with the rows and without, and its LP no larger."""
    rng = random.Random(seed)
    for _ in range(15):
        names = "ABCD"[:rng.choice([3, 4])]
        gens = [{"name": n, "power_kw": rng.choice([0.7, 1.0, 1.3, 2.2]), "node_size": rng.choice([1, 2, 8]),
                 "train_speed": 1, "infer_speed": rng.choice([1.0, 1.5, 2.5])} for n in names]
        inst = _fleet(gens, {n: rng.randint(1, 9) for n in names}, rng.uniform(0.005, 0.03))
        milp = [HighsSolver().solve(build_model(inst, cuts=c).lm, SolveOptions(gap=1e-9)).objective for c in (True, False)]
        assert milp[0] == pytest.approx(milp[1], rel=1e-9)
        assert _lp(inst, cuts=True) <= _lp(inst, cuts=False) + 1e-9


@pytest.mark.parametrize("size, seed", [("S", 2), ("S", 4), ("S", 13)])
def test_cuts_change_no_optimum(size: str, seed: int) -> None:
    inst = generated(size, seed)
    with_cuts, without = (HighsSolver().solve(build_model(inst, cuts=c).lm, SolveOptions(gap=1e-9)) for c in (True, False))
    assert any(f.name == "power_whole_nodes" for f in build_model(inst).lm.row_families)
    assert with_cuts.objective == pytest.approx(without.objective, rel=1e-9)
