"""Why is an instance infeasible? Two elastic re-solves, reported in the user's words.

1. Requirements: required runs, signed leases and inference min_units get a penalised slack;
   the cheapest relaxation names the smallest set of requirements that cannot all hold.
2. Capacity: site power and inventory get a slack instead (in MW and GPUs), with every
   requirement hard; the shortfalls say how much is missing where, and who needs it.

Every solve (the feasibility check, both re-solves, the IIS) takes its share of one time
limit: an answer cut short says so instead of running for hours.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from planner.instance import Instance, revalidated
from planner.model import PlanModel, build_model
from planner.model.linear import Family
from planner.options import check_threads, check_time_limit
from planner.results import integral
from planner.scenarios import cases, cut_terms
from planner.solvers import Budget, SolveOptions, Status, get_solver, linear_solver

REQUIREMENTS = ("training_required", "lease_signed", "inference_min_units")
CAPACITY = ("power", "inventory")
TOL = 1e-6
CAPACITY_SLACK = 10.0  # how far past its inventory one consumer may go in the capacity relaxation
TIME_LIMIT = 60.0  # seconds, the default for the whole diagnosis
ELASTIC_GAP = 1e-9  # the re-solves' gap: one requirement's penalty is a tiny share of a large relaxation
SHARES = {"feasibility": 0.3, "requirements": 0.5, "capacity": 0.7, "iis": 1.0}  # of the time left, in this order


@dataclass
class Diagnosis:
    feasible: bool | None  # None: neither a plan nor a proof of infeasibility within the time limit
    requirements: list[str] = field(default_factory=list)  # requirements that cannot all hold
    shortfalls: list[str] = field(default_factory=list)  # capacity missing, and who needs it
    iis: list[str] = field(default_factory=list)  # an irreducible infeasible set of the LP relaxation, when it has one
    unfinished: list[str] = field(default_factory=list)  # the steps the time limit (or an interrupt) cut short
    capacity: str | None = None  # its relaxation "solved", "beyond" (infeasible even so), None (not run to the end)
    scenario: str | None = None  # with scenarios (SPEC section 6): the one diagnosed, infeasible on its own

    def lines(self) -> list[str]:
        if self.feasible:
            return ["the instance is feasible: every requirement can be met"]
        if self.scenario == "":
            return ["the instance is infeasible, although each scenario alone has a plan: the first stage they share "
                    "(lease acceptance and blocks, training runs that start before the reveal period, inference "
                    "before it) cannot serve all of them at once."]
        if self.scenario is not None:
            return [f"scenario {self.scenario} on its own:", *self.__class__(**{
                **self.__dict__, "scenario": None}).lines()]
        if self.feasible is None:
            out = ["undecided: within the time limit no plan was found and infeasibility was not proven."]
        else:
            out = ["the instance is infeasible."]
        if self.unfinished:
            out.append("Cut short by the time limit or an interrupt (raise --time-limit for a complete answer): "
                       + "; ".join(self.unfinished))
        out.append("Smallest relaxation: without these requirements the rest can be met:")
        out += [f"  - {line}" for line in self.requirements or ["(not found)"]]
        if self.shortfalls:
            out.append("Where capacity falls short when every requirement is kept:")
            out += [f"  - {line}" for line in self.shortfalls]
        elif self.capacity == "beyond":
            out.append(f"Even unlimited power and up to {CAPACITY_SLACK:g} times the GPUs for each consumer would not meet "
                       "every requirement: they need more than that, or contradict the rules themselves.")
        elif self.capacity == "solved":
            out.append("More power or GPUs would not help: the requirements contradict the rules themselves.")
        if self.iis:
            out.append("Even with fractional nodes these rows conflict (an irreducible infeasible set, from HiGHS):")
            out += [f"  - {line}" for line in self.iis]
        return out


def _elastic(inst: Instance, families: tuple[str, ...], solver: str,
             options: SolveOptions) -> tuple[PlanModel, list, np.ndarray | None, Status]:
    """Solve with only the relaxation cost (and a tiny cost on running GPUs, so nothing runs
    that no requirement needs); return the model, the slack blocks, the solution and its status.
    Relaxing capacity also loosens the node columns' own bounds (x10), so one consumer can exceed it."""
    m = build_model(inst, bound_scale=CAPACITY_SLACK if families == CAPACITY else 1.0, cuts=False)
    m.lm.objective_terms.clear()
    u = m.usage
    m.lm.add_objective("relaxation", u["var"].to_numpy(), 1e-6 * m.node_mw[u["g"].to_numpy(), u["s"].to_numpy()])
    blocks = []
    for name in families:
        penalty = 1e3 if name in REQUIREMENTS else 1.0
        blocks += m.lm.relax(name, penalty)
    report = get_solver(solver).solve(m.lm, options)
    x = integral(m, report.x) if report.status.has_solution else None
    return m, blocks, x, report.status


