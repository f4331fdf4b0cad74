"""The library entry points: load an instance, solve it, get a verified PlanResult."""

from __future__ import annotations

import time
from pathlib import Path

from planner.duals import shadow_prices
from planner.instance import Instance, load_instance
from planner.model import build_model
from planner.results import PlanResult, extract
from planner.solvers import SolveOptions, get_solver
from planner.verify import verify


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
    report = get_solver(solver).solve(m.lm, options)
    result = extract(m, report, build_seconds)
    if check and result.status.has_solution:
        verify(inst, result.to_dict())
        result.verified = True
    if duals and result.status.has_solution:
        result.shadow_prices = shadow_prices(m, report.x)
    return result
