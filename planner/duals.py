"""Shadow prices: what one more MW of site power or one more node of a generation is worth.

They come from the LP in which every discrete decision of the optimum (runs placed, leases
accepted, generation/site/pace choices) is fixed and node counts are continuous. They are
therefore local: valid for small changes that keep those decisions.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from planner.model import PlanModel
from planner.model.linear import INF, LinearModel
from planner.solvers import SolveOptions, linear_solver

KEPT = ("power", "inventory")  # the rows whose duals are reported


def shadow_prices(m: PlanModel, x: np.ndarray, options: SolveOptions = SolveOptions()) -> dict[str, pd.DataFrame]:
    """Marginal value (discounted, in the instance's currency) of +1 MW per site and period and of
    +1 node per generation, site and period, around the plan x (one LP, within `options`)."""
    lm = m.lm
    decisions = np.flatnonzero(lm.integrality())
    decisions = decisions[~np.isin(decisions, m.alloc["var"].to_numpy())]  # node counts stay free
    fixed = _without_copies(m, lm.with_fixed(decisions, np.round(x[decisions])).relaxed())
    report = linear_solver().solve(fixed, replace(options, warm_start=None, progress=False))
    if report.duals is None:
        raise RuntimeError(f"the fixed LP for shadow prices returned {report.status.value}")
    inst = m.instance
    out = {}
    for name, per in (("power", "per_mw"), ("inventory", "per_node")):
        frames = [f for f in lm.row_families if f.name == name]
        rows = pd.concat([f.keys.assign(dual=report.duals[f.start:f.stop]) for f in frames], ignore_index=True) \
            if frames else pd.DataFrame(columns=["s", "t", "dual"])
        if name == "inventory":
            rows = _with_whole_site_terms(m, rows, report.duals, np.round(x[m.accepted]))
        frame = pd.DataFrame({"site": [inst.sites[s].name for s in rows["s"]], "period": rows["t"].to_numpy()})
        if name == "inventory":
            frame.insert(1, "generation", [inst.generations[g].name for g in rows["g"]])
        frame[f"value_{per}"] = rows["dual"].to_numpy(dtype=float) + 0.0  # +0.0 turns -0.0 into 0.0
        out[name] = frame
    return out


def _with_whole_site_terms(m: PlanModel, rows: pd.DataFrame, duals: np.ndarray, accepted: np.ndarray) -> pd.DataFrame:
    """Add to each inventory dual what N[g,s,t] is worth through the whole-site rows it also sits in:
    with the lease's a fixed, `x = N * a` moves by a per node and `others + N * a <= N` by 1 - a."""
    if rows.empty:
        return rows
    extra = []
    for fam in m.lm.row_families:
        if fam.name in ("lease_whole_sites_every_gpu", "lease_whole_sites_exclusive"):
            a = accepted[fam.keys["lease"].to_numpy()]
            weight = a if fam.name == "lease_whole_sites_every_gpu" else 1.0 - a
            extra.append(fam.keys[["g", "s", "t"]].assign(extra=duals[fam.start:fam.stop] * weight))
    if not extra:
        return rows
    added = pd.concat(extra).groupby(["g", "s", "t"], as_index=False)["extra"].sum()
    rows = rows.merge(added, on=["g", "s", "t"], how="left")
    return rows.assign(dual=rows["dual"] + rows["extra"].fillna(0.0)).drop(columns="extra")


def _without_copies(m: PlanModel, lp: LinearModel) -> LinearModel:
    """Drop the copies of the inventory bound and of the power rows, so that their value shows on them.

    The MILP bounds every node count by the usable nodes twice more: as the column's upper bound and
    through big-M rows (x <= ub * binary), which repeat it once the binary is fixed at 1. When one
    consumer holds every node of a cell, the LP may put the whole marginal value on such a parallel
    copy and report 0 for the inventory row. So node columns lose their upper bound (implied by the
    inventory rows; size limits have rows of their own), and every other one-sided <= row that cannot
    bind while the inventory rows hold loses its upper side. The test bounds a node count by the
    inventory rows only (kept), never by its column bound, which also carries size limits. The power
    rows in whole nodes (power_whole_nodes) go too: with the counts continuous they would hold a
    fraction of a node's worth of the power rows' value.
    """
    lb, ub = lp.bounds()
    cols = m.alloc["var"].to_numpy()
    cap = ub.copy()  # what each column can reach: node counts as far as the inventory rows let them
    u = m.usage
    implied = np.full(lp.n_vars, INF)
    np.minimum.at(implied, u["var"].to_numpy(), m.nodes[u["g"].to_numpy(), u["s"].to_numpy(), u["t"].to_numpy()])
    cap[cols] = implied[cols]
    ub[cols] = INF
    a = lp.matrix()
    worst = a.maximum(0) @ np.where(np.isfinite(cap), cap, 1e30) + a.minimum(0) @ np.where(np.isfinite(lb), lb, -1e30)
    lo, hi = lp.row_bounds()
    kept, cuts = np.zeros(lp.n_rows, dtype=bool), np.zeros(lp.n_rows, dtype=bool)
    for fam in lp.row_families:
        kept[fam.start:fam.stop] = fam.name in KEPT
        cuts[fam.start:fam.stop] = fam.name == "power_whole_nodes"
    redundant = cuts | (~kept & np.isfinite(hi) & ~np.isfinite(lo) & (worst <= hi + 1e-9 * np.maximum(1.0, np.abs(hi))))
    return replace(lp, ub=[ub], row_hi=[np.where(redundant, INF, hi)], row_lo=[lo])
