"""The integer hull of a site's power row when one or two kinds of node draw its power.

Why: a site's power row (SPEC 3.2) counts whole nodes (3.3), but its LP relaxation fills the site's
last megawatts with a fraction of a node. On M seed 43 (inference) that fraction, at every
power-bound site and period, was 2.6e-4 of the objective between the relaxation and the best plan;
no search of HiGHS closed it in 15 minutes (README, "Where the time goes", tenth stop). For
    a1 n1 + a2 n2 <= P,   0 <= n <= C,   n integer
the facets of the convex hull of the integer points are few and exact (integer coefficients). Each
is a valid inequality: every plan meets it, and the LP meets it only by whole nodes.

Three or more kinds of node: the hull is no longer a chain of a few points. Each pair's facets are
lifted over the others instead (lifted_facets): valid, not the hull. On M mixed 69 they took the
relaxation's bound from 1.37e-4 to 9.9e-5 above the best plan, and its solve from 15 s to 9.5 s
(README, "Where the time goes", twelfth stop).
"""

from __future__ import annotations

import math
from itertools import combinations, pairwise

import numpy as np

LIFT_GRID = 400  # weights the other kinds may draw at which a lifted coefficient is checked (lifted_facets)...
LIFT_WORK = 2_000_000  # ...fewer where weights x counts x facets would exceed this (a coarser grid: smaller
# coefficients, still valid): M mixed 46's 7,476 x 13,906 pair took 60 ms with 400 weights (5e5: M mixed 43's
# rows changed, and it ended unproven at 60 s in one bench run: README, twelfth stop)
MOST_VALUES = 2_000_000  # node counts enumerated for one hull; above it the row gets no facets (never on a bench fleet)
ROUNDING = 1e-7  # of the power (at least 1 MW), what a count may draw beyond it and still fit: the solvers'
# feasibility tolerance. A facet may be weaker for it, never cut a plan.


def _fitting(room: float | np.ndarray, a: float, out: np.ndarray | None = None) -> float | np.ndarray:
    """Whole nodes drawing `a` each that fit in `room` (float rounding counted as fitting); with `out` (an
    array, `room` itself allowed), computed there, with no new arrays (lifted_facets)."""
    return np.floor(np.add(np.divide(room, a, out=out), 1e-9, out=out), out=out)


