"""Block rounding (planner/block_rounding.py): blocks are the connected pieces of the chosen columns,
and every plan it returns passes the independent checker and is worth no more than the optimum."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pytest
from generated import generated

import planner.relax_and_fix as relax_and_fix_module
from planner import block_rounding
from planner.model import build_model
from planner.model.linear import INF, Assembled, LinearModel
from planner.relax_and_fix import decisions, relax_and_fix
from planner.results import extract
from planner.solvers import SolveOptions, Status
from planner.solvers.highs import HighsSolver
from planner.verify import check

SEEDS = [0, 1, 2]


def test_blocks_are_the_chosen_columns_that_share_a_row() -> None:
    lm = LinearModel()
    lm.add_variables("x", 4, 0.0, 10.0, integer=True)
    lm.add_constraints("links_0_1", [0, 0], [0, 1], [1.0, 1.0], -INF, 5.0)
    lm.add_constraints("links_2_3", [0, 0], [2, 3], [1.0, 1.0], -INF, 5.0)  # 3 is not chosen: 2 stays alone
    lm.add_constraints("only_3", [0], [3], [1.0], -INF, 5.0)
    cols, rows = block_rounding.connected_blocks(lm.matrix(), np.array([0, 1, 2]))
    assert cols[0] == cols[1] != cols[2]
    assert rows[0] == cols[0] and rows[1] == cols[2] and rows[2] == -1


def _fixed_at_the_optimum(seed: int):
    """S fleet `seed`, its model, the model with the optimum's 0/1 decisions fixed, its node counts
    and the optimum's value."""
    inst = generated("S", seed)
    m = build_model(inst)
    best = HighsSolver().solve(m.lm, SolveOptions(gap=1e-9))
    assert best.status == Status.OPTIMAL
    counts = m.node_counts()
    cols = decisions(m.lm, counts.all)
    return inst, m, m.lm.with_fixed(cols, np.round(best.x[cols])), counts, best.objective


@pytest.mark.parametrize("seed", SEEDS)
def test_a_block_rounded_plan_verifies_and_is_no_better_than_the_optimum(seed: int) -> None:
    inst, m, fixed, counts, optimum = _fixed_at_the_optimum(seed)
    assert 0 < len(counts.single) < len(counts.all)  # S fleets have single-period (inference) and spanning counts
    spanning = np.setdiff1d(counts.all, counts.single)
    plan = block_rounding.round_in_blocks(fixed, spanning, counts.single, HighsSolver(), SolveOptions(gap=1e-4))
    assert plan is not None and plan.objective <= optimum * (1 + 1e-9)
    assert plan.objective >= optimum * (1 - 1e-3)  # measured: 1.0e-5, 2.8e-4, 1.3e-4 below it on S seeds 0-2
    assert check(inst, extract(m, plan).to_dict()) == []