def explain(inst: Instance, solver: str = "highs", time_limit: float | None = TIME_LIMIT, threads: int | None = None,
            progress: bool = False, cancel: threading.Event | None = None) -> Diagnosis:
    """Diagnose an instance within `time_limit` seconds (None: no limit): feasible, or which
    requirements conflict and what capacity is short; what the limit cut short is listed."""
    from planner.api import solve  # the full pipeline (greedy first) decides feasibility fastest

    check_time_limit(time_limit)
    check_threads(threads)
    inst = revalidated(inst)
    budget = Budget(time_limit, cancel or threading.Event())
    base = SolveOptions(gap=ELASTIC_GAP, threads=threads)

    def step(name: str) -> SolveOptions | None:
        """This step's share of what is left of the limit; None when nothing is (the step is skipped)."""
        if progress:
            print(f"[{time.perf_counter() - budget.start:8.1f} s] explain: {name}", file=sys.stderr, flush=True)
        return None if budget.exhausted else budget.options(base, SHARES[name])

    options = step("feasibility")
    status = Status.NO_SOLUTION if options is None else solve(
        inst, solver=solver, time_limit=options.time_limit, gap=1e-2, threads=threads, check=False,
        cancel=budget.cancel).status
    if status.has_solution:
        return Diagnosis(feasible=True)
    if inst.uncertainty is not None:
        return _scenario_by_scenario(inst, solver, budget, threads, progress)
    diagnosis = Diagnosis(feasible=None if status == Status.NO_SOLUTION else False)
    options = step("requirements")
    m, blocks, x, status = _elastic(inst, REQUIREMENTS, solver, options) if options else (None, [], None, None)
    if x is not None:
        diagnosis.requirements = _by_period(
            _requirement(m, fam, i, x[slack[i]]) for fam, slack in blocks for i in np.flatnonzero(x[slack] > TOL))
        if not diagnosis.requirements and status == Status.OPTIMAL:
            return Diagnosis(feasible=True)  # nothing had to be relaxed: the check above ran out of time
    if status == Status.INFEASIBLE:
        diagnosis.requirements = ["(none: the rules conflict even without any requirement)"]
    elif status != Status.OPTIMAL:
        diagnosis.unfinished.append("the requirements listed are the best relaxation found, not proven smallest"
                                    if x is not None else "no relaxation of the requirements found")
    options = step("capacity")
    m, blocks, x, status = _elastic(inst, CAPACITY, solver, options) if options else (None, [], None, None)
    if x is not None:
        diagnosis.shortfalls = _by_period(
            _shortfall(m, fam, i, x[slack[i]], x) for fam, slack in blocks for i in np.flatnonzero(x[slack] > TOL))
    diagnosis.capacity = {Status.OPTIMAL: "solved", Status.INFEASIBLE: "beyond"}.get(status)
    if diagnosis.capacity is None:
        diagnosis.unfinished.append("the shortfalls listed are the best found, not proven least" if x is not None
                                    else "no capacity shortfall computed")
    options = step("iis")
    if options is None:
        diagnosis.unfinished.append("no irreducible infeasible set computed")
    else:
        diagnosis.iis = irreducible_set(build_model(inst, cuts=False), options)
    return diagnosis


def _scenario_by_scenario(inst: Instance, solver: str, budget: Budget, threads: int | None,
                          progress: bool) -> Diagnosis:
    """An infeasible instance with scenarios: the first scenario infeasible on its own (its lessee exits
    cut its leases' terms), diagnosed like a plain instance; else the shared first stage is the conflict."""
    for case in cases(inst):
        if budget.exhausted:
            return Diagnosis(feasible=None, unfinished=[f"scenarios from {case.name} on not diagnosed"])
        own = cut_terms(case.instance, {inst.leases[k].name: e for k, e in case.exits.items()})
        found = explain(own, solver, budget.remaining(), threads, progress, budget.cancel)
        if not found.feasible:
            found.scenario = case.name
            return found
    return Diagnosis(feasible=False, scenario="")


def irreducible_set(m: PlanModel, options: SolveOptions = SolveOptions()) -> list[str]:
    """The rows of an IIS of the LP relaxation, named by rule and key; empty when the relaxation is
    feasible or the solver cannot compute one (HiGHS computes an IIS for LPs only: integrality
    conflicts have none)."""
    lm = m.lm.relaxed()
    out = []
    for row in linear_solver().iis(lm, options):
        fam = lm.row_family(row)
        key = "" if fam.keys is None else ", ".join(
            f"{k} {_name(m, k, v)}" for k, v in fam.keys.iloc[row - fam.start].items())
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