def hull_facets(a: tuple[float, ...], power: float, caps: tuple[int, ...]) -> list[tuple[tuple[int, ...], int]]:
    """The facets `coef @ n <= rhs` (nonnegative integer coefficients) of the hull of
    {n integer : a @ n <= power, 0 <= n <= caps} for one or two items (a > 0) that are not already
    the bounds n <= caps. Empty when the items' caps fit within the power together, or there are too
    many values to enumerate."""
    room = power + ROUNDING * max(1.0, power)
    most = tuple(int(min(ci, _fitting(room, ai))) for ai, ci in zip(a, caps))
    if sum(ai * mi for ai, mi in zip(a, most)) <= room:
        return [(tuple(unit), m) for unit, m, c in zip(np.eye(len(a), dtype=int).tolist(), most, caps) if m < c]
    if len(a) != 2:
        raise ValueError("hull_facets takes one or two items")
    first = int(np.argmin(most))  # enumerate the item with fewer values
    (a1, a2), (c1, c2) = (a[first], a[1 - first]), (most[first], most[1 - first])
    if c1 >= MOST_VALUES:
        return []
    n1 = np.arange(c1 + 1)
    line = (room - a1 * n1) / a2  # the power row itself, n2 as a function of n1
    n2 = np.minimum(c2, _fitting(room - a1 * n1, a2)).astype(np.int64)
    chain = _upper_right_hull(n1, n2, line)
    facets = [((v1 - v2, u2 - u1), (v1 - v2) * u1 + (u2 - u1) * v1) for (u1, v1), (u2, v2) in pairwise(chain)]
    facets = [((p // math.gcd(p, q), q // math.gcd(p, q)), r // math.gcd(p, q)) for (p, q), r in facets]
    facets += [((1, 0), c1), ((0, 1), c2)]  # the ends of the chain: bounds by power when below the caps
    ordered = [((q, p) if first else (p, q), r) for (p, q), r in facets]
    return [(coef, rhs) for coef, rhs in ordered
            if not (min(coef) == 0 and rhs >= caps[int(np.argmax(coef))])]  # a bound the caps already give


def _upper_right_hull(n1: np.ndarray, n2: np.ndarray, line: np.ndarray) -> list[tuple[int, int]]:
    """The vertices, left to right, of the upper hull of the points (n1, n2) from the last point at
    the cap (n2 as high as at n1 = 0) on. Below a falling line a vertex is nearer the line than every
    point before it (rising part) or after it (falling part), so only those points are chained."""
    start = int(np.flatnonzero(n2 == n2[0])[-1])
    gap = (line - n2)[start:]
    nearer_than_before = np.r_[True, gap[1:] < np.minimum.accumulate(gap)[:-1]]
    nearer_than_after = np.r_[np.minimum.accumulate(gap[::-1])[::-1][1:] > gap[:-1], True]
    keep = start + np.flatnonzero(nearer_than_before | nearer_than_after)
    chain: list[tuple[int, int]] = []
    for p in zip(n1[keep].tolist(), n2[keep].tolist()):
        while len(chain) >= 2 and _turns_left(chain[-2], chain[-1], p):
            chain.pop()
        chain.append(p)
    return chain


def _turns_left(o: tuple[int, int], a: tuple[int, int], b: tuple[int, int]) -> bool:
    """o -> a -> b does not turn right: a is not a vertex of an upper hull (exact, in integers)."""
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]) >= 0


def whole_node_facets(a: tuple[float, ...], power: float, caps: tuple[int, ...]) -> list[tuple[tuple[float, ...], float]]:
    """Valid inequalities `coef @ n <= rhs` of {n integer : a @ n <= power, 0 <= n <= caps}: the hull's
    facets for one or two items, each pair's facets lifted over the others for three or more."""
    if len(a) <= 2:
        return hull_facets(a, power, caps)
    return [facet for i, j in combinations(range(len(a)), 2) for facet in lifted_facets(a, power, caps, i, j)]


def lifted_facets(a: tuple[float, ...], power: float, caps: tuple[int, ...], i: int, j: int) -> list[tuple[tuple[float, ...], float]]:
    """The facets of items i and j's hull that involve both, each with every other item l weighing
    lam * a[l]: while the others draw W of the power, the pair's best under the rest, psi(room - W),
    plus lam * W must stay within the facet's rhs, so lam is the least (rhs - psi(room - W)) / W over
    the weights the others can draw (at least their lightest item). psi only falls as W grows, so on
    a grid each interval is bounded by psi at its left end over W at its right end: a smaller lam,
    never an invalid one."""
    pair = [(coef, rhs) for coef, rhs in hull_facets((a[i], a[j]), power, (caps[i], caps[j])) if min(coef) > 0]
    if not pair:  # a bound on one item alone is left to the solver (README, tenth stop)
        return []
    room = power + ROUNDING * max(1.0, power)
    others = [k for k in range(len(a)) if k not in (i, j) and a[k] <= room]  # one that cannot fit stays at 0
    lightest = min((a[k] for k in others), default=room)
    small, large = sorted((i, j), key=lambda k: min(caps[k], _fitting(room, a[k])))  # enumerate the fewer values
    counts = np.arange(int(min(caps[small], _fitting(room, a[small]))) + 1)
    grid = int(np.clip(LIFT_WORK // (len(counts) * len(pair)), 2, LIFT_GRID))
    weights = np.unique(np.r_[np.geomspace(lightest, room, grid), room])  # what the others may draw
    # per weight (row) and count of `small` (column): the power left for `large`, then its count; in place
    # (M lessor 49's largest pair took 12.1 ms with a new array for each step, 5.3 ms so)
    large_counts = np.subtract.outer(room - weights, a[small] * counts)
    fits = large_counts >= -1e-12
    np.maximum(large_counts, 0.0, out=large_counts)
    _fitting(large_counts, a[large], out=large_counts)
    np.minimum(large_counts, caps[large], out=large_counts)
    large_counts[~fits] = -np.inf
    value = np.empty_like(large_counts)
    rows = []
    for (alpha, beta), rhs in pair:
        weight = {i: alpha, j: beta}
        np.multiply(large_counts, weight[large], out=value)  # -inf where `small`'s count does not fit
        value += weight[small] * counts
        best = value.max(axis=1)  # psi at each weight
        lam = min(np.min((rhs - best[:-1]) / weights[1:], initial=np.inf), (rhs - best[-1]) / weights[-1])
        coef = [0.0] * len(a)
        coef[i], coef[j] = float(alpha), float(beta)
        for k in others:
            coef[k] = max(0.0, float(lam) * (1 - 1e-9)) * a[k]
        rows.append((tuple(coef), float(rhs)))
    return rows
