"""The extensive form of SPEC section 6: one copy of the section 2-4 model per scenario, built by the
same constraint functions from that scenario's instance, stacked into one MILP whose first-stage
columns are shared (merged into one column, so non-anticipativity costs no rows):

- every lease's acceptance, and its block per generation and site (not for whole_sites: that block is
  every usable GPU of the scenario's own instance, so only acceptance is shared);
- the allocation of every training run whose term starts before the reveal period;
- every inference allocation in periods before the reveal period.

All copies share one table of allocation cells (the union over scenarios, each copy with its own
bounds, 0 where a scenario has no such cell), so a cell is the same column position in every copy.
The objective is F = (1 - w) * sum_s p_s V_s + w * CVaR_alpha(V), CVaR by Rockafellar-Uryasev:
CVaR = max eta - sum_s p_s u_s / (1 - alpha), u_s >= eta - V_s, u_s >= 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from planner.instance import Instance
from planner.model import build_model
from planner.model.linear import INF, Family, LinearModel
from planner.model.sets import CELL_KEYS, PlanModel, allocation_table, earliest_ends
from planner.scenarios import Case, cases, reveal_period


@dataclass
class StochasticModel:
    instance: Instance
    cases: list[Case]
    models: list[PlanModel]  # one per scenario, in its own columns
    columns: list[np.ndarray]  # per scenario: the stacked column of each of its columns
    lm: LinearModel  # the stacked MILP (maximise F)
    first_stage: np.ndarray  # stacked columns shared by all scenarios
    risk: tuple[int, np.ndarray, float] | None = None  # CVaR columns: eta, shortfalls, their money scale

    def scenario_x(self, x: np.ndarray, s: int) -> np.ndarray:
        return x[self.columns[s]]

    def expected_value(self) -> np.ndarray:
        """The objective vector of sum_s p_s V_s over the stacked columns: it grows with every scenario's value."""
        out = np.zeros(self.lm.n_vars)
        for case, m, cols in zip(self.cases, self.models, self.columns):
            np.add.at(out, cols, case.probability * m.lm.objective())
        return out

    def node_columns(self) -> np.ndarray:
        """The stacked columns that count allocation nodes, in every scenario."""
        return np.unique(np.concatenate([cols[m.alloc["var"].to_numpy()] for cols, m in zip(self.columns, self.models)]))


def shared_cells(inst: Instance, alloc: pd.DataFrame, reveal: int) -> np.ndarray:
    """Which allocation cells are decided now (SPEC section 6, first stage)."""
    use, k = alloc["use"].to_numpy(), alloc["consumer"].to_numpy()
    whole = np.array([lease.whole_sites for lease in inst.leases] + [False])
    start = np.array([inst.window(run).start for run in inst.training] + [0])
    lease = (use == "lease") & ~whole[np.where(use == "lease", k, -1)]
    training = (use == "training") & (start[np.where(use == "training", k, -1)] < reveal)
    inference = (use == "inference") & (alloc["t0"].to_numpy() < reveal)
    return lease | training | inference


def common_cells(all_cases: list[Case], reveal: int) -> tuple[pd.DataFrame, np.ndarray]:
    """The union of the scenarios' allocation cells (their keys), and each cell's bound per scenario
    (cells x scenarios, 0 where a scenario has no such cell). A scenario whose lessee exits at the start
    of the term never holds the block, so it does not bound it: there the bound is the largest of any
    scenario (the shared column takes the tightest of its scenarios' bounds, and a scenario with fewer
    GPUs made a better plan "infeasible")."""
    tables = [allocation_table(c.instance, c.instance.usable_nodes(), earliest_ends(c.instance, c.exits, reveal))
              .assign(case=i) for i, c in enumerate(all_cases)]
    both = pd.concat(tables, ignore_index=True)
    ub = both.pivot_table(index=CELL_KEYS, columns="case", values="ub", aggfunc="max", fill_value=0.0, sort=False)
    ub = ub.reindex(columns=range(len(all_cases)), fill_value=0.0)
    cells, ub = ub.index.to_frame(index=False), ub.to_numpy().copy()
    lease = (cells["use"] == "lease").to_numpy()
    for i, case in enumerate(all_cases):
        for k, exit_ in case.exits.items():
            never = lease & (cells["consumer"] == k).to_numpy() & (cells["t0"] >= exit_).to_numpy()
            ub[never, i] = ub[never].max(axis=1)
    return cells, ub


