"""A plan of the extensive form (SPEC section 6) from a first stage chosen elsewhere: fix the first-stage
columns, re-optimise each scenario on its own (they are independent once the first stage is fixed, and F
never decreases when one scenario's value grows), and assemble the stacked solution.

Used twice: the first stage of the plan without uncertainty, completed, is the warm start of the
extensive form, and its value is F(V') of the VSS (planner.metrics).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from planner.model.stochastic import StochasticModel, shared_cells
from planner.results import PlanResult
from planner.risk import risk_objective, value_at_risk
from planner.scenarios import reveal_period
from planner.solvers import SolveOptions, Solver, SolverReport, Status


@dataclass
class Completion:
    plan: SolverReport | None  # a plan of the stacked model (x in its columns, objective F)
    infeasible: str | None = None  # else: the scenario where the first stage has no completion
    proven: bool = False  # every scenario's re-solve proven optimal (within the gap), so F is the best completion's


def first_stage_values(sm: StochasticModel, plan: PlanResult) -> np.ndarray:
    """The values of sm's first-stage columns (shared cells in nodes, then lease acceptance) in a plan of
    the same fleet, read from its allocation rows: a cell's GPUs in its first period / node size."""
    inst = sm.instance
    cells = sm.models[0].alloc
    shared = cells[shared_cells(inst, cells, reveal_period(inst))]
    names = {"training": [c.name for c in inst.training], "inference": [c.name for c in inst.inference],
             "lease": [c.name for c in inst.leases]}
    gpus = plan.allocations.groupby(["use", "consumer", "site", "generation", "period"])["gpus"].sum().to_dict()
    nodes = [gpus.get((use, names[use][k], inst.sites[s].name, inst.generations[g].name, t0), 0)
             / inst.generations[g].node_size
             for use, k, g, s, t0 in shared[["use", "consumer", "g", "s", "t0"]].itertuples(index=False)]
    accepted = plan.leases.set_index("name")["accepted"].reindex(names["lease"]).fillna(False).astype(float)
    return np.r_[nodes, accepted.to_numpy()]


def complete(sm: StochasticModel, first: np.ndarray, backend: Solver, options: SolveOptions) -> Completion:
    """Each scenario re-optimised with the first stage fixed at `first` (its time limit split evenly)."""
    begin = time.perf_counter()
    x = np.zeros(sm.lm.n_vars)
    values, proven = [], True
    each = None if options.time_limit is None else options.time_limit / len(sm.models)
    for case, m, cols in zip(sm.cases, sm.models, sm.columns):
        local = np.flatnonzero(cols < len(first))
        report = backend.solve(m.lm.with_fixed(local, first[cols[local]]),
                               replace(options, time_limit=each, warm_start=None, progress=False))
        if not report.status.has_solution:
            return Completion(None, case.name if report.status == Status.INFEASIBLE else None)
        x[cols] = report.x
        values.append(report.objective)
        proven &= report.status == Status.OPTIMAL
    values = np.array(values)
    p = np.array([c.probability for c in sm.cases])
    unc = sm.instance.uncertainty
    if sm.risk is not None:
        eta, short, scale = sm.risk
        x[eta] = value_at_risk(values, p, unc.cvar_alpha) / scale
        x[short] = np.maximum(0.0, x[eta] - values / scale)
    objective = risk_objective(values, p, unc.cvar_alpha, unc.risk_weight)
    return Completion(SolverReport(backend.name, Status.FEASIBLE, x, objective, seconds=time.perf_counter() - begin),
                      proven=proven)
