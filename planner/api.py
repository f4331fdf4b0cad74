"""The library entry points: load an instance, solve it, get a verified PlanResult."""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from planner.duals import shadow_prices
from planner.first_stage import complete, first_stage_values
from planner.greedy import GreedyError, greedy_report
from planner.instance import Instance, as_instance
from planner.metrics import value_of_information
from planner.model import PlanModel, build_model
from planner.model.linear import INF, Assembled, LinearModel
from planner.model.sets import NodeCounts
from planner.model.stochastic import StochasticModel, build_stochastic
from planner.options import check_solve_options
from planner.outcomes import consumer_outcomes
from planner.relax_and_fix import relax_and_fix
from planner.results import PlanResult, extract, extract_scenarios
from planner.solvers import (
    HEURISTICS,
    Budget,
    SolveOptions,
    Solver,
    SolverReport,
    Status,
    get_solver,
    linear_solver,
    relative_gap,
)
from planner.solvers.base import GAP_TOLERANCE
from planner.verify import verify

START_SHARE = 0.02  # of a time limit, the most the greedy warm start's local search may take
BOUND_TOLERANCE = 1e-6  # relative: a bound this little below a plan's value is the solver's rounding
INTERRUPTED = "interrupted: the best plan found before the interrupt, not proven optimal"
INTERRUPTED_EARLY = "interrupted before any plan was found"


def polish(lm: LinearModel, report: SolverReport, options: SolveOptions = SolveOptions(),
           then: np.ndarray | None = None) -> SolverReport:
    """Re-solve the continuous columns (served units) with the integer ones fixed: an incumbent
    cut short by a time limit, a gap or a target need not serve its capacity in the best way, and
    the checker recomputes the best split. Only the rows that hold a continuous column: the others
    are constants here, and one of them over its bound by a rounding (a site's power, by 5e-7 of
    itself) made the LP's presolve refuse the whole LP, leaving the served units unpolished. `then`:
    a second objective, maximised among the completions worth as much (with a risk weight of 1, F
    does not see the scenarios outside the CVaR tail, whose served units were left short). Past a
    time limit, like verification; an interrupted polish keeps the plan as it was."""
    if report.x is None or not lm.integrality().any():
        return report
    whole = Assembled.of(lm)
    x = np.where(whole.integer, np.round(report.x), report.x)
    cols = np.flatnonzero(~whole.integer)
    rows = np.unique(whole.matrix[:, cols].tocoo().row)
    part = whole.part(cols, rows, x, whole.lb[cols], whole.ub[cols])
    exact = replace(options, warm_start=None, time_limit=None)
    lp = linear_solver().solve(part, exact)
    if lp.status != Status.OPTIMAL:
        return report
    x[cols] = lp.x
    if then is not None:
        worth = whole.cost[cols] / max(1.0, float(np.abs(whole.cost[cols]).max()))  # HiGHS refuses |a| >= 1e15
        part.add_constraints("as_good", np.zeros(len(cols)), np.arange(len(cols)), worth,
                             worth @ lp.x - 1e-9 * max(1.0, abs(worth @ lp.x)), INF, n_rows=1)
        part.objective_terms = {"then": then[cols]}
        second = linear_solver().solve(part, exact)
        if second.status == Status.OPTIMAL:
            x[cols] = second.x
    return replace(report, x=x, objective=float(whole.cost @ x))


def best_of(report: SolverReport, start: SolverReport | None, bound: float | None, gap: float) -> SolverReport:
    """The backend's plan or the start it was given, whichever is worth more (a backend stopped by a
    time limit may hold less, or nothing), with the tighter of its own bound and `bound` (from a
    relaxation); `optimal` only when that bound proves the plan within `gap`."""
    plans = [p for p in (report, start) if p is not None and p.status.has_solution]
    if not plans:
        return report
    tolerance = BOUND_TOLERANCE * max(1.0, abs(plans[0].objective))
    # the start only when it is worth more than the solver's rounding: the backend's plan is polished
    best = plans[-1] if plans[-1].objective > plans[0].objective + tolerance else plans[0]
    bounds = [b for b in (report.best_bound, bound) if b is not None and np.isfinite(b) and b >= best.objective - tolerance]
    if not bounds:
        return best.unproven()
    tightest = max(min(bounds), best.objective)
    achieved = relative_gap(best.objective, tightest)
    status = Status.OPTIMAL if achieved <= gap + GAP_TOLERANCE else Status.FEASIBLE
    return replace(best, solver=report.solver, status=status, best_bound=tightest, mip_gap=achieved)


def say(options: SolveOptions, budget: Budget, text: str) -> None:
    """One progress line on stderr (with --progress), stamped with the time spent."""
    if options.progress:
        print(f"[{time.perf_counter() - budget.start:8.1f} s] {text}", file=sys.stderr, flush=True)


