"""The library entry points: load an instance, solve it, get a verified PlanResult."""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from planner.duals import shadow_prices
from planner.first_stage import complete, first_stage_values
from planner.greedy import GreedyError, greedy_report
from planner.instance import Instance, load_instance
from planner.model import PlanModel, build_model
from planner.model.linear import LinearModel
from planner.options import check_solve_options
from planner.relax_and_fix import relax_and_fix
from planner.metrics import value_of_information
from planner.model.stochastic import build_stochastic
from planner.results import PlanResult, extract, extract_scenarios
from planner.solvers import HEURISTICS, SolveOptions, Solver, SolverReport, Status, get_solver
from planner.solvers.base import relative_gap
from planner.solvers.highs import HighsSolver
from planner.verify import verify

START_SHARE = 0.1  # of a time limit, the most the greedy warm start's local search may take
BOUND_TOLERANCE = 1e-6  # relative: a bound this little below a plan's value is the solver's rounding


def polish(lm: LinearModel, report: SolverReport) -> SolverReport:
    """Re-solve the continuous columns (served units) with the integer ones fixed: an incumbent
    cut short by a time limit or a gap need not serve its capacity in the best way."""
    if report.x is None or not lm.integrality().any():
        return report
    cols = np.flatnonzero(lm.integrality())
    lp = HighsSolver().solve(lm.with_fixed(cols, np.round(report.x[cols])).relaxed(), SolveOptions())
    if lp.status != Status.OPTIMAL:
        return report
    return replace(report, x=lp.x, objective=lp.objective)


def best_of(report: SolverReport, start: SolverReport | None, bound: float | None, gap: float) -> SolverReport:
    """The backend's plan or the start it was given, whichever is worth more (a backend stopped by a
    time limit may hold less, or nothing), with the tighter of its own bound and `bound` (from a
    relaxation); a plan proven within `gap` by that bound is optimal."""
    if start is not None and (report.status == Status.NO_SOLUTION or (
            report.status == Status.FEASIBLE and report.objective is not None and report.objective < start.objective)):
        own = report.best_bound if report.best_bound is not None and report.best_bound >= start.objective else None
        report = replace(report, status=Status.FEASIBLE, x=start.x, objective=start.objective, best_bound=own)
    if not report.status.has_solution:
        return report
    tolerance = BOUND_TOLERANCE * max(1.0, abs(report.objective))
    bounds = [b for b in (report.best_bound, bound) if b is not None and np.isfinite(b) and b >= report.objective - tolerance]
    if not bounds:
        return replace(report, best_bound=None, mip_gap=None)
    tightest = max(min(bounds), report.objective)
    achieved = relative_gap(report.objective, tightest)
    status = Status.OPTIMAL if report.status == Status.OPTIMAL or achieved <= gap else report.status
    return replace(report, status=status, best_bound=tightest, mip_gap=achieved)


