"""Why is an instance infeasible? Two elastic re-solves, reported in the user's words.

1. Requirements: required runs, signed leases and inference min_units get a penalised slack;
   the cheapest relaxation names the smallest set of requirements that cannot all hold.
2. Capacity: site power and inventory get a slack instead (in MW and GPUs), with every
   requirement hard; the shortfalls say how much is missing where, and who needs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import highspy
import numpy as np

from planner.instance import Instance
from planner.model import PlanModel, build_model
from planner.model.linear import Family
from planner.results import integral
from planner.solvers import SolveOptions, get_solver
from planner.solvers.base import native_output
from planner.solvers.highs import _highs_lp

REQUIREMENTS = ("training_required", "lease_signed", "inference_min_units")
CAPACITY = ("power", "inventory")
TOL = 1e-6
CAPACITY_SLACK = 10.0  # how far past its inventory one consumer may go in the capacity relaxation


@dataclass
class Diagnosis:
    feasible: bool
    requirements: list[str] = field(default_factory=list)  # requirements that cannot all hold
    shortfalls: list[str] = field(default_factory=list)  # capacity missing, and who needs it
    iis: list[str] = field(default_factory=list)  # an irreducible infeasible set of the LP relaxation, when it has one

    def lines(self) -> list[str]:
        if self.feasible:
            return ["the instance is feasible: every requirement can be met"]
        out = ["the instance is infeasible.", "Smallest relaxation: without these requirements the rest can be met:"]
        out += [f"  - {line}" for line in self.requirements]
        if self.shortfalls:
            out.append("Where capacity falls short when every requirement is kept:")
            out += [f"  - {line}" for line in self.shortfalls]
        else:
            out.append("More power or GPUs would not help: the requirements contradict the rules themselves.")
        if self.iis:
            out.append("Even with fractional nodes these rows conflict (an irreducible infeasible set, from HiGHS):")
            out += [f"  - {line}" for line in self.iis]
        return out


def _elastic(inst: Instance, families: tuple[str, ...], solver: str) -> tuple[PlanModel, list, np.ndarray | None]:
    """Solve with only the relaxation cost (and a tiny cost on running GPUs, so nothing runs
    that no requirement needs); return the model, the slack blocks and the solution. Relaxing
    capacity also loosens the node columns' own bounds (x10), so one consumer can exceed it."""
    m = build_model(inst, bound_scale=CAPACITY_SLACK if families == CAPACITY else 1.0)
    m.lm.objective_terms.clear()
    u = m.usage
    m.lm.add_objective("relaxation", u["var"].to_numpy(), 1e-6 * m.node_mw[u["g"].to_numpy(), u["s"].to_numpy()])
    blocks = []
    for name in families:
        penalty = 1e3 if name in REQUIREMENTS else 1.0
        blocks += m.lm.relax(name, penalty)
    report = get_solver(solver).solve(m.lm, SolveOptions(gap=1e-9))
    x = integral(m, report.x) if report.status.has_solution else None
    return m, blocks, x


def explain(inst: Instance, solver: str = "highs") -> Diagnosis:
    """Diagnose an instance: feasible, or which requirements conflict and what capacity is short."""
    plain = build_model(inst)
    if get_solver(solver).solve(plain.lm, SolveOptions(gap=1e-2)).status.has_solution:
        return Diagnosis(feasible=True)
    diagnosis = Diagnosis(feasible=False, iis=irreducible_set(plain))
    m, blocks, x = _elastic(inst, REQUIREMENTS, solver)
    if x is not None:
        diagnosis.requirements = _by_period(
            _requirement(m, fam, i, x[slack[i]]) for fam, slack in blocks for i in np.flatnonzero(x[slack] > TOL))
    m, blocks, x = _elastic(inst, CAPACITY, solver)
    if x is not None:
        diagnosis.shortfalls = _by_period(
            _shortfall(m, fam, i, x[slack[i]], x) for fam, slack in blocks for i in np.flatnonzero(x[slack] > TOL))
    return diagnosis


def irreducible_set(m: PlanModel) -> list[str]:
    """The rows of an IIS of the LP relaxation, named by rule and key; empty when the relaxation is
    feasible (HiGHS computes an IIS for LPs only: integrality conflicts have none)."""
    lm = m.lm.relaxed()
    lp, _ = _highs_lp(lm)
    with native_output(False):
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("presolve", "off")  # an infeasibility found in presolve leaves the IIS empty
        h.setOptionValue("iis_strategy", 2)  # from the LP (measured: the default returned no rows)
        h.passModel(lp)
        status, iis = h.getIis()
    if status != highspy.HighsStatus.kOk or not iis.valid_:
        return []
    out = []
    for row in iis.row_index_:
        fam = lm.row_family(int(row))
        key = "" if fam.keys is None else ", ".join(
            f"{k} {_name(m, k, v)}" for k, v in fam.keys.iloc[int(row) - fam.start].items())
        out.append(f"{fam.name}" + (f" ({key})" if key else ""))
    return out


