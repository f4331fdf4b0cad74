"""PlanResult: a solved plan as DataFrames, and `to_dict()` in exactly the SPEC's section-5 format."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from planner.model import PlanModel
from planner.model.stochastic import StochasticModel
from planner.risk import cvar, risk_objective
from planner.solvers import SolverReport, Status, relative_gap
from planner.solvers.base import GAP_TOLERANCE

SHADOW_PRICE_NOTE = "local: LP duals with the optimum's discrete decisions (placed, accepted, choices) fixed"
TERMS = ("lease_revenue", "training_value", "inference_value", "energy_cost")
FEES = "termination_fees"  # a fifth breakdown term where a lease may be ended by the operator (SPEC section 6)
ALLOCATION_COLUMNS = ["period", "site", "generation", "use", "consumer", "gpus"]


@dataclass
class PlanResult:
    instance: str
    status: Status
    solver: str
    objective: float | None = None
    best_bound: float | None = None
    mip_gap: float | None = None
    solve_seconds: float = 0.0
    build_seconds: float = 0.0
    breakdown: dict[str, float] = field(default_factory=lambda: dict.fromkeys(TERMS, 0.0))
    allocations: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=ALLOCATION_COLUMNS))
    leases: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["name", "accepted", "gpus", "revenue"]))
    site_power: pd.DataFrame = field(default_factory=pd.DataFrame)
    warnings: list[str] = field(default_factory=list)
    verified: bool = False
    shadow_prices: dict[str, pd.DataFrame] | None = None  # only when asked for (local LP duals)
    lease_ends: list[dict] | None = None  # where a lease may end early: [{lease, period, by}]
    uncertainty: dict[str, Any] | None = None  # SPEC section 6 keys: expected_objective, cvar, scenarios, evpi, vss
    consumers: dict[str, list[dict]] | None = None  # planner.outcomes: each training run and inference pool

    def to_dict(self) -> dict[str, Any]:
        """The SPEC section-5 JSON document (plus `shadow_prices` when they were asked for)."""
        out = {
            "instance": self.instance,
            "status": self.status.value,
            "objective": self.objective,
            "best_bound": self.best_bound,
            "mip_gap": self.mip_gap,
            "solver": self.solver,
            "solve_seconds": round(self.solve_seconds, 6),
            "breakdown": {k: float(v) for k, v in self.breakdown.items()},
            "allocations": [
                {**row, "period": int(row["period"]), "gpus": int(row["gpus"]),
                 "consumer": None if pd.isna(row["consumer"]) else row["consumer"]}
                for row in self.allocations[self.allocation_columns()].to_dict("records")
            ],
            "leases": [
                {"name": r["name"], "accepted": bool(r["accepted"]), "gpus": int(r["gpus"]), "revenue": float(r["revenue"])}
                for r in self.leases.to_dict("records")
            ],
            "warnings": list(self.warnings),
        }
        if self.lease_ends is not None:
            out["lease_ends"] = self.lease_ends
        if self.uncertainty is not None:
            out.update(self.uncertainty)
        if self.consumers is not None:
            out["consumers"] = self.consumers
        if self.shadow_prices is not None:
            out["shadow_prices"] = {"note": SHADOW_PRICE_NOTE, **{
                name: frame.to_dict("records") for name, frame in self.shadow_prices.items()}}
        return out


    def allocation_columns(self) -> list[str]:
        return ALLOCATION_COLUMNS + (["scenario"] if "scenario" in self.allocations else [])


def integral(m: PlanModel, x: np.ndarray) -> np.ndarray:
    """The solver's x with integer columns rounded (solvers return 2.9999999 for 3)."""
    return np.where(m.lm.integrality(), np.round(x), x)


