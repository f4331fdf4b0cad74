"""The library entry points: load an instance, solve it, get a verified PlanResult."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from planner.duals import shadow_prices
from planner.greedy import GreedyError, GreedyPlan, greedy, greedy_report
from planner.instance import Instance, load_instance
from planner.model import build_model
from planner.results import PlanResult, extract
from planner.model.linear import LinearModel
from planner.solvers import HEURISTICS, SolveOptions, SolverReport, Status, get_solver
from planner.solvers.highs import HighsSolver
from planner.verify import verify

START_SHARE = 0.1  # of a time limit, the most the greedy warm start's local search may take


def polish(lm: LinearModel, report: SolverReport) -> SolverReport:
    """Re-solve the continuous columns (served units) with the integer ones fixed: an incumbent
    cut short by a time limit or a gap need not serve its capacity in the best way."""
    if report.x is None or not lm.integrality().any():
        return report
    cols = np.flatnonzero(lm.integrality())
    lp = HighsSolver().solve(lm.with_fixed(cols, np.round(report.x[cols])), SolveOptions())
    if lp.status != Status.OPTIMAL:
        return report
    return replace(report, x=lp.x, objective=lp.objective)


def not_worse_than(report: SolverReport, start: GreedyPlan) -> SolverReport:
    """A backend that stopped (time limit) with nothing, or with less than the start it was given,
    returns the start instead, with its own bound."""
    if report.status == Status.NO_SOLUTION or (
            report.status == Status.FEASIBLE and report.objective is not None and report.objective < start.objective):
        bound = report.best_bound if report.best_bound is not None and report.best_bound >= start.objective else None
        gap = None if bound is None else abs(bound - start.objective) / max(1.0, abs(start.objective))
        return replace(report, status=Status.FEASIBLE, x=start.x, objective=start.objective,
                       best_bound=bound, mip_gap=gap)
    return report


def solve(
    instance: Instance | str | Path,
    solver: str = "highs",
    time_limit: float | None = None,
    gap: float = 1e-6,
    threads: int | None = None,
    verbose: bool = False,
    check: bool = True,
    duals: bool = False,
    progress: bool = False,
    warm_start: bool = True,
) -> PlanResult:
    """Build the SPEC's MILP, solve it and verify the plan independently.

    `solver="greedy"` returns the greedy baseline alone (`feasible`, no bound; `no_solution` when it
    cannot place a mandatory item). With `warm_start`, backends that accept a start (HiGHS, CP-SAT)
    get the greedy plan as one, and a time-limited solve never returns less than it; the greedy's
    time counts in `solve_seconds` and against `time_limit`.
    Raises `VerificationError` if the plan breaks any SPEC rule (it is never returned silently).
    With `duals`, the result carries local shadow prices of site power and inventory.
    """
    inst = instance if isinstance(instance, Instance) else load_instance(instance)
    start = time.perf_counter()
    m = build_model(inst)
    build_seconds = time.perf_counter() - start
    options = SolveOptions(time_limit=time_limit, gap=gap, threads=threads, verbose=verbose, progress=progress)
    notes: list[str] = []
    if solver.lower() in HEURISTICS:
        report = greedy_report(m, seconds=time_limit)
    else:
        backend = get_solver(solver)
        plan, greedy_seconds = None, 0.0
        if warm_start and backend.accepts_start:
            try:
                plan = greedy(m, seconds=None if time_limit is None else START_SHARE * time_limit)
            except GreedyError as err:  # a bug in the heuristic must not cost the user the MILP: say so
                notes.append(f"greedy warm start skipped: {err}")
            greedy_seconds = time.perf_counter() - start - build_seconds
            if plan is not None:
                options.warm_start = plan.x
            if time_limit is not None:
                options.time_limit = max(time_limit - greedy_seconds, min(1.0, time_limit))
        report = polish(m.lm, backend.solve(m.lm, options))
        if plan is not None:
            report = not_worse_than(report, plan)
        report = replace(report, seconds=report.seconds + greedy_seconds)
    result = extract(m, report, build_seconds)
    result.warnings += notes
    if check and result.status.has_solution:
        verify(inst, result.to_dict())
        result.verified = True
    if duals and result.status.has_solution:
        result.shadow_prices = shadow_prices(m, report.x)
    return result