def _name(m: PlanModel, key: str, value: int) -> str:
    """Row keys are indices: show the site, generation, run, pool or lease name instead."""
    inst = m.instance
    table = {"s": inst.sites, "g": inst.generations, "run": inst.training, "pool": inst.inference,
             "lease": inst.leases}.get(key)
    return table[int(value)].name if table is not None else str(int(value))


def _by_period(items) -> list[str]:
    """Merge messages that differ only by period: `period 0` + `period 1` -> `periods 0, 1`."""
    merged: dict[str, list[int]] = {}
    for text, period in items:
        merged.setdefault(text, []).append(period)
    out = []
    for text, periods in merged.items():
        label = f"period {periods[0]}" if len(periods) == 1 else "periods " + ", ".join(map(str, periods))
        out.append(text.replace("{periods}", label))
    return out


def _requirement(m: PlanModel, fam: Family, i: int, slack: float) -> tuple[str, int]:
    inst, key = m.instance, fam.keys.iloc[i]
    if fam.name == "training_required":
        run = inst.training[int(key["run"])]
        return f"required training run {run.name} (min_units {run.min_units:,.6g}) cannot be placed", 0
    if fam.name == "lease_signed":
        lease = inst.leases[int(key["lease"])]
        most = "any number of" if lease.max_gpus is None else f"{lease.max_gpus:,}"
        size = ("whole sites" if lease.whole_sites else f"exactly {lease.max_gpus:,} GPUs" if lease.all_or_nothing
                else f"{lease.min_gpus:,} to {most} GPUs")
        return f"signed lease {lease.name} ({size}) cannot be honoured", 0
    pool, t = inst.inference[int(key["pool"])], int(key["t"])
    need = pool.min_units * (pool.demand_scale[t] if pool.demand_scale else 1.0)
    return (f"inference pool {pool.name}, {{periods}}: min_units needs {need:,.6g} serving units, "
            f"at most {need - slack:,.6g} can be provided"), t


def _users(m: PlanModel, x: np.ndarray, s: int, t: int, g: int | None, per_node: np.ndarray, unit: str) -> str:
    """Who holds capacity at (site, period[, generation]) in the elastic plan, largest first."""
    u = m.usage
    here = u[(u["s"] == s) & (u["t"] == t) & ((u["g"] == g) if g is not None else True)]
    amount = x[here["var"].to_numpy()] * per_node[here["g"].to_numpy()]
    names = {"training": _labels(m.instance.training, "training run"),
             "inference": _labels(m.instance.inference, "inference pool"),
             "lease": _labels(m.instance.leases, "lease")}
    totals: dict[str, float] = {}
    for use, k, a in zip(here["use"], here["consumer"], amount):
        if a > TOL:
            label = names[use][k]
            totals[label] = totals.get(label, 0.0) + a
    return ", ".join(f"{label} ({v:,.6g} {unit})" for label, v in sorted(totals.items(), key=lambda kv: -kv[1]))


def _labels(consumers: list, kind: str) -> list[str]:
    """`signed lease X`, `required training run Y`: the words a planner uses."""
    return [f"{'signed ' if getattr(c, 'signed', False) else ''}{'required ' if getattr(c, 'required', False) else ''}"
            f"{kind} {c.name}" for c in consumers]


def _shortfall(m: PlanModel, fam: Family, i: int, slack: float, x: np.ndarray) -> tuple[str, int]:
    inst, key = m.instance, fam.keys.iloc[i]
    s, t = int(key["s"]), int(key["t"])
    site = inst.sites[s]
    if fam.name == "power":
        need = site.power_mw + slack
        return (f"site {site.name}, {{periods}}: {site.power_mw:,.6g} MW available, {need:,.6g} MW needed by "
                + _users(m, x, s, t, None, m.node_mw[:, s], "MW")), t
    g = int(key["g"])
    gen = inst.generations[g]
    have = int(m.nodes[g, s, t] * gen.node_size)
    need = have + int(round(slack)) * gen.node_size
    return (f"site {site.name}, {{periods}}: {have:,} usable {gen.name} GPUs, {need:,} needed by "
            + _users(m, x, s, t, g, m.node_gpus, "GPUs")), t
