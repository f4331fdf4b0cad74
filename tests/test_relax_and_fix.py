"""Relax-and-fix (planner/relax_and_fix.py) and how solve() combines starts and bounds (api.best_of):
the relaxation's bound never cuts off the optimum, the fixed plan passes the independent checker,
and a plan is called optimal only when a valid bound proves it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from generated import generated

import planner.relax_and_fix as relax_and_fix_module
from planner import load_instance, solve
from planner.api import best_of, polish
from planner.model import build_model
from planner.model.linear import INF, LinearModel
from planner.model.sets import NodeCounts
from planner.relax_and_fix import WINDOW, decisions, near, proving, relax_and_fix
from planner.results import extract
from planner.solvers import SolveOptions, SolverReport, Status
from planner.solvers.base import relative_gap
from planner.solvers.highs import HighsSolver
from planner.verify import check

ROOT = Path(__file__).parent.parent
CASES = [("S", 0), ("S", 1), ("S", 2)]


def _optimum(inst) -> float:
    result = solve(inst, gap=1e-9, warm_start=False)
    assert result.status == Status.OPTIMAL
    return result.objective


@pytest.mark.parametrize("size, seed", CASES)
def test_relaxation_bounds_the_optimum_and_the_fixed_plan_verifies(size: str, seed: int) -> None:
    inst = generated(size, seed)
    m = build_model(inst)
    found = relax_and_fix(m.lm, m.node_counts(), HighsSolver(),
                          SolveOptions(gap=1e-9, time_limit=60.0))
    optimum = _optimum(inst)
    assert found.bound is not None and found.bound >= optimum * (1 - 1e-9)
    assert found.plan is not None and found.plan.best_bound is None  # the fixed solve's bound is not the model's
    assert found.plan.objective <= optimum * (1 + 1e-9)
    plan = extract(m, found.plan)
    assert check(inst, plan.to_dict()) == []


def test_decisions_are_the_binaries_that_are_not_node_counts() -> None:
    m = build_model(load_instance(ROOT / "instances" / "teach_mixed_training.yaml"))
    cols = decisions(m.lm, m.alloc["var"].to_numpy())
    lb, ub = m.lm.bounds()
    assert len(cols) > 0
    assert m.lm.integrality()[cols].all() and (ub[cols] <= 1).all() and (lb[cols] >= 0).all()
    assert not np.isin(cols, m.alloc["var"].to_numpy()).any()
    paced = [f for f in m.lm.var_families if f.name.startswith("training_paced_gpus")]
    assert paced and not any(np.isin(np.arange(f.start, f.stop), cols).any() for f in paced)  # GPU counts, not choices


def test_relaxed_and_fixed_copies_leave_the_model_alone() -> None:
    m = build_model(load_instance(ROOT / "instances" / "teach_power_bound.yaml"))
    nodes = m.alloc["var"].to_numpy()
    integer = m.lm.integrality().copy()
    relaxed = m.lm.relaxed(nodes)
    assert not relaxed.integrality()[nodes].any()
    assert (relaxed.integrality()[~np.isin(np.arange(m.lm.n_vars), nodes)] == integer[~np.isin(np.arange(m.lm.n_vars), nodes)]).all()
    fixed = m.lm.with_fixed(nodes[:1], np.array([0.0]))
    assert (fixed.integrality() == integer).all() and fixed.bounds()[1][nodes[0]] == 0.0
    assert (m.lm.integrality() == integer).all()


def _report(status: Status, objective: float | None, bound: float | None) -> SolverReport:
    x = None if objective is None else np.array([objective])
    return SolverReport("highs", status, x, objective, bound, None)


def test_best_of_keeps_the_better_start_and_its_valid_bound() -> None:
    start = _report(Status.FEASIBLE, 100.0, None)
    got = best_of(_report(Status.FEASIBLE, 90.0, 105.0), start, bound=None, gap=1e-4)
    assert (got.objective, got.best_bound, got.status) == (100.0, 105.0, Status.FEASIBLE)
    assert got.mip_gap == pytest.approx(0.05)


def test_best_of_takes_the_tighter_bound_and_calls_a_proven_plan_optimal() -> None:
    got = best_of(_report(Status.FEASIBLE, 100.0, 110.0), None, bound=100.005, gap=1e-4)
    assert got.status == Status.OPTIMAL and got.best_bound == 100.005 and got.mip_gap == pytest.approx(5e-5)
    looser = best_of(_report(Status.FEASIBLE, 100.0, 110.0), None, bound=101.0, gap=1e-4)
    assert looser.status == Status.FEASIBLE and looser.best_bound == 101.0


def test_best_of_ignores_a_bound_below_the_plan() -> None:
    got = best_of(_report(Status.FEASIBLE, 100.0, 110.0), None, bound=99.0, gap=1e-4)
    assert got.best_bound == 110.0 and got.status == Status.FEASIBLE


def test_best_of_returns_the_start_when_the_backend_found_nothing() -> None:
    got = best_of(_report(Status.NO_SOLUTION, None, None), _report(Status.FEASIBLE, 50.0, None), bound=60.0, gap=1e-4)
    assert (got.status, got.objective, got.best_bound) == (Status.FEASIBLE, 50.0, 60.0)


def test_polish_serves_the_best_split_when_a_row_of_fixed_counts_is_over_by_a_rounding() -> None:
    """A row over the node counts alone, 5e-7 of itself over its bound (within a MILP's tolerance),
    made the polish LP infeasible at presolve: the plan kept its short served units (M training 46)."""
    lm = LinearModel()
    nodes = lm.add_variables("nodes", 1, 0.0, 10.0, integer=True)
    served = lm.add_variables("served", 1, 0.0, INF)
    lm.add_constraints("power", [0], nodes, [100.00005], -INF, 300.0)  # 3 nodes: 300.00015
    lm.add_constraints("capacity", [0, 0], [served[0], nodes[0]], [1.0, -2.0], -INF, 0.0)
    lm.add_objective("value", served, [1.0])
    lm.add_objective("energy_cost", nodes, [0.001])
    polished = polish(lm, SolverReport("highs", Status.FEASIBLE, np.array([3.0, 5.0]), 5.0 - 0.003))
    assert polished.x.tolist() == pytest.approx([3.0, 6.0])
    assert polished.objective == pytest.approx(6.0 - 0.003)


def test_time_limited_solve_of_generated_s_reports_a_valid_bound() -> None:
    inst = generated("S", 0)
    result = solve(inst, time_limit=30.0, gap=1e-6)
    optimum = _optimum(inst)
    assert result.verified and result.objective <= optimum * (1 + 1e-9)
    assert result.best_bound >= optimum * (1 - 1e-9)


@pytest.mark.parametrize("size, seed", CASES)
def test_big_nodes_stay_integer_in_the_relaxation(size: str, seed: int) -> None:
    """Only the fleet's smallest nodes are relaxed: the bound is still >= the optimum, and no looser
    than with every node count continuous (the 72-GPU racks' rounding is what it leaves out)."""
    inst = generated(size, seed)
    m = build_model(inst)
    nodes, fine = m.alloc["var"].to_numpy(), m.fine_nodes()
    gpus = m.node_gpus[m.alloc["g"].to_numpy()]
    assert set(gpus[np.isin(nodes, fine)]) == {gpus.min()} and len(fine) == (gpus == gpus.min()).sum() < len(nodes)
    options = SolveOptions(gap=1e-9, time_limit=60.0)
    coarse, every = (relax_and_fix(m.lm, NodeCounts(nodes, cols, nodes), HighsSolver(), options).bound for cols in (fine, nodes))
    optimum = _optimum(inst)
    assert optimum * (1 - 1e-9) <= coarse <= every * (1 + 1e-9)
    if seed in (1, 2):  # S 1: 3.24757e8 against 3.24940e8 with every count continuous; S 2: 3.47939e8 against 3.47972e8
        assert coarse < every * (1 - 1e-5)


@pytest.mark.parametrize("gap, at_most, relaxed", [(1e-3, 2000, "every"), (1e-2, 2000, "every"), (9e-4, 2000, "fine"),
                                                   (0.0, 2000, "fine"), (0.0, 29, "fine"), (0.0, 28, "every")])
def test_racks_stay_integer_only_below_a_gap_of_1e3_on_models_with_few_racks(monkeypatch, gap: float, at_most: int,
                                                                              relaxed: str) -> None:
    from planner.model.linear import LinearModel

    m = build_model(generated("S", 1))
    nodes, fine = m.alloc["var"].to_numpy(), m.fine_nodes()
    assert len(nodes) - len(fine) == 29  # S seed 1: 29 cells of 72-GPU racks, 27 of 8-GPU nodes
    monkeypatch.setattr(relax_and_fix_module, "RACKS_AT_MOST", at_most)
    seen = []
    original = LinearModel.relaxed
    # the relaxations are of the model itself (block rounding relaxes copies with decisions fixed)
    monkeypatch.setattr(LinearModel, "relaxed", lambda lm, cols=None: (seen.append(cols) if lm is m.lm else None)
                        or original(lm, cols))
    relax_and_fix(m.lm, m.node_counts(), HighsSolver(), SolveOptions(gap=gap, time_limit=60.0))
    if relaxed == "fine":  # first every count, for the plan that starts the racks-integer relaxation
        assert len(seen) >= 2 and np.array_equal(seen[0], nodes)
        seen = seen[1:]
    assert seen and all(np.array_equal(cols, {"every": nodes, "fine": fine}[relaxed]) for cols in seen)


def test_solve_without_a_time_limit_runs_relax_and_fix_too(monkeypatch) -> None:
    """Without a limit the MILP alone can take minutes where relax-and-fix's start takes seconds
    (README, How it works): solve() runs it either way, and only warm_start=False skips it."""
    from planner import api

    calls = []
    monkeypatch.setattr(api, "relax_and_fix", lambda *args: calls.append(args) or relax_and_fix(*args))
    inst = generated("S", 1)
    result = solve(inst, gap=1e-9)
    assert len(calls) == 1 and calls[0][3].time_limit is None
    assert result.status == Status.OPTIMAL and result.verified
    assert result.objective == pytest.approx(_optimum(inst), rel=1e-9)
    assert len(calls) == 1  # _optimum's warm_start=False solve did not run it


@pytest.mark.parametrize("bound", [1.7738e10, 250.0, 0.4, -3.0, -8.2e9])
@pytest.mark.parametrize("gap", [1e-6, 1e-4, 1e-3])
def test_proving_is_the_least_objective_the_bound_proves(bound: float, gap: float) -> None:
    """relax-and-fix's fixed solve may stop at `proving(bound, gap)`: any plan worth more is within the gap."""
    target = proving(bound, gap)
    assert target <= bound
    assert relative_gap(target + 1e-9 * max(1.0, abs(bound)), bound) <= gap * (1 + 1e-6)
    if bound >= 1:  # exact there (below 0 it is a little conservative): not much less would do
        assert relative_gap(target - 1e-3 * gap * bound, bound) > gap


def test_highs_stops_at_a_target() -> None:
    """SolveOptions.target: HiGHS returns the first plan worth more than the target, `feasible`, not proven."""
    m = build_model(generated("S", 1))
    optimum = HighsSolver().solve(m.lm, SolveOptions(gap=1e-9)).objective
    stopped = HighsSolver().solve(m.lm, SolveOptions(gap=1e-9, target=0.5 * optimum))
    assert stopped.status == Status.FEASIBLE and 0.5 * optimum < stopped.objective <= optimum * (1 + 1e-9)


def test_the_window_holds_node_counts_near_the_relaxed_values_within_their_bounds() -> None:
    m = build_model(generated("S", 0))
    nodes = m.alloc["var"].to_numpy()
    lb, ub = m.lm.bounds()
    relaxed = np.clip(np.linspace(-3.0, ub[nodes].max() + 3.0, len(nodes)) + 0.4, lb[nodes], ub[nodes])
    lo, hi = near(m.lm, nodes, relaxed).bounds()
    assert (lo[nodes] >= lb[nodes]).all() and (hi[nodes] <= ub[nodes]).all() and (lo[nodes] <= hi[nodes]).all()
    assert (lo[nodes] >= np.floor(relaxed) - WINDOW).all() and (hi[nodes] <= np.ceil(relaxed) + WINDOW).all()
    assert (lo[nodes] <= np.floor(relaxed)).all() and (hi[nodes] >= np.ceil(relaxed)).all()  # the relaxed value stays inside
    others = np.setdiff1d(np.arange(m.lm.n_vars), nodes)
    assert (lo[others] == lb[others]).all() and (hi[others] == ub[others]).all()


def test_when_the_window_has_no_plan_the_free_fixed_solve_finds_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """A window with no integer point (here: every node count's bounds crossed) must not cost the plan."""
    inst = generated("S", 1)
    m = build_model(inst)
    nodes = m.alloc["var"].to_numpy()
    windows: list[int] = []

    def empty(lm, cols, relaxed, width=WINDOW):
        if width != WINDOW:  # the search near the plan (step 4), not the window
            return near(lm, cols, relaxed, width)
        windows.append(len(cols))
        return lm.with_bounds(cols, np.full(len(cols), 2.0), np.full(len(cols), 1.0))

    monkeypatch.setattr(relax_and_fix_module, "near", empty)
    found = relax_and_fix(m.lm, NodeCounts(nodes, nodes, nodes[:0]), HighsSolver(), SolveOptions(gap=1e-9, time_limit=60.0))
    assert windows == [len(nodes)]
    assert found.plan is not None and check(inst, extract(m, found.plan).to_dict()) == []


class _Scripted(HighsSolver):
    """Returns the given reports in turn and records each call's options: relax-and-fix's budgets, gaps
    and targets are checked without depending on how fast HiGHS is."""

    def __init__(self, reports: list[SolverReport]) -> None:
        self.reports, self.calls = list(reports), []

    def solve(self, lm, options: SolveOptions) -> SolverReport:
        self.calls.append(options)
        return self.reports.pop(0)


def test_the_fixed_solve_aims_at_the_target_and_the_tighter_relaxation_is_capped() -> None:
    """The fixed solve runs to a tenth of the gap (it stops at the target, the least objective the bound
    proves) for at most FIX_PER_RELAX times the relaxation's time plus a second; a plan within the gap
    of the relaxation's own plan but not of its bound gets a tighter relaxation, for at most as long as
    the first took (README, How it works: M inference 12 spent 14.6 s there for no better bound)."""
    m = build_model(generated("S", 1))
    nodes = m.alloc["var"].to_numpy()
    x = np.zeros(m.lm.n_vars)
    relaxed = SolverReport("highs", Status.OPTIMAL, x, 100.0, 100.02, seconds=4.0)
    fixed = SolverReport("highs", Status.FEASIBLE, x, 99.991, 100.0)  # 0.9e-4 below 100.0, 2.9e-4 below the bound
    tighter = SolverReport("highs", Status.OPTIMAL, x, 100.0, 100.015, seconds=4.0)
    worse = SolverReport("highs", Status.OPTIMAL, x, 99.9, 99.9)  # the neighbourhood's: no better plan near it
    backend = _Scripted([relaxed, fixed, tighter, worse])
    found = relax_and_fix(m.lm, NodeCounts(nodes, nodes, nodes[:0]), backend, SolveOptions(gap=1e-4, time_limit=600.0))
    relax, fix, again, _ = backend.calls
    assert fix.gap == pytest.approx(relax_and_fix_module.FIX_GAP * 1e-4) and fix.target == pytest.approx(proving(100.02, 1e-4))
    assert fix.time_limit == pytest.approx(relax_and_fix_module.FIX_PER_RELAX * 4.0 + 1.0)
    assert again.gap < relax.gap and again.time_limit == pytest.approx(4.0)
    # a relaxation's plan is only rounded, so no heuristics of the backend's (L mixed 13: 60 s -> 18 s)
    assert not relax.heuristics and not again.heuristics and fix.heuristics
    assert found.bound == pytest.approx(100.015) and found.plan.objective == pytest.approx(99.991)


def test_the_all_continuous_relaxations_bound_is_kept_when_the_racks_integer_one_has_none(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the racks stay integer, the first relaxation (every count continuous) has a valid bound too:
    when the racks-integer relaxation ends before its root LP (no bound), that bound is still reported;
    when both have one, the smaller."""
    m = build_model(generated("S", 1))
    x = np.zeros(m.lm.n_vars)
    plan = SolverReport("highs", Status.FEASIBLE, x, 99.0)
    monkeypatch.setattr(relax_and_fix_module, "_fix", lambda *args, **kwargs: plan)
    loose = SolverReport("highs", Status.OPTIMAL, x, 100.0, 100.05, seconds=1.0)
    for racks_integer, bound in [(SolverReport("highs", Status.FEASIBLE, x, 99.5, None, seconds=3.0), 100.05),
                                 (SolverReport("highs", Status.OPTIMAL, x, 99.5, 100.01, seconds=3.0), 100.01)]:
        backend = _Scripted([loose, racks_integer, SolverReport("highs", Status.NO_SOLUTION, seconds=3.0)])
        found = relax_and_fix(m.lm, m.node_counts(), backend, SolveOptions(gap=1e-4, time_limit=60.0))
        assert found.bound == pytest.approx(bound) and found.plan is plan


def test_the_start_of_the_racks_integer_relaxation_is_rounded_in_blocks_without_the_window(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The all-continuous relaxation's plan is only a start: block rounding alone, no window (on M
    inference 12 the window ran its whole 2.4 s budget there for a worse plan; README, How it works)."""
    import time

    def no_window(*args):
        raise AssertionError("the window ran")

    calls, original = [], relax_and_fix_module.round_in_blocks
    monkeypatch.setattr(relax_and_fix_module, "near", no_window)
    monkeypatch.setattr(relax_and_fix_module, "round_in_blocks", lambda *args: calls.append(args) or original(*args))
    inst = generated("S", 1)
    m = build_model(inst)
    counts = m.node_counts()
    plan, bound = relax_and_fix_module._first_plan(m.lm, counts, HighsSolver(), SolveOptions(gap=1e-4, time_limit=60.0),
                                                   time.perf_counter())
    assert len(calls) == 1 and np.array_equal(calls[0][2], counts.single)  # racks too: every count was continuous
    assert plan is not None and check(inst, extract(m, plan).to_dict()) == [] and plan.objective <= bound


def test_where_the_racks_stay_integer_no_window_follows_block_rounding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Racks integer: block rounding's plan, short of the target, is the fixed solve's plan; no window
    follows (the search near the plan does its job better: M mixed 43's window spent 1 s for a plan 1e-4
    worse than the blocks')."""
    m = build_model(generated("S", 1))
    counts = m.node_counts()
    x = np.zeros(m.lm.n_vars)
    blocks = SolverReport("highs", Status.FEASIBLE, x, 99.0)  # short of the target, proving(100.02, 1e-9)
    monkeypatch.setattr(relax_and_fix_module, "round_in_blocks", lambda *args: blocks)
    relaxed = SolverReport("highs", Status.OPTIMAL, x, 100.0, 100.02, seconds=4.0)
    backend = _Scripted([])
    found = relax_and_fix_module._fix(m.lm, counts, counts.fine, backend, SolveOptions(gap=1e-9, time_limit=10.0),
                                      relaxed, 100.02, start=0.0)
    assert backend.calls == [] and found.objective == pytest.approx(99.0)


@pytest.mark.parametrize("blocks_worth, windows", [(100.015, 0), (99.0, 1)])
def test_blocks_go_first_and_the_window_follows_only_when_they_fall_short(monkeypatch: pytest.MonkeyPatch,
                                                                        blocks_worth: float, windows: int) -> None:
    """Every count relaxed (L, XL, coarse gaps): block rounding first; the window only when its plan is short
    of the target (on XL the window spent its 29 s for a plan 74% below the bound before the blocks ran)."""
    m = build_model(generated("S", 1))
    counts = m.node_counts()
    assert len(counts.single)
    x = np.zeros(m.lm.n_vars)
    monkeypatch.setattr(relax_and_fix_module, "round_in_blocks",
                        lambda *args: SolverReport("highs", Status.FEASIBLE, x, blocks_worth))
    relaxed = SolverReport("highs", Status.OPTIMAL, x, 100.0, 100.02, seconds=4.0)
    backend = _Scripted([SolverReport("highs", Status.FEASIBLE, x, 99.5)])  # the window's plan, if asked
    found = relax_and_fix_module._fix(m.lm, counts, counts.all, backend, SolveOptions(gap=1e-4, time_limit=60.0),
                                      relaxed, 100.02, start=0.0)
    assert len(backend.calls) == windows and found.objective == pytest.approx(max(blocks_worth, 99.5))


def test_the_racks_integer_relaxation_gets_a_few_times_its_starts_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Its bound is final early and its search for plans was its slow part (M mixed 43: 17.4 s to reach
    half the gap with the bound final at 2 s): it gets RELAX_PER_FIRST times what its start took, plus a
    second, or RELAX_SHARE of what is left if less."""
    clock = [0.0]
    monkeypatch.setattr(relax_and_fix_module, "time", type("Clock", (), {"perf_counter": staticmethod(lambda: clock[0])}))
    m = build_model(generated("S", 1))
    x = np.zeros(m.lm.n_vars)
    start_plan = SolverReport("highs", Status.FEASIBLE, x, 99.0)

    def first_plan(*args):
        clock[0] += 2.0  # the all-continuous relaxation and its blocks took 2 s
        return start_plan, 100.05

    monkeypatch.setattr(relax_and_fix_module, "_first_plan", first_plan)
    monkeypatch.setattr(relax_and_fix_module, "_fix", lambda *args, **kwargs: SolverReport("highs", Status.FEASIBLE, x, 99.999))
    for limit, most in [(60.0, relax_and_fix_module.RELAX_PER_FIRST * 2.0 + 1.0), (12.0, relax_and_fix_module.RELAX_SHARE * 10.0)]:
        clock[0] = 0.0
        backend = _Scripted([SolverReport("highs", Status.OPTIMAL, x, 100.0, 100.0)])
        relax_and_fix(m.lm, m.node_counts(), backend, SolveOptions(gap=1e-4, time_limit=limit))
        racks_integer, = backend.calls
        assert racks_integer.warm_start is x and racks_integer.time_limit == pytest.approx(most)


def test_where_the_racks_stay_integer_the_relaxation_is_not_solved_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """A plan within the gap of the relaxation's own plan but not of its bound: with every count relaxed a
    tighter relaxation follows (test above); with the racks integer, the MILP that follows does that job."""
    m = build_model(generated("S", 1))
    x = np.zeros(m.lm.n_vars)
    monkeypatch.setattr(relax_and_fix_module, "_fix", lambda *args, **kwargs: SolverReport("highs", Status.FEASIBLE, x, 99.995))
    loose = SolverReport("highs", Status.OPTIMAL, x, 100.0, 100.05, seconds=1.0)
    racks_integer = SolverReport("highs", Status.OPTIMAL, x, 100.0, 100.02, seconds=3.0)
    backend = _Scripted([loose, racks_integer, SolverReport("highs", Status.FEASIBLE, x, 99.996)])
    found = relax_and_fix(m.lm, m.node_counts(), backend, SolveOptions(gap=1e-4, time_limit=60.0))
    assert found.bound == pytest.approx(100.02)
    first, kept, last = backend.calls  # the last is the plan's neighbourhood (test below), not a relaxation
    assert not first.heuristics and not kept.heuristics  # racks integer or not (README, thirteenth stop)
    assert last.warm_start is x and last.target == pytest.approx(proving(100.02, 1e-4))


def test_a_plan_short_of_the_target_is_searched_near_it_with_the_decisions_free() -> None:
    """Hand case: max 3a + 2b + 5d, a + b <= 5, a - 5d <= 0 (a only with the decision d), integers;
    the plan a=0, b=4, d=0 (8) is short of the target. Within one node of it, with d free, the best is
    a=1, b=4, d=1 (16); the optimum a=5, d=1 (20) is further away. The new plan is `feasible` with no
    bound of its own (its search's bound holds near the plan only)."""
    lm = LinearModel()
    a, b = lm.add_variables("nodes", 2, 0.0, 5.0, integer=True)
    d, = lm.add_variables("placed", 1, 0.0, 1.0, integer=True)
    lm.add_constraints("inventory", [0, 0], [a, b], [1.0, 1.0], -INF, 5.0)
    lm.add_constraints("placement", [0, 0], [a, d], [1.0, -5.0], -INF, 0.0)
    lm.add_objective("value", np.array([a, b, d]), [3.0, 2.0, 5.0])
    plan = SolverReport("highs", Status.FEASIBLE, np.array([0.0, 4.0, 0.0]), 8.0)
    found = relax_and_fix_module._neighbourhood(lm, np.array([a, b]), HighsSolver(), SolveOptions(gap=1e-9),
                                                plan, bound=20.0, relaxed_seconds=1.0, start=0.0)
    assert found.x.tolist() == pytest.approx([1.0, 4.0, 1.0]) and found.objective == pytest.approx(16.0)
    assert found.status == Status.FEASIBLE and found.best_bound is None and found.mip_gap is None
    held = relax_and_fix_module._neighbourhood(lm, np.array([a, b]), _Scripted([SolverReport("highs", Status.FEASIBLE, plan.x, 7.0)]),
                                               SolveOptions(gap=1e-9), plan, bound=20.0, relaxed_seconds=1.0, start=0.0)
    assert held is plan  # a worse plan near it never replaces the plan
