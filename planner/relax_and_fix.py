"""Relax-and-fix: a strong plan and a valid bound before the full MILP.

Why: the hard part is the discrete decisions (which runs are placed, at which site and generation,
which leases are accepted), not the node counts. On the generated L fleet the full MILP spent its
whole minute in the root node with an incumbent 0.7% below its bound, while these two smaller
solves reach 0.04% in 25 s; on a generated M fleet with 5 scenarios (SPEC section 6) the extensive
form was still 0.18% from its bound after 300 s, while a solve starting with these two is proven
within 0.094% in 36 s (scripts/bench.py --scenarios):

1. relax: every allocation node count continuous, every 0/1 decision still integer. This is a
   relaxation of the model, so its proven bound bounds the full model too.
2. fix: the 0/1 decisions fixed at the relaxation's values, node counts integer again. Any plan
   found is a plan of the full model (none when those decisions have no integer completion). It
   stops as soon as its plan is within the gap of the relaxation's bound: that plan is proven.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, replace

import numpy as np

from planner.model.linear import LinearModel
from planner.solvers import SolveOptions, Solver, SolverReport, Status

RELAX_SHARE = 0.2  # of the time left, the most the relaxation may take
FIX_SHARE = 0.25  # of the time left, the most the fixed solve may take...
FIX_PER_RELAX = 2.0  # ...and at most this many times what the relaxation took, plus a second
RELAX_GAP = 0.25  # the relaxation is solved to this share of the gap: its bound must leave room for the plan


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


def relax_and_fix(lm: LinearModel, nodes: np.ndarray, backend: Solver, options: SolveOptions) -> RelaxAndFix:
    """Both solves of `lm` (its node-count columns `nodes`) within `options.time_limit` (shares above;
    without a limit the relaxation runs to the gap and the fix gets FIX_PER_RELAX times its time);
    `options.warm_start` (a plan of `lm`) also starts the relaxation."""
    start = time.perf_counter()
    seconds = options.time_limit
    quiet = replace(options, progress=False)
    relaxed = backend.solve(lm.relaxed(nodes), replace(quiet, gap=RELAX_GAP * options.gap,
                                                       time_limit=None if seconds is None else RELAX_SHARE * seconds))
    proven = relaxed.status.has_solution and relaxed.best_bound is not None and np.isfinite(relaxed.best_bound)
    bound = relaxed.best_bound if proven else None  # a search cut short before its root LP has no bound yet
    if relaxed.x is None or options.cancelled:
        return RelaxAndFix(None, bound)
    cols = decisions(lm, nodes)
    budget = FIX_PER_RELAX * relaxed.seconds + 1.0
    if seconds is not None:
        budget = min(FIX_SHARE * seconds, budget, max(0.0, seconds - (time.perf_counter() - start)))
    target = None if bound is None else proving(bound, options.gap)
    fixed = backend.solve(lm.with_fixed(cols, np.round(relaxed.x[cols])),
                          replace(quiet, time_limit=budget, warm_start=None, target=target))
    # the fixed solve's own bound holds for the fixed decisions only, not for the full model
    plan = replace(fixed, status=Status.FEASIBLE, best_bound=None, mip_gap=None) if fixed.status.has_solution else None
    if options.progress:
        found = f"a plan worth {plan.objective:.6g}" if plan else f"no plan ({fixed.status.value})"
        shown = "-" if bound is None else f"{bound:.6g}"
        print(f"[{time.perf_counter() - start:8.1f} s] relax-and-fix: bound {shown}, {found}", file=sys.stderr, flush=True)
    return RelaxAndFix(plan, bound)
