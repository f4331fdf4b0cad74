"""Rounding a fixed model's node counts block by block (planner.relax_and_fix's first way to a plan).

Why: on XL fleets (100 sites, 60 periods) the relaxation splits 72-GPU racks between inference pools
at their minimum units. The window of planner.relax_and_fix then has no plan (XL seed 2), or its
solve runs out of time with a poor one (XL seed 6: 76% below the bound after 22 s). Solved whole,
the fixed model's plans stayed 2.1% below the bound (XL seed 2, 30 s): its search works on tens of
thousands of counts at once. But once the counts that span several periods (training runs, leases)
are integer and fixed, the single-period counts fall apart into small blocks (a period's pools linked
by the sites and generations they share: 4,726 blocks of at most 119 columns on XL seed 2), and each
block is a small MILP solved to its own gap. Measured on XL seed 2, from its relaxation:

1. span: the fixed model with the single-period counts continuous, so that only the spanning counts
   are integer: 2.7 s, 0.069% below the bound (as good as the LP);
2. blocks: those counts fixed, each block with a fractional count solved alone, its counts within
   WINDOW of step 1's values: 1,533 blocks, 75 of them simply rounded up (within their gap of their
   LP optimum), the rest solved in 26.5 s. One HiGHS thread per block: 34.9 s instead of 60.9 s (a
   MILP of 10 columns takes 11 ms with one thread, 21-31 ms with two); blocks whose step 1 values are
   integral keep them (they are the block's LP optimum);
3. repair: a block with no plan in its window (power held by a spanning count leaves it no integer
   completion: 17 on XL seed 2) is solved again with every other block held and the spanning counts
   free to shrink by up to REPAIR nodes (shrinking only loosens the other blocks' rows): 2.6 s.

The plan: 0.103% below that relaxation's bound. End to end at 120 s and a gap of 0.1%, XL seed 2 was
proven within 0.065% in 106 s, seed 6 within 0.049% in 104 s (1.9% before: its window's solve ran
out of time).

On M fleets, whose relaxation keeps the 72-GPU racks integer below a gap of 1e-3, only the smallest
nodes' single-period counts are rounded here (planner.relax_and_fix passes the racks as spanning).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from planner.model.linear import Assembled, LinearModel
from planner.solvers import SolveOptions, Solver, SolverReport, Status

WINDOW = 3  # nodes either side of step 1's value a count may take in its block's solve
BLOCK_SECONDS = 0.05  # the most one block's solve may take (with 1 s, M inference 9's 36 block solves took 8.9 s, several at the limit; with 0.1 s, 3.0 s, and the plan was still proven; with 0.05 s M inference 50's block solves took 2.2 s instead of 3.6 s, its solve 7.9 s instead of 10.3 s)
BLOCK_GAP = 0.1  # of the gap, each block's own gap (their losses add up)
REPAIR = 10  # nodes a spanning count may give up to repair blocks without a plan
INTEGRAL = 1e-6  # how far from a whole number a count may be and still be whole
HOLDS = 1e-9  # violation of a row, relative to the size of its terms, a rounded plan may have: float rounding
# only (with 1e-6, a block rounded up put a site 0.12 kW over its 251.3 MW on M training seed 46)
LP_TOLERANCE = 1e-7  # absolute, what a block's solve may leave on a row of served units (HiGHS's primal feasibility
# tolerance): XL seed 8's plan was refused for 1.3e-9 units served beyond a capacity of 0


def round_in_blocks(lm: LinearModel, spanning: np.ndarray, single: np.ndarray, backend: Solver,
                    options: SolveOptions) -> SolverReport | None:
    """A plan of `lm` (its 0/1 decisions fixed) by the three steps above: `spanning` are the node
    counts that span several periods, `single` those of one period. None when a step finds none."""
    start = time.perf_counter()

    def left() -> SolveOptions:
        spent = time.perf_counter() - start
        return replace(options, time_limit=None if options.time_limit is None else max(0.0, options.time_limit - spent))

    span = backend.solve(lm.relaxed(single), replace(left(), target=None))
    if not span.status.has_solution or options.cancelled:
        return None
    x = span.x.copy()
    x[spanning] = np.round(x[spanning])
    pieces = Assembled.of(lm)
    free = np.setdiff1d(np.flatnonzero(pieces.lb < pieces.ub), spanning)
    col_block, row_block = connected_blocks(pieces.matrix, free)
    cols_of, rows_of = _grouped(col_block), _grouped(row_block)
    fractional = pieces.integer[free] & (np.abs(x[free] - np.round(x[free])) > INTEGRAL)
    unsolved = []
    for block in np.unique(col_block[fractional]):
        cols, rows = free[cols_of(block)], rows_of(block)
        out_of_time = left().time_limit == 0.0  # then any rounding up that holds, else the repair
        solved = _rounded_up(pieces, cols, rows, x, np.inf if out_of_time else BLOCK_GAP * options.gap)
        if solved is None and not out_of_time:
            solved = _solve_block(pieces, cols, rows, x, backend, left())
        if solved is None:
            unsolved.append(cols)
        else:
            x[cols] = solved
        if options.cancelled:
            return None
    if unsolved:
        x = _repair(pieces, spanning, np.concatenate(unsolved), x, backend, left())
    if x is None:
        return None
    x[pieces.integer] = np.round(x[pieces.integer])
    if not _feasible(pieces, x):
        return None
    return SolverReport(backend.name, Status.FEASIBLE, x, float(pieces.cost @ x), seconds=time.perf_counter() - start)


def connected_blocks(a: sp.csr_matrix, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The connected blocks of `cols` in the matrix `a` (two columns are linked when a row holds both):
    a block label for each of `cols`, and one for each row (-1 for a row that holds none of them)."""
    part = a[:, cols].tocsr()
    part.data[:] = 1.0
    graph = sp.bmat([[None, part], [part.T, None]]).tocsr()
    _, label = connected_components(graph, directed=False)
    rows = label[:a.shape[0]].copy()
    rows[np.diff(part.indptr) == 0] = -1
    return label[a.shape[0]:], rows


