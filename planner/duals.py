"""Shadow prices: what one more MW of site power or one more node of a generation is worth.

They come from the LP in which every discrete decision of the optimum (runs placed, leases
accepted, generation/site/pace choices) is fixed and node counts are continuous. They are
therefore local: valid for small changes that keep those decisions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner.model import PlanModel
from planner.solvers import SolveOptions, get_solver

def shadow_prices(m: PlanModel, x: np.ndarray) -> dict[str, pd.DataFrame]:
    """Marginal value (discounted, in the instance's currency) of +1 MW per site and period and of
    +1 node per generation, site and period, around the plan x."""
    lm = m.lm
    decisions = np.flatnonzero(lm.integrality())
    decisions = decisions[~np.isin(decisions, m.alloc["var"].to_numpy())]  # node counts stay free
    report = get_solver("highs").solve(lm.with_fixed(decisions, np.round(x[decisions])), SolveOptions())
    if report.duals is None:
        raise RuntimeError(f"the fixed LP for shadow prices returned {report.status.value}")
    inst = m.instance
    out = {}
    for name, per in (("power", "per_mw"), ("inventory", "per_node")):
        frames = [f for f in lm.row_families if f.name == name]
        rows = pd.concat([f.keys.assign(dual=report.duals[f.start:f.stop]) for f in frames], ignore_index=True) \
            if frames else pd.DataFrame(columns=["s", "t", "dual"])
        frame = pd.DataFrame({"site": [inst.sites[s].name for s in rows["s"]], "period": rows["t"].to_numpy()})
        if name == "inventory":
            frame.insert(1, "generation", [inst.generations[g].name for g in rows["g"]])
        frame[f"value_{per}"] = rows["dual"].to_numpy(dtype=float) + 0.0  # +0.0 turns -0.0 into 0.0
        out[name] = frame
    return out
