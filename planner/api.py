"""The library entry points: load an instance, solve it, get a verified PlanResult."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from planner.duals import shadow_prices
from planner.instance import Instance, load_instance
from planner.model import build_model
from planner.results import PlanResult, extract
from planner.model.linear import LinearModel
from planner.solvers import SolveOptions, SolverReport, Status, get_solver
from planner.solvers.highs import HighsSolver
from planner.verify import verify


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
) -> PlanResult:
    """Build the SPEC's MILP, solve it and verify the plan independently.

    Raises `VerificationError` if the plan breaks any SPEC rule (it is never returned silently).
    With `duals`, the result carries local shadow prices of site power and inventory.
    """
    inst = instance if isinstance(instance, Instance) else load_instance(instance)
    start = time.perf_counter()
    m = build_model(inst)
    build_seconds = time.perf_counter() - start
    options = SolveOptions(time_limit=time_limit, gap=gap, threads=threads, verbose=verbose, progress=progress)
    report = polish(m.lm, get_solver(solver).solve(m.lm, options))
    result = extract(m, report, build_seconds)
    if check and result.status.has_solution:
        verify(inst, result.to_dict())
        result.verified = True
    if duals and result.status.has_solution:
        result.shadow_prices = shadow_prices(m, report.x)
    return result