def build_stochastic(inst: Instance) -> StochasticModel:
    """One model per scenario on the common cells, stacked with the first stage merged, then F."""
    all_cases = cases(inst)
    reveal = reveal_period(inst)
    cells, ub = common_cells(all_cases, reveal)
    shared = shared_cells(inst, cells, reveal)
    models = [build_model(c.instance, alloc=cells.assign(ub=ub[:, i]), exits=c.exits, reveal=reveal,
                          lifted=False)  # 50 scenarios: 130 s without them, unproven at 300 s with them
              for i, c in enumerate(all_cases)]
    n_shared = int(shared.sum()) + len(inst.leases)
    columns, offset = [], n_shared
    for m in models:
        local = np.r_[m.alloc["var"].to_numpy()[shared], m.accepted]
        mapping = np.full(m.lm.n_vars, -1, dtype=np.int64)
        mapping[local] = np.arange(n_shared)
        own = np.flatnonzero(mapping < 0)
        mapping[own] = offset + np.arange(len(own))
        offset += len(own)
        columns.append(mapping)
    lm = stack([m.lm for m in models], columns, offset, [c.name for c in all_cases])
    p = np.array([c.probability for c in all_cases])
    unc = inst.uncertainty
    alpha, weight = (unc.cvar_alpha, unc.risk_weight) if unc else (0.9, 0.0)
    objective = np.zeros(offset)
    for m, cols, pi in zip(models, columns, p):
        np.add.at(objective, cols, (1.0 - weight) * pi * m.lm.objective())
    lm.add_objective("F", np.arange(offset), objective)
    risk = add_cvar(lm, models, columns, p, alpha, weight) if weight > 0 else None
    return StochasticModel(inst, all_cases, models, columns, lm, np.arange(n_shared), risk)


def stack(parts: list[LinearModel], columns: list[np.ndarray], n_vars: int, names: list[str]) -> LinearModel:
    """The models side by side in the stacked columns; a column several map to takes the tightest bounds.
    Row families keep their rule names, their keys gain the scenario."""
    lb, ub, integer = np.full(n_vars, -INF), np.full(n_vars, INF), np.zeros(n_vars, dtype=bool)
    out = LinearModel()
    for part, cols, name in zip(parts, columns, names):
        plb, pub = part.bounds()
        np.maximum.at(lb, cols, plb)
        np.minimum.at(ub, cols, pub)
        integer[cols] |= part.integrality()
        a = part.matrix().tocoo()
        lo, hi = part.row_bounds()
        base = out.n_rows
        out._rows.append(a.row.astype(np.int64) + base)
        out._cols.append(cols[a.col])
        out._vals.append(a.data)
        out.row_lo.append(lo)
        out.row_hi.append(hi)
        for fam in part.row_families:
            keys = None if fam.keys is None else fam.keys.assign(scenario=name)
            out.row_families.append(Family(fam.name, base + fam.start, base + fam.stop, keys))
        out.n_rows += part.n_rows
    out.add_variables("stacked", n_vars, lb, ub)
    out.integer = [integer]
    return out


def add_cvar(lm: LinearModel, models: list[PlanModel], columns: list[np.ndarray], p: np.ndarray,
             alpha: float, weight: float) -> tuple[int, np.ndarray, float]:
    """Rockafellar-Uryasev rows in units of `scale` (money spans 1e9; the rows stay near 1):
    u_s - eta + V_s / scale >= 0, and w * scale * (eta - sum p_s u_s / (1 - alpha)) in the objective.
    eta lies between the least and the most any V_s can be, and u_s below their spread: finite bounds
    that cut nothing off (CP-SAT, integer-only, needs them). The scale is the geometric mean of the
    objective's coefficients (a row's usual equilibration): the largest one, a 1e15 termination fee,
    made V_s / scale a few 1e-9, below the solver's tolerances, and the model's F 73% off the plan's."""
    logs = np.concatenate([np.log10(np.abs(c[c != 0])) for c in (m.lm.objective() for m in models)])
    scale = 10.0 ** np.round(logs.mean()) if len(logs) else 1.0
    lo, hi = zip(*(_value_range(m.lm) for m in models))
    eta = lm.add_variables("cvar_eta", 1, min(lo) / scale, max(hi) / scale)
    short = lm.add_variables("cvar_shortfall", len(models), 0.0, (max(hi) - min(lo)) / scale)
    for s, (m, cols) in enumerate(zip(models, columns)):
        c = m.lm.objective() / scale
        nz = np.flatnonzero(c)
        lm.add_constraints("cvar_shortfall", np.zeros(len(nz) + 2), np.r_[short[s], eta, cols[nz]],
                           np.r_[1.0, -1.0, c[nz]], 0.0, INF, n_rows=1, keys=pd.DataFrame({"scenario": [s]}))
    lm.add_objective("F", eta, [weight * scale])
    lm.add_objective("F", short, -weight * scale * p / (1.0 - alpha))
    return int(eta[0]), short, scale


def _value_range(lm: LinearModel) -> tuple[float, float]:
    """The least and the most the objective can be over the column bounds (infinite where a bound is)."""
    c = lm.objective()
    lb, ub = lm.bounds()
    with np.errstate(invalid="ignore"):  # 0 * inf: a column that does not count
        low = np.where(c > 0, c * lb, c * ub)
        high = np.where(c > 0, c * ub, c * lb)
    return float(np.nansum(low[c != 0])), float(np.nansum(high[c != 0]))