@pytest.mark.parametrize("seed", SEEDS)
def test_blocks_with_no_plan_are_repaired(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every block's own solve failing leaves them all to the repair, whose plan still verifies."""
    inst, m, fixed, counts, optimum = _fixed_at_the_optimum(seed)
    monkeypatch.setattr(block_rounding, "_rounded_up", lambda *args: None)
    monkeypatch.setattr(block_rounding, "_solve_block", lambda *args: None)
    repairs = []
    original = block_rounding._repair
    monkeypatch.setattr(block_rounding, "_repair", lambda *args: repairs.append(args) or original(*args))
    spanning = np.setdiff1d(counts.all, counts.single)
    plan = block_rounding.round_in_blocks(fixed, spanning, counts.single, HighsSolver(), SolveOptions(gap=1e-4))
    assert len(repairs) == 1
    assert plan is not None and plan.objective <= optimum * (1 + 1e-9)
    assert check(inst, extract(m, plan).to_dict()) == []


def test_relax_and_fix_rounds_in_blocks_when_the_window_has_no_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    inst = generated("S", 1)
    m = build_model(inst)
    calls = []
    original = block_rounding.round_in_blocks
    monkeypatch.setattr(relax_and_fix_module, "near", lambda lm, cols, relaxed: lm.with_bounds(
        cols, np.full(len(cols), 2.0), np.full(len(cols), 1.0)))  # crossed bounds: no plan in the window
    monkeypatch.setattr(relax_and_fix_module, "round_in_blocks", lambda *args: calls.append(args) or original(*args))
    # at a gap of 1e-3 every count is continuous in the relaxation, so the window goes first
    found = relax_and_fix(m.lm, m.node_counts(), HighsSolver(), SolveOptions(gap=1e-3, time_limit=60.0))
    assert len(calls) == 1
    assert found.plan is not None and check(inst, extract(m, found.plan).to_dict()) == []


def test_where_the_relaxation_kept_racks_integer_blocks_go_first_with_the_smallest_nodes_alone(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Below a gap of 1e-3 the relaxation keeps the racks integer: block rounding then rounds only the
    smallest nodes' single-period counts (racks join the spanning counts), before any window."""
    inst = generated("S", 1)
    m = build_model(inst)
    counts = m.node_counts()
    ways = []
    rounding, window = block_rounding.round_in_blocks, relax_and_fix_module.near
    monkeypatch.setattr(relax_and_fix_module, "near", lambda *args: ways.append("window") or window(*args))
    monkeypatch.setattr(relax_and_fix_module, "round_in_blocks", lambda *args: ways.append(args) or rounding(*args))
    options = SolveOptions(gap=1e-9, time_limit=60.0)
    relaxed = HighsSolver().solve(m.lm.relaxed(counts.fine), replace(options, gap=1e-4))
    plan = relax_and_fix_module._fix(m.lm, counts, counts.fine, HighsSolver(), options, relaxed, relaxed.best_bound,
                                     time.perf_counter())
    _, spanning, single, _, options = ways[0]
    assert np.array_equal(single, np.intersect1d(counts.single, counts.fine))
    assert options.gap == relax_and_fix_module.RELAX_GAP_FLOOR  # not 1e-9: its racks-integer MILP would be the model's
    assert 0 < len(single) < len(counts.single)  # S seed 1 has single-period racks: they are held, not rounded
    assert np.array_equal(np.union1d(spanning, single), counts.all)
    assert ways[1:] in ([], ["window"])  # the window only when the blocks' plan is short of the target
    assert plan is not None and check(inst, extract(m, plan).to_dict()) == []


def _one_row(cap: float) -> Assembled:
    """One node count x (0..10) with 100.00005 MW a node against `cap` MW: x = 3 needs 300.00015."""
    lm = LinearModel()
    x = lm.add_variables("x", 1, 0.0, 10.0, integer=True)
    lm.add_constraints("power", [0], x, [100.00005], -INF, cap)
    lm.add_objective("value", x, [1.0])
    return Assembled.of(lm)


def test_a_rounding_up_that_puts_a_row_over_by_more_than_float_rounding_is_refused() -> None:
    """With a tolerance of 1e-6 of the row, rounding x up to 3 was accepted 1.5e-4 MW (5e-7 of the row)
    over a 300 MW cap; the polish LP then refused the plan (M training seed 46)."""
    near_three = np.array([300.0 / 100.00005])
    assert block_rounding._rounded_up(_one_row(300.0), np.array([0]), np.array([0]), near_three, np.inf) is None
    assert not block_rounding._feasible(_one_row(300.0), np.array([3.0]))
    exactly = _one_row(3 * 100.00005)  # the same sum, so float rounding at most: holds
    assert block_rounding._rounded_up(exactly, np.array([0]), np.array([0]), near_three, np.inf) == [3.0]
    assert block_rounding._feasible(exactly, np.array([3.0]))


def test_served_units_within_the_lp_tolerance_of_their_capacity_are_left_to_polish() -> None:
    """XL seed 8's block-rounded plan was refused for 1.3e-9 units served beyond a capacity of 0 (the
    blocks' LP noise; polish solves served units again): the relaxation's plan 2.1% below its bound
    was returned instead of one 2e-4 below it. A count over its power stays refused."""
    lm = LinearModel()
    nodes = lm.add_variables("x", 1, 0.0, 10.0, integer=True)
    served = lm.add_variables("served", 1, 0.0, 100.0)
    lm.add_constraints("capacity", [0, 0], [served[0], nodes[0]], [1.0, -8.0], -INF, 0.0)
    lm.add_constraints("power", [0], nodes, [2.0], -INF, 7.0)
    pieces = Assembled.of(lm)
    assert block_rounding._feasible(pieces, np.array([0.0, 1.34e-9]))
    assert not block_rounding._feasible(pieces, np.array([0.0, 1e-6]))  # beyond the LP's tolerance
    assert not block_rounding._feasible(pieces, np.array([4.0, 0.0]))  # 8 MW of 7: no tolerance makes it fit
