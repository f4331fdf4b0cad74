"""Relax-and-fix: a strong plan and a valid bound before the full MILP.

Why: the hard part is the discrete decisions (which runs are placed, at which site and generation,
which leases are accepted), not the node counts. On the generated L fleet the full MILP spent its
whole minute at the root, 0.7% below its bound, while these smaller solves reach 0.04% in 25 s;
with 5 scenarios of M (SPEC section 6) the extensive form alone was 0.18% from its bound after 300 s,
and 0.097% in 29 s after them.

1. relax: every 0/1 decision integer, the node counts continuous; a relaxation of the model, so its
   proven bound bounds the model. Below a gap of RACKS_BELOW_GAP, on models with at most
   RACKS_AT_MOST rack columns (not scenario solves), the racks' counts stay integer: a fractional
   72-GPU rack moves nine 8-GPU nodes' capacity and power between pools, which left the bound 1.5e-4
   to 3.8e-4 above the best plan on M. Not for coarser gaps (slower, for a rounding below such a
   gap) nor larger models (slower than it helps). That relaxation starts from a plan, the relaxation
   with every count continuous rounded block by block (its own search for plans was its slow part),
   whose bound is kept too, and takes at most RELAX_PER_FIRST times as long as that plan took, plus a
   second: its bound is final early, and step 4 makes up the plan it had no time to find (M mixed 43:
   bound final at 2 s, then 15 s of search for a plan 2.4e-5 better than the one it had at 2.8 s).
   Each relaxation runs without the backend's own heuristics (RINS, RENS: planner.solvers.highs): its
   plan is only rounded or a start. On L mixed 13 they took 14 of the relaxation's 22 s (the solve went
   unproven at 60 s; without them, 18.0 s; L 19: 22.7 s -> 15.3 s); without them in the racks-integer
   relaxation too, M's 26 slowest fleets took 97.2 s instead of 121.6 s.
2. fix: the 0/1 decisions fixed at the relaxation's values, the counts integer again, first rounded
   block by block (planner.block_rounding), then, when that misses the target, each within WINDOW
   nodes of its relaxed value (HiGHS's root reduced-cost fixing walks every value of every large
   integer domain after each LP; small domains make this solve fast); free only if neither has a
   plan. Blocks first: on XL the window spent its whole 29 s for a plan 74% below the bound before
   the blocks' 25 s (XL 6 and 8: 89.5 and 89.9 s window first, 55.9 and 50.9 s blocks first), and on
   L 7 it ended at its budget, or just before it, from run to run (12.4 s or 19.5 s; blocks first,
   L 6-10 took 12.3-15.4 s). Where the racks stayed integer, blocks alone round the smallest nodes
   (step 4 does what a window after them did, better: on M mixed 43 the window spent 1 s for a plan
   1e-4 worse than the blocks'). The solve aims at FIX_GAP of the gap but
   stops at the target (a plan within the gap of the bound is proven), within FIX_PER_RELAX times
   the relaxation's time plus a second.
3. tighten: a plan within the gap of the relaxation's own incumbent but not of its bound could be
   proven by a tighter bound: the relaxation is solved again to RELAX_GAPS[1] of the gap, for at most
   as long as it first took (not where the racks stayed integer: that relaxation is scarcely easier
   than the MILP that follows).
4. search near the plan: a plan still short of the target is the start of the model's own MILP with
   every node count within NEIGHBOURHOOD of the plan's and the decisions free, stopped at the target,
   within the fixed solve's budget. Rounding holds what the relaxation chose, and the relaxation (to
   half the gap) may leave a 72-GPU rack idle or a node where another serves more: on M inference 54
   one idle GB200 rack left the plan 1.2e-4 below the bound and the MILP took 27 s more; the search
   near it reached the target in 0.6 s. Small domains keep it fast (step 2's window).

The measurements behind each choice, and what was tried and dropped, are in the README ("Where the
time goes", by stop, and "Performance").
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, replace

import numpy as np

from planner.block_rounding import round_in_blocks
from planner.model.linear import LinearModel
from planner.model.sets import NodeCounts
from planner.solvers import SolveOptions, Solver, SolverReport, Status, relative_gap

RELAX_SHARE = 0.3  # of the time left, the most the relaxation may take
FIX_SHARE = 0.25  # of the time left, the most the fixed solve may take...
FIX_PER_RELAX = 1.0  # ...and at most this many times what the relaxation took, plus a second
FIX_GAP = 0.1  # of the gap, the fixed solve's own gap: it stops at the target first (module docstring)
RELAX_GAPS = (0.5, 0.25)  # the relaxation is solved to these shares of the gap: its bound must leave room for the plan
RELAX_GAP_FLOOR = 1e-4  # ...of at least this gap, racks integer or not (with them, a gap of 0 would make it as hard as the model)
RACKS_BELOW_GAP = 1e-3  # below this gap the relaxation keeps the big nodes (racks) integer...
RACKS_AT_MOST = 2000  # ...when there are at most this many racks' count columns (module docstring)
RELAX_PER_FIRST = 1.5  # the racks-integer relaxation takes at most this many times as long as its start, plus a second
# (3.0 until M inference 50's searched 6 s for a plan it never found, its bound final at 3.7 s: README, twelfth stop)
BLOCKS_SHARE = 0.8  # of the time left, the most rounding block by block may take (planner.block_rounding)
WINDOW = 10  # nodes either side of the relaxed value a node count may take in the first fixed solve
NEIGHBOURHOOD = 1  # nodes either side of the plan's count in the last search, the decisions free


@dataclass
class RelaxAndFix:
    plan: SolverReport | None  # a plan of the full model, from the fixed solve
    bound: float | None  # a proven upper bound on the full model's optimum, from the relaxation


def decisions(lm: LinearModel, nodes: np.ndarray) -> np.ndarray:
    """The 0/1 columns that are not node counts: placed, accepted, site/generation/pace choices, ends."""
    lb, ub = lm.bounds()
    binary = lm.integrality() & (lb >= 0) & (ub <= 1)
    binary[nodes] = False
    return np.flatnonzero(binary)


def proving(bound: float, gap: float) -> float:
    """The objective above which a plan is within `gap` of `bound` (planner.solvers.relative_gap)."""
    return bound - gap * max(1.0, abs(bound)) / (1.0 + gap)


def near(lm: LinearModel, nodes: np.ndarray, values: np.ndarray, width: int = WINDOW) -> LinearModel:
    """`lm` with each node count in `nodes` held within `width` nodes of its value in `values` (the
    relaxation's, or a plan's)."""
    lb, ub = lm.bounds()
    lower = np.maximum(lb[nodes], np.floor(values + 1e-6) - width)
    upper = np.minimum(ub[nodes], np.ceil(values - 1e-6) + width)
    return lm.with_bounds(nodes, lower, np.maximum(lower, upper))


def relax_and_fix(lm: LinearModel, counts: NodeCounts, backend: Solver, options: SolveOptions) -> RelaxAndFix:
    """Both solves of `lm` (its node-count columns `counts.all`; below a gap of RACKS_BELOW_GAP, with at
    most RACKS_AT_MOST racks' columns, the relaxation makes only `counts.fine`, the smallest nodes'
    counts, continuous) within `options.time_limit` (shares above; without a limit the relaxation runs
    to its gap and the fix gets FIX_PER_RELAX times its time);
    `options.warm_start` (a plan of `lm`) also starts the relaxation. The relaxation is solved
    loosely first; only when the plan could still be proven by a tighter bound (it is within the
    gap of the relaxation's own incumbent) is it solved again, tighter, for at most as long as the first
    took (M inference 12: 14.6 s more for no better bound); not where the racks stay integer, whose
    relaxation is scarcely easier than the MILP that follows (module docstring)."""
    start = time.perf_counter()
    quiet = replace(options, progress=False)
    nodes = counts.all
    racks = options.gap < RACKS_BELOW_GAP and 0 < len(nodes) - len(counts.fine) <= RACKS_AT_MOST
    continuous = counts.fine if racks else nodes
    first, loose_bound = _first_plan(lm, counts, backend, quiet, start) if racks else (None, None)
    warm_start = options.warm_start if first is None else first.x
    most = None if first is None else RELAX_PER_FIRST * (time.perf_counter() - start) + 1.0
    relaxed, bound = _relax(lm, continuous, backend, quiet, RELAX_GAPS[0], warm_start, start, most=most)
    bound = _tighter(bound, loose_bound)  # the racks-integer relaxation may end before its root LP
    if relaxed.x is None or options.cancelled or (first is not None and bound is not None
                                                  and relative_gap(first.objective, bound) <= options.gap):
        return RelaxAndFix(first, bound)
    if options.progress:  # the fixed solve may take a while (block rounding: 30 s on XL): say where it is
        shown = "-" if bound is None else f"{bound:.6g}"
        print(f"[{time.perf_counter() - start:8.1f} s] relax-and-fix: relaxation bound {shown}, fixing its decisions",
              file=sys.stderr, flush=True)
    plan = _fix(lm, counts, continuous, backend, quiet, relaxed, bound, start)
    if first is not None and (plan is None or first.objective > plan.objective):
        plan = first
    if (not racks and plan is not None and bound is not None and relative_gap(plan.objective, bound) > options.gap
            and relative_gap(plan.objective, relaxed.objective) <= options.gap and not options.cancelled):
        _, tighter = _relax(lm, continuous, backend, quiet, RELAX_GAPS[1], relaxed.x, start, most=relaxed.seconds)
        bound = _tighter(bound, tighter)
    if plan is not None and bound is not None and relative_gap(plan.objective, bound) > options.gap and not options.cancelled:
        plan = _neighbourhood(lm, nodes, backend, quiet, plan, bound, relaxed.seconds, start)
    if options.progress:
        found = "no plan" if plan is None else f"a plan worth {plan.objective:.6g}"
        shown = "-" if bound is None else f"{bound:.6g}"
        print(f"[{time.perf_counter() - start:8.1f} s] relax-and-fix: bound {shown}, {found}", file=sys.stderr, flush=True)
    return RelaxAndFix(plan, bound)


def _first_plan(lm: LinearModel, counts: NodeCounts, backend: Solver, options: SolveOptions,
                start: float) -> tuple[SolverReport | None, float | None]:
    """A plan from the relaxation with every count continuous, racks too (fast), rounded block by block
    as on L and XL: the start of the racks-integer relaxation, whose own search for plans was its slow
    part (module docstring); and that relaxation's bound, weaker but valid."""
    loose, bound = _relax(lm, counts.all, backend, options, RELAX_GAPS[0], options.warm_start, start)
    if loose.x is None or options.cancelled:
        return None, bound
    return _fix(lm, counts, counts.all, backend, options, loose, bound, start, blocks_only=True), bound


def _tighter(bound: float | None, other: float | None) -> float | None:
    """The smaller of two proven upper bounds, either of which may be missing."""
    return other if bound is None else bound if other is None else min(bound, other)


def _left(options: SolveOptions, start: float) -> float | None:
    """What is left at this moment of `options.time_limit`, counted from `start` (None: no limit)."""
    return None if options.time_limit is None else max(0.0, options.time_limit - (time.perf_counter() - start))


def _fix_budget(options: SolveOptions, relaxed_seconds: float, start: float) -> float:
    """Seconds for a solve of the fixed or neighbouring model: FIX_PER_RELAX times the relaxation's plus
    a second, within FIX_SHARE of the limit and what is left of it."""
    budget = FIX_PER_RELAX * relaxed_seconds + 1.0
    if options.time_limit is None:
        return budget
    return min(FIX_SHARE * options.time_limit, budget, _left(options, start))


def _aimed(options: SolveOptions, budget: float, bound: float | None,
           warm_start: np.ndarray | None = None) -> SolveOptions:
    """A restricted model's solve (fixed or neighbouring): FIX_GAP of the gap within `budget` seconds,
    stopped at the target under which `bound` proves a plan."""
    return replace(options, gap=FIX_GAP * options.gap, time_limit=budget, warm_start=warm_start,
                   target=None if bound is None else proving(bound, options.gap))


def _relax(lm: LinearModel, continuous: np.ndarray, backend: Solver, options: SolveOptions, share: float,
           warm_start: np.ndarray | None, start: float, most: float | None = None) -> tuple[SolverReport, float | None]:
    """The relaxation (`continuous` made so) solved to `share` of the gap within RELAX_SHARE of the time
    left and at most `most` seconds, without the backend's own heuristics (module docstring, step 1), and
    its proven bound (None when it has none)."""
    left = _left(options, start)
    limit = None if left is None else RELAX_SHARE * left
    if most is not None:
        limit = most if limit is None else min(limit, most)
    gap = share * max(options.gap, RELAX_GAP_FLOOR)
    relaxed = backend.solve(lm.relaxed(continuous), replace(options, gap=gap, warm_start=warm_start,
                                                       time_limit=limit, heuristics=False))
    proven = relaxed.status.has_solution and relaxed.best_bound is not None and np.isfinite(relaxed.best_bound)
    return relaxed, relaxed.best_bound if proven else None  # a search cut short before its root LP has no bound yet


def _fix(lm: LinearModel, counts: NodeCounts, continuous: np.ndarray, backend: Solver, options: SolveOptions,
         relaxed: SolverReport, bound: float | None, start: float, blocks_only: bool = False) -> SolverReport | None:
    """A plan of `lm` with the relaxation's 0/1 decisions (`continuous`: the counts it relaxed), node
    counts rounded block by block (planner.block_rounding) first, then, where that does not reach the
    target, near the relaxation's, the better plan kept. Block rounding rounds only what the relaxation
    left continuous: where it kept the racks integer, they join the spanning counts, the blocks are the
    smallest nodes alone, and no window follows them (module docstring); nor with `blocks_only` (a start,
    not the plan). With no plan still, free."""
    nodes = counts.all
    cols = decisions(lm, nodes)
    fixed = lm.with_fixed(cols, np.round(relaxed.x[cols]))
    racks_integer = len(continuous) < len(nodes)  # the relaxation kept the racks integer
    budget = _fix_budget(options, relaxed.seconds, start)
    fix = _aimed(options, budget, bound)
    single = np.intersect1d(counts.single, continuous)

    def within_budget() -> SolveOptions:  # after block rounding, less than the budget may be left
        left = _left(options, start)
        return replace(fix, time_limit=budget if left is None else min(budget, left))

    def in_window() -> SolverReport:
        return backend.solve(near(fixed, nodes, relaxed.x[nodes]), within_budget())

    def in_blocks() -> SolverReport | None:
        left = _left(options, start)
        # a heuristic: at a gap below RELAX_GAP_FLOOR its first MILP (racks integer) could take as long as the model
        return round_in_blocks(fixed, np.setdiff1d(nodes, single), single, backend,
                               replace(fix, gap=max(options.gap, RELAX_GAP_FLOOR),
                                       time_limit=None if left is None else BLOCKS_SHARE * left))

    if not len(single):
        ways = [in_window]
    elif blocks_only or racks_integer:
        ways = [in_blocks]
    else:
        ways = [in_blocks, in_window]
    solved = None
    for way in ways:
        if options.cancelled or (solved is not None and _reached(solved, fix)):
            break
        found = way()
        if found is not None and found.status.has_solution and (solved is None or found.objective > solved.objective):
            solved = found
    if solved is None and not options.cancelled:
        solved = backend.solve(fixed, within_budget())
    # the fixed solve's own bound holds for the fixed decisions only, not for the full model
    return solved.unproven() if solved is not None and solved.status.has_solution else None


def _neighbourhood(lm: LinearModel, nodes: np.ndarray, backend: Solver, options: SolveOptions, plan: SolverReport,
                   bound: float, relaxed_seconds: float, start: float) -> SolverReport:
    """The best plan of `lm` (decisions free) with every node count within NEIGHBOURHOOD of `plan`'s,
    or `plan`: a rounding leaves a rack idle or a node where another serves more, which the blocks,
    holding the racks and decisions, cannot undo (module docstring)."""
    found = backend.solve(near(lm, nodes, plan.x[nodes], NEIGHBOURHOOD),
                          _aimed(options, _fix_budget(options, relaxed_seconds, start), bound, warm_start=plan.x))
    if not found.status.has_solution or found.objective <= plan.objective:
        return plan
    return found.unproven()  # its bound holds near the plan only


def _reached(report: SolverReport, fix: SolveOptions) -> bool:
    """The fixed model's plan needs no other way: proven within its own gap, or worth the target."""
    return report.status == Status.OPTIMAL or (fix.target is not None and report.objective >= fix.target)