def _starts(m: PlanModel, backend: Solver, options: SolveOptions, notes: list[str]) -> tuple[SolverReport | None, float | None]:
    """The best plan known before the full MILP, and a bound on the optimum (or None): the greedy
    plan, then, when there is a time limit, relax-and-fix started from it."""
    start = None
    try:
        start = greedy_report(m, seconds=None if options.time_limit is None else START_SHARE * options.time_limit)
    except GreedyError as err:  # a bug in the heuristic must not cost the user the MILP: say so
        notes.append(f"greedy warm start skipped: {err}")
    if start is not None and not start.status.has_solution:
        start = None
    if options.time_limit is None:
        return start, None
    found = relax_and_fix(m, backend, replace(options, warm_start=None if start is None else start.x),
                          options.time_limit - (0.0 if start is None else start.seconds))
    plans = [p for p in (start, found.plan and polish(m.lm, found.plan)) if p is not None]
    return (max(plans, key=lambda p: p.objective) if plans else None), found.bound


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
    metrics: bool = False,
) -> PlanResult:
    """Build the SPEC's MILP, solve it and verify the plan independently.

    `solver="greedy"` returns the greedy baseline alone (`feasible`, no bound; `no_solution` when it
    cannot place a mandatory item). With `warm_start`, backends that accept a start (HiGHS, CP-SAT)
    get the greedy plan as one and, with a time limit, first run relax-and-fix (planner.relax_and_fix)
    for a better start and a bound; a time-limited solve never returns less than its start. That
    time counts in `solve_seconds` and against `time_limit`.
    Raises `VerificationError` if the plan breaks any SPEC rule (it is never returned silently).
    With `duals`, the result carries local shadow prices of site power and inventory.
    An instance with `uncertainty` (SPEC section 6) is solved as its extensive form; `metrics` adds
    EVPI and VSS (one more solve per scenario).
    """
    check_solve_options(time_limit, gap, threads)
    inst = instance if isinstance(instance, Instance) else load_instance(instance)
    if inst.uncertainty is not None:
        return solve_scenarios(inst, solver, SolveOptions(time_limit=time_limit, gap=gap, threads=threads,
                                                          verbose=verbose, progress=progress), check, duals, metrics)
    if metrics:
        raise ValueError("metrics (EVPI, VSS) need an instance with `uncertainty` (SPEC section 6)")
    begin = time.perf_counter()
    m = build_model(inst)
    build_seconds = time.perf_counter() - begin
    options = SolveOptions(time_limit=time_limit, gap=gap, threads=threads, verbose=verbose, progress=progress)
    notes: list[str] = []
    if solver.lower() in HEURISTICS:
        report = greedy_report(m, seconds=time_limit)
    else:
        backend = get_solver(solver)
        start, bound = None, None
        if warm_start and backend.accepts_start:
            start, bound = _starts(m, backend, options, notes)
            options.warm_start = None if start is None else start.x
        spent = time.perf_counter() - begin - build_seconds
        if start is not None and bound is not None and relative_gap(start.objective, bound) <= gap:
            report = replace(start, seconds=0.0)  # the relaxation's bound already proves the start
        else:
            if time_limit is not None:
                options.time_limit = max(time_limit - spent, min(1.0, time_limit))
            report = polish(m.lm, backend.solve(m.lm, options))
        report = replace(best_of(report, start, bound, gap), seconds=spent + report.seconds)
    result = extract(m, report, build_seconds)
    result.warnings += notes
    if check and result.status.has_solution:
        verify(inst, result.to_dict())
        result.verified = True
    if duals and result.status.has_solution:
        result.shadow_prices = shadow_prices(m, report.x)
    return result


def solve_scenarios(inst: Instance, solver: str, options: SolveOptions, check: bool = True,
                    duals: bool = False, metrics: bool = False) -> PlanResult:
    """SPEC section 6: the extensive form (planner.model.stochastic) solved as one MILP, each scenario's
    plan verified against its own instance, F recomputed."""
    if duals:
        raise ValueError("--duals is not available for an instance with uncertainty (shadow prices are per scenario)")
    if solver.lower() in HEURISTICS:
        raise ValueError(f"the {solver} heuristic does not plan under uncertainty; choose a MILP solver")
    begin = time.perf_counter()
    sm = build_stochastic(inst)
    build_seconds = time.perf_counter() - begin
    backend = get_solver(solver)
    start = _scenario_start(inst, sm, solver, options) if backend.accepts_start else None
    options = replace(options, warm_start=None if start is None else start.x)
    if options.time_limit is not None:
        options.time_limit = max(options.time_limit - (time.perf_counter() - begin - build_seconds), min(1.0, options.time_limit))
    report = polish(sm.lm, backend.solve(sm.lm, options))
    report = replace(best_of(report, start, None, options.gap), seconds=time.perf_counter() - begin - build_seconds)
    result = extract_scenarios(sm, report, build_seconds)
    if check and result.status.has_solution:
        verify(inst, result.to_dict())
        result.verified = True
    if metrics and result.status.has_solution:
        found = value_of_information(inst, result.objective, solver, replace(options, progress=False))
        result.uncertainty |= {"evpi": found["evpi"], "vss": found["vss"]}
        result.warnings += found["notes"]
    return result


def _scenario_start(inst: Instance, sm, solver: str, options: SolveOptions) -> SolverReport | None:
    """A warm start for the extensive form: the first stage of the plan without uncertainty (solved by the
    deterministic pipeline), completed in each scenario (planner.first_stage). Each step gets START_SHARE
    x 2 of a time limit."""
    share = None if options.time_limit is None else 2 * START_SHARE * options.time_limit
    base = solve(inst.model_copy(update={"uncertainty": None}), solver=solver, time_limit=share, gap=options.gap,
                 threads=options.threads)
    if not base.status.has_solution:
        return None
    done = complete(sm, first_stage_values(sm, base), get_solver(solver), replace(options, time_limit=share, progress=False))
    if done.plan is not None and options.progress:
        print(f"scenario start: the first stage without uncertainty, completed, is worth {done.plan.objective:.6g}",
              file=sys.stderr, flush=True)
    return done.plan