def _grouped(labels: np.ndarray) -> Callable[[int], np.ndarray]:
    """A function from a label to the positions that carry it (in order): one sort, not a scan per label."""
    order = np.argsort(labels, kind="stable")
    ranked = labels[order]
    return lambda label: order[np.searchsorted(ranked, label, "left"):np.searchsorted(ranked, label, "right")]


def _rounded_up(pieces: Assembled, cols: np.ndarray, rows: np.ndarray, x: np.ndarray, gap: float) -> np.ndarray | None:
    """The block's counts rounded up, when its rows still hold and that costs at most `gap` of the
    block's value at `x` (its LP optimum, so no solve of the block could gain more than that; an
    infinite `gap`: whatever it costs)."""
    up = x[cols].copy()
    whole = pieces.integer[cols]
    up[whole] = np.ceil(up[whole] - INTEGRAL)
    a = pieces.matrix[rows]
    moved = a[:, cols]
    activity = a @ x + moved @ (up - x[cols])
    slack = HOLDS * (1.0 + abs(a) @ np.abs(x) + abs(moved) @ (np.abs(up) - np.abs(x[cols])))
    value = pieces.cost[cols] @ x[cols]
    fits = (up <= pieces.ub[cols]).all() and (activity >= pieces.row_lo[rows] - slack).all() and (activity <= pieces.row_hi[rows] + slack).all()
    return up if fits and (np.isinf(gap) or pieces.cost[cols] @ (x[cols] - up) <= gap * abs(value)) else None


def _solve_block(pieces: Assembled, cols: np.ndarray, rows: np.ndarray, x: np.ndarray, backend: Solver,
                 options: SolveOptions) -> np.ndarray | None:
    """The block's best values with its counts within WINDOW of `x`, or None if it has none."""
    whole = pieces.integer[cols]
    lower = np.where(whole, np.maximum(pieces.lb[cols], np.floor(x[cols] + INTEGRAL) - WINDOW), pieces.lb[cols])
    upper = np.where(whole, np.minimum(pieces.ub[cols], np.ceil(x[cols] - INTEGRAL) + WINDOW), pieces.ub[cols])
    seconds = BLOCK_SECONDS if options.time_limit is None else min(BLOCK_SECONDS, options.time_limit)
    solve = replace(options, time_limit=seconds, gap=BLOCK_GAP * options.gap, threads=1, warm_start=None, target=None,
                    progress=False)
    report = backend.solve(pieces.part(cols, rows, x, lower, np.maximum(lower, upper)), solve)
    return report.x if report.status.has_solution else None


def _repair(pieces: Assembled, spanning: np.ndarray, unsolved: np.ndarray, x: np.ndarray, backend: Solver,
            options: SolveOptions) -> np.ndarray | None:
    """`x` with the `unsolved` columns solved again within the model's bounds, and the spanning counts
    free to shrink by up to REPAIR nodes (not below their lower bounds), with the continuous columns
    that share a row with them; every other column held."""
    moved = np.r_[unsolved, spanning]
    touched = np.unique(pieces.matrix[:, moved].tocoo().row)
    linked = np.unique(pieces.matrix[touched].indices)
    cols = np.union1d(moved, linked[~pieces.integer[linked]])
    rows = np.unique(pieces.matrix[:, cols].tocoo().row)
    lower, upper = pieces.lb[cols].copy(), pieces.ub[cols].copy()
    shrink = np.isin(cols, spanning)
    lower[shrink] = np.maximum(lower[shrink], x[cols[shrink]] - REPAIR)
    upper[shrink] = x[cols[shrink]]
    report = backend.solve(pieces.part(cols, rows, x, lower, upper), replace(options, warm_start=None, target=None))
    if not report.status.has_solution:
        return None
    x = x.copy()
    x[cols] = report.x
    return x


def _feasible(pieces: Assembled, x: np.ndarray) -> bool:
    """Every row and bound of the model holds at `x` (rows relative to the size of their terms; a row that
    holds a continuous column within the blocks' LP tolerance too, since polish solves those again),
    integers integral: a check, not a proof (the caller polishes the continuous columns and verifies)."""
    ax = pieces.matrix @ x
    size = abs(pieces.matrix)
    lp_rows = (size @ (~pieces.integer).astype(float)) > 0
    slack = HOLDS * (1.0 + size @ np.abs(x)) + LP_TOLERANCE * lp_rows
    whole = x[pieces.integer]
    return bool((pieces.row_lo - ax <= slack).all() and (ax - pieces.row_hi <= slack).all()
                and (x >= pieces.lb - INTEGRAL).all() and (x <= pieces.ub + INTEGRAL).all()
                and (np.abs(whole - np.round(whole)) <= INTEGRAL).all())