def extract(m: PlanModel, report: SolverReport, build_seconds: float = 0.0) -> PlanResult:
    """Turn a solver report back into the plan: rows per (period, site, generation, use, consumer)."""
    inst = m.instance
    result = PlanResult(
        instance=inst.name, status=report.status, solver=report.solver, solve_seconds=report.seconds,
        build_seconds=build_seconds, warnings=inst.warnings(),
    )
    if not report.status.has_solution or report.x is None:
        return result
    x = integral(m, report.x)
    terms = TERMS + ((FEES,) if with_fees(m.instance) else ())
    result.breakdown = {term: float(m.lm.term_vector(term) @ x) for term in terms}
    b = result.breakdown
    result.objective = b["lease_revenue"] + b["training_value"] + b["inference_value"] - b["energy_cost"] - b.get(FEES, 0.0)
    result.best_bound = max(report.best_bound, result.objective) if report.best_bound is not None else None
    result.mip_gap = report.mip_gap
    result.allocations = _allocations(m, x)
    result.leases = _leases(m, x)
    result.site_power = _site_power(m, result.allocations)
    if with_fees(m.instance):
        result.lease_ends = lease_ends(m, x, dict(zip(result.leases["name"], result.leases["accepted"])))
    return result


def with_fees(inst) -> bool:
    """Whether the breakdown carries termination fees: some lease gives the operator a right to end it."""
    return any(lease.termination is not None for lease in inst.leases)


def lease_ends(m: PlanModel, x: np.ndarray, accepted: dict[str, bool]) -> list[dict]:
    """Accepted leases (as reported: a per-GPU lease holding no GPU is not, even if its acceptance column
    is set) that end before their term: by the operator (an end binary set), else by the lessee."""
    out = []
    for k, ends in m.ends.items():
        if not accepted[m.instance.leases[k].name]:
            continue
        chosen = ends.choices[x[ends.end] > 0.5]
        if len(chosen):
            out.append({"lease": m.instance.leases[k].name, "period": int(chosen[0]), "by": "operator"})
        elif ends.exit is not None and x[m.accepted[k]] > 0.5:
            out.append({"lease": m.instance.leases[k].name, "period": int(ends.exit), "by": "lessee"})
    return out


def _allocations(m: PlanModel, x: np.ndarray) -> pd.DataFrame:
    inst = m.instance
    u = m.usage
    gpus = (x[u["var"].to_numpy()] * m.node_gpus[u["g"].to_numpy()]).round().astype(np.int64)
    used = pd.DataFrame({"t": u["t"], "s": u["s"], "g": u["g"], "use": u["use"], "consumer": u["consumer"], "gpus": gpus})
    used = used[used["gpus"] > 0].groupby(["t", "s", "g", "use", "consumer"], as_index=False)["gpus"].sum()
    names = {"training": [c.name for c in inst.training], "inference": [c.name for c in inst.inference],
             "lease": [c.name for c in inst.leases]}
    used["consumer"] = [names[use][k] for use, k in zip(used["use"], used["consumer"])]
    usable = m.nodes * m.node_gpus[:, None, None]
    busy = np.zeros_like(usable)
    np.add.at(busy, (used["g"].to_numpy(), used["s"].to_numpy(), used["t"].to_numpy()), used["gpus"].to_numpy())
    gi, si, ti = np.nonzero(usable - busy)
    idle = pd.DataFrame({"t": ti, "s": si, "g": gi, "use": "idle", "consumer": None,
                         "gpus": (usable - busy)[gi, si, ti].astype(np.int64)})
    rows = pd.concat([used, idle], ignore_index=True).sort_values(["t", "s", "g", "use"], kind="stable")
    return pd.DataFrame({
        "period": rows["t"].to_numpy(), "site": [inst.sites[s].name for s in rows["s"]],
        "generation": [inst.generations[g].name for g in rows["g"]], "use": rows["use"].to_numpy(),
        "consumer": rows["consumer"].to_numpy(), "gpus": rows["gpus"].to_numpy(),
    })


def _leases(m: PlanModel, x: np.ndarray) -> pd.DataFrame:
    revenue = m.lm.term_vector("lease_revenue")
    rows = []
    for k, lease in enumerate(m.instance.leases):
        cells = m.cells("lease", k)
        cols = cells["var"].to_numpy()
        gpus = int(round(float(x[cols] @ m.node_gpus[cells["g"].to_numpy()])))
        accepted = x[m.accepted[k]] > 0.5 if (lease.signed or lease.payment_per_period is not None) else gpus > 0
        ends = m.ends.get(k)
        own = np.unique(np.r_[cols, m.accepted[k], [] if ends is None else np.r_[ends.end, ends.held["var"]]]).astype(np.int64)
        rows.append({
            "name": lease.name, "lessee": lease.lessee or lease.name, "accepted": bool(accepted), "gpus": gpus,
            "revenue": float(revenue[own] @ x[own]),
        })
    return pd.DataFrame(rows, columns=["name", "lessee", "accepted", "gpus", "revenue"])