def _greedy_start(m: PlanModel, options: SolveOptions, budget: Budget, notes: list[str]) -> SolverReport | None:
    """The greedy plan: the floor of every solve (its first passes always run)."""
    start = None
    left = budget.remaining()
    try:
        start = greedy_report(m, seconds=None if left is None else START_SHARE * left, cancel=budget.cancel)
    except GreedyError as err:  # a bug in the heuristic must not cost the user the MILP: say so
        notes.append(f"greedy warm start skipped: {err}")
    if start is not None and not start.status.has_solution:
        start = None
    say(options, budget, "greedy: " + (f"a plan worth {start.objective:.6g}" if start else "no plan"))
    return start


def optimise(lm: LinearModel, counts: NodeCounts, backend: Solver, options: SolveOptions,
             budget: Budget, start: SolverReport | None, relax: bool, then: np.ndarray | None = None) -> SolverReport:
    """From `start` (a plan of `lm`, or None): with `relax`, relax-and-fix on the node-count columns
    `counts` (a better start and a bound); then the MILP from the best start, then polish, each
    within what is left of the budget. The best plan found on the way, with the tightest bound
    proven on the way. `then`: polish's second objective."""
    bound = None
    if relax and backend.accepts_start and not budget.exhausted:
        found = relax_and_fix(lm, counts, backend, budget.options(replace(options, warm_start=None if start is None else start.x)))
        plans = [polish(lm, p, budget.options(options), then) for p in (start, found.plan) if p is not None]  # either may be the answer
        start, bound = (max(plans, key=lambda p: p.objective) if plans else None), found.bound
    if start is not None and bound is not None and relative_gap(start.objective, bound) <= options.gap:
        return best_of(replace(start, solver=backend.name), None, bound, options.gap)  # the relaxation's bound proves it
    if budget.exhausted:
        report = SolverReport(backend.name, Status.NO_SOLUTION)
    else:
        report = backend.solve(lm, budget.options(replace(options, warm_start=None if start is None else start.x)))
        report = polish(lm, report, budget.options(options), then)
    return best_of(report, start, bound, options.gap)


def solve(
    instance: Instance | dict | str | Path,
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
    cancel: threading.Event | None = None,
    workers: int | None = 1,
    cluster: str | None = None,
) -> PlanResult:
    """Build the SPEC's MILP, solve it and verify the plan independently.

    `solver="greedy"` returns the greedy baseline alone (`feasible`, no bound; `no_solution` when it
    cannot place a mandatory item). With `warm_start`, backends that accept a start (HiGHS, CP-SAT)
    get the greedy plan as one and first run relax-and-fix (planner.relax_and_fix) for a better start
    and a bound. `time_limit` counts from this call and binds every phase; the result is the best
    plan found on the way, never less than the greedy plan.
    `cancel` (a threading.Event), once set, stops the solve as soon as the solver can: the best plan
    found so far is returned, `feasible` unless proven, with a warning that says it was interrupted.
    The instance is validated again first (`InstanceError`): in-place edits of nested fields escape
    assignment validation. Raises `VerificationError` if the plan breaks any SPEC rule (it is never
    returned silently). With `duals`, the result carries local shadow prices of site power and inventory.
    An instance with `uncertainty` (SPEC section 6) is solved as its extensive form; `metrics` adds
    EVPI and VSS (one more solve per scenario).
    """
    check_solve_options(time_limit, gap, threads)
    options = SolveOptions(time_limit=time_limit, gap=gap, threads=threads, verbose=verbose, progress=progress)
    budget = Budget(time_limit, cancel or threading.Event())
    inst = as_instance(instance)
    if inst.uncertainty is not None:
        return solve_scenarios(inst, solver, options, budget, check, duals, metrics, workers, cluster)
    if metrics:
        raise ValueError("metrics (EVPI, VSS) need an instance with `uncertainty` (SPEC section 6)")
    m = build_model(inst)
    build_seconds = time.perf_counter() - budget.start
    notes: list[str] = []
    if solver.lower() in HEURISTICS:
        report = greedy_report(m, seconds=budget.remaining(), cancel=budget.cancel)
    else:
        backend = get_solver(solver)
        start = _greedy_start(m, options, budget, notes) if warm_start and backend.accepts_start else None
        # relax-and-fix with or without a time limit: without one, the MILP alone ran over 120 s on 6 of
        # 20 generated M fleets, relax-and-fix first took at most 15.9 s (README, How it works)
        report = optimise(m.lm, m.node_counts(), backend, options, budget, start,
                          relax=warm_start)
    report = replace(report, seconds=time.perf_counter() - budget.start - build_seconds)
    result = extract(m, report, build_seconds)
    if result.status.has_solution:  # here, not in extract: the scenario copies extract their plans too
        result.consumers = consumer_outcomes(inst, result.allocations)
    result.warnings += notes + _interrupted(budget, result)
    if check and result.status.has_solution:
        verify(inst, result.to_dict())
        result.verified = True
    if duals and result.status.has_solution:
        # after the limit, like verification: a local LP, and what the user asked for
        result.shadow_prices = shadow_prices(m, report.x, replace(options, cancel=budget.cancel, time_limit=None))
    return result