def _site_power(m: PlanModel, allocations: pd.DataFrame) -> pd.DataFrame:
    """Facility MW drawn vs available per site and period: the headroom a planner looks at first."""
    inst = m.instance
    kw = {g.name: g.power_kw for g in inst.generations}
    pue = {s.name: s.pue for s in inst.sites}
    running = allocations[allocations["use"] != "idle"]
    mw = running["gpus"] * running["generation"].map(kw) * running["site"].map(pue) / 1000.0
    drawn = mw.groupby([running["site"], running["period"]]).sum()
    grid = pd.MultiIndex.from_product([[s.name for s in inst.sites], range(inst.T)], names=["site", "period"])
    out = drawn.reindex(grid, fill_value=0.0).rename("mw_drawn").reset_index()
    out["mw_available"] = out["site"].map({s.name: s.power_mw for s in inst.sites})
    out["headroom_mw"] = out["mw_available"] - out["mw_drawn"]
    return out


def extract_scenarios(sm: StochasticModel, report: SolverReport, gap: float, build_seconds: float = 0.0) -> PlanResult:
    """The stacked solution as one result (SPEC section 6): objective F, expected breakdown and lease
    revenues, the first-stage lease blocks, every allocation row with its scenario, and per scenario its
    value, breakdown and lease ends. F is recomputed from the scenarios' values, so the gap is too, and
    the plan is `optimal` only when that gap is within `gap` (the model's CVaR rows hold to the solver's
    tolerances only)."""
    inst = sm.instance
    result = PlanResult(instance=inst.name, status=report.status, solver=report.solver, solve_seconds=report.seconds,
                        build_seconds=build_seconds, warnings=inst.warnings())
    if not report.status.has_solution or report.x is None:
        return result
    x = np.where(sm.lm.integrality(), np.round(report.x), report.x)
    parts = [extract(m, replace(report, x=sm.scenario_x(x, s))) for s, m in enumerate(sm.models)]
    p = np.array([c.probability for c in sm.cases])
    values = np.array([part.objective for part in parts])
    unc = inst.uncertainty
    alpha, weight = unc.cvar_alpha, unc.risk_weight
    expected = float(p @ values)
    result.objective = risk_objective(values, p, alpha, weight)
    result.best_bound = None if report.best_bound is None else max(report.best_bound, result.objective)
    result.mip_gap = relative_gap(result.objective, result.best_bound)
    if result.status == Status.OPTIMAL and not (result.mip_gap is not None and result.mip_gap <= gap + GAP_TOLERANCE):
        result.status = Status.FEASIBLE
    terms = TERMS + (FEES,)
    result.breakdown = {t: float(sum(pi * part.breakdown.get(t, 0.0) for pi, part in zip(p, parts))) for t in terms}
    leases = parts[0].leases.copy()  # the block is first stage: the same in every scenario
    leases["accepted"] = np.logical_or.reduce([part.leases["accepted"].to_numpy(dtype=bool) for part in parts])
    leases["revenue"] = sum(pi * part.leases["revenue"].to_numpy() for pi, part in zip(p, parts))
    result.leases = leases
    result.allocations = pd.concat([part.allocations.assign(scenario=c.name) for part, c in zip(parts, sm.cases)],
                                   ignore_index=True)
    result.site_power = pd.concat([part.site_power.assign(scenario=c.name) for part, c in zip(parts, sm.cases)],
                                  ignore_index=True)
    result.uncertainty = {
        "expected_objective": expected,
        **({"cvar": cvar(values, p, alpha)} if weight > 0 else {}),
        "scenarios": [
            {"name": c.name, "probability": c.probability, "objective": float(part.objective),
             "breakdown": {t: float(part.breakdown.get(t, 0.0)) for t in terms},
             "lease_ends": lease_ends(m, sm.scenario_x(x, s), dict(zip(leases["name"], leases["accepted"]))),
             "lease_revenue": dict(zip(part.leases["name"], part.leases["revenue"].astype(float)))}
            for s, (c, m, part) in enumerate(zip(sm.cases, sm.models, parts))
        ],
    }
    return result