def _interrupted(budget: Budget, result: PlanResult) -> list[str]:
    """The warning an interrupted solve carries: its plan is the best found, or there was none yet."""
    if not budget.cancel.is_set():
        return []
    return [INTERRUPTED if result.status.has_solution else INTERRUPTED_EARLY]


def solve_scenarios(inst: Instance, solver: str, options: SolveOptions, budget: Budget, check: bool = True,
                    duals: bool = False, metrics: bool = False, workers: int | None = 1,
                    cluster: str | None = None) -> PlanResult:
    """SPEC section 6: the extensive form (planner.model.stochastic) solved as one MILP, each scenario's
    plan verified against its own instance, F recomputed."""
    if duals:
        raise ValueError("--duals is not available for an instance with uncertainty (shadow prices are per scenario)")
    if solver.lower() in HEURISTICS:
        raise ValueError(f"the {solver} heuristic does not plan under uncertainty; choose a MILP solver")
    sm = build_stochastic(inst)
    build_seconds = time.perf_counter() - budget.start
    backend = get_solver(solver)
    # with a time limit relax-and-fix gives the start: the first stage without uncertainty often has no
    # completion (power cuts), and finding that out took 12 s of 68 on the bench's 20 scenarios
    start = _scenario_start(inst, sm, solver, options, budget) if backend.accepts_start and budget.limit is None else None
    # relax-and-fix always: the extensive form's own bound moves slowly (issue 9's scale bench)
    # every node count continuous in its relaxation, racks too: with them integer, 5 scenarios of M seed 6 at
    # 1e-4 ended at 4.3e-3 after 90 s instead of 1.2e-4 (planner.relax_and_fix); no block rounding (its
    # blocks are one period's, and the extensive form's periods are linked across scenarios)
    nodes = sm.node_columns()
    # at a risk weight of 1 the scenarios outside the CVaR tail leave F alone: polish serves them too
    then = sm.expected_value() if inst.uncertainty.risk_weight == 1.0 else None
    report = optimise(sm.lm, NodeCounts(nodes, nodes, np.zeros(0, dtype=np.int64)), backend, options, budget, start,
                      relax=True, then=then)
    if then is not None and report.status.has_solution and not budget.exhausted:
        report = every_scenario_at_its_best(sm, report, backend, options, budget, then)
    report = replace(report, seconds=time.perf_counter() - budget.start - build_seconds)
    result = extract_scenarios(sm, report, options.gap, build_seconds)
    result.warnings += _interrupted(budget, result)
    if check and result.status.has_solution:
        verify(inst, result.to_dict())
        result.verified = True
    if metrics and result.status.has_solution:
        # the warm start (computed only without a time limit) is exactly V': the first stage without uncertainty, completed
        kept = start.objective if start is not None else None
        found = value_of_information(inst, result, solver, replace(options, progress=False), workers,
                                     cluster, kept)
        result.uncertainty |= {"evpi": found["evpi"], "vss": found["vss"]}
        result.warnings += found["notes"]
    return result


def every_scenario_at_its_best(sm: StochasticModel, report: SolverReport, backend: Solver, options: SolveOptions,
                               budget: Budget, then: np.ndarray) -> SolverReport:
    """At a risk weight of 1, F is the CVaR alone: a scenario outside its tail kept a dominated choice (a
    termination not used: 128 for 152) at the same F. Each scenario is re-optimised with the plan's first
    stage (planner.first_stage.complete; F never falls when a V_s grows), then polished like any plan;
    the plan as it was when that is worth less (a solve cut short)."""
    done = complete(sm, report.x[sm.first_stage], backend, budget.options(replace(options, progress=False)))
    if done.plan is None:
        return report
    better = polish(sm.lm, done.plan, budget.options(options), then)
    return replace(report, x=better.x, objective=better.objective) if better.objective >= report.objective else report


def _scenario_start(inst: Instance, sm, solver: str, options: SolveOptions, budget: Budget) -> SolverReport | None:
    """The warm start of the extensive form when there is no time limit (with one, relax-and-fix's plan
    is the start): the first stage of the plan without uncertainty (solved by the deterministic
    pipeline), completed in each scenario (planner.first_stage)."""
    base = solve(inst.model_copy(update={"uncertainty": None}), solver=solver, gap=options.gap,
                 threads=options.threads, cancel=budget.cancel)
    if not base.status.has_solution:
        return None
    done = complete(sm, first_stage_values(sm, base), get_solver(solver), budget.options(replace(options, progress=False)))
    if done.plan is not None:
        say(options, budget, f"scenario start: the first stage without uncertainty, completed, is worth {done.plan.objective:.6g}")
    elif done.infeasible is not None:
        say(options, budget, f"scenario start: none, the first stage without uncertainty has no plan in scenario {done.infeasible!r}")
    return done.plan
