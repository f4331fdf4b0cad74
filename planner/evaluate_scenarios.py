"""Is a lease offer worth taking when the future is uncertain (SPEC section 6)? F with the offer accepted at
the block the lessee asks for against F with it removed, its value in each scenario, the probability that
accepting loses, the break-even price on F, and the value of the offer's termination right.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from planner.evaluate import (
    BEYOND_PRICES,
    known_equal,
    named_lease,
    price_root,
    quoted_price,
    requested_block,
    solve_each,
    with_offer,
    with_price,
)
from planner.instance import Instance, Lease, parse_instance
from planner.results import PlanResult
from planner.risk import tail_shares

FLIP = 1e-3  # the break-even is checked by re-solving this far (relative) either side of it


@dataclass
class ScenarioEvaluation:
    offer: str
    decision: str  # "accept" or "reject" (on F); "signed" for a signed contract (value = the cost of honouring it)
    block_gpus: int | None  # the block evaluated: GPUs per period the accepted plan holds
    value: float | None  # F(accepted) - F(rejected)
    objective_accepted: float | None
    objective_rejected: float
    scenarios: list[dict] = field(default_factory=list)  # name, probability, accepted, rejected, value
    probability_of_loss: float | None = None  # P(V_s accepted < V_s rejected)
    break_even_price: float | None = None
    price_unit: str = "per GPU-hour"
    break_even_checked: bool | None = None  # re-solves at +-FLIP flip the decision
    termination_right_value: float | None = None  # F(as written) - F(without the right)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def forced(inst: Instance, name: str, gpus: int | None = None, termination: bool = True) -> Instance:
    """The offer signed at the block the lessee asks for (planner.evaluate's rule), with or without its
    termination right."""
    lease = next(x for x in inst.leases if x.name == name)
    if not termination:
        lease = lease.model_copy(update={"termination": None})
    return with_offer(inst, lease, accepted=True, gpus=requested_block(inst, lease, gpus)[0])


def removed(inst: Instance, name: str) -> Instance:
    """The instance without the offer, its lessee's exits and what scenarios set for it (its price in a
    scenario), which no longer mean anything."""
    data = inst.model_dump()
    data["leases"] = [x for x in data["leases"] if x["name"] != name]
    for sc in data["uncertainty"]["scenarios"]:
        sc["lessee_exits"].pop(name, None)
        sc["set"] = {path: value for path, value in sc["set"].items() if path.split(".")[:2] != ["leases", name]}
    return parse_instance(data, f"{inst.name} without {name}")


def _values(plan: PlanResult) -> dict[str, float]:
    return {s["name"]: s["objective"] for s in plan.uncertainty["scenarios"]}


def _slope(inst: Instance, plan: PlanResult, name: str, factor: float) -> float:
    """dF/d(price factor) with the plan fixed: each V_s grows by the offer's revenue at factor 1, R_s (the
    plan's revenue / factor); F weighs the R_s by (1 - w) p_s plus w times the scenario's CVaR tail share."""
    unc = inst.uncertainty
    entries = plan.uncertainty["scenarios"]
    v = np.array([e["objective"] for e in entries])
    p = np.array([e["probability"] for e in entries])
    r = np.array([e["lease_revenue"][name] for e in entries]) / factor
    return float(((1 - unc.risk_weight) * p + unc.risk_weight * tail_shares(v, p, unc.cvar_alpha)) @ r)


def evaluate_under_uncertainty(inst: Instance, name: str, solver: str = "highs", gpus: int | None = None,
                               max_steps: int = 20, workers: int | None = 1, cluster: str | None = None,
                               **options: Any) -> ScenarioEvaluation:
    """F with the offer signed at the asked block, with it removed, and (for an offer with a termination
    right) signed without the right: three independent solves through planner.batch; then the break-even
    by Newton. `options` (time_limit, threads, progress) go to every solve."""
    lease = named_lease(inst, name)
    unit = "per period" if lease.payment_per_period is not None else "per GPU-hour"
    accepted_inst = forced(inst, name, gpus)
    variants = [removed(inst, name), accepted_inst]
    if lease.termination is not None:
        variants.append(forced(inst, name, gpus, termination=False))
    rejected, accepted, *without_right = solve_each(variants, solver, workers, cluster, **options)
    if not rejected.status.has_solution:
        raise ValueError(f"the instance without {name} is {rejected.status.value}: nothing to compare against")
    if not accepted.status.has_solution:
        return ScenarioEvaluation(name, "reject", None, None, None, rejected.objective, price_unit=unit,
                                  notes=[f"{name} cannot be accepted at that block: the plan with it is {accepted.status.value}"])
    block = int(accepted.leases.loc[accepted.leases["name"] == name, "gpus"].iloc[0])
    with_offer, without = _values(accepted), _values(rejected)
    rows = [{"name": sc.name, "probability": sc.probability, "accepted": with_offer[sc.name],
             "rejected": without[sc.name], "value": with_offer[sc.name] - without[sc.name]} for sc in inst.uncertainty.scenarios]
    value = accepted.objective - rejected.objective
    out = ScenarioEvaluation(
        name, "signed" if lease.signed else "accept" if value > 0 else "reject", block, value, accepted.objective, rejected.objective, rows,
        probability_of_loss=sum(r["probability"] for r in rows if r["value"] < -1e-9 * max(1.0, abs(r["rejected"]))),
        price_unit=unit,
    )
    out.break_even_price, out.break_even_checked, note = _break_even(accepted_inst, lease, rejected, accepted,
                                                                     solver, max_steps, options)
    out.notes += [note] if note else []
    if without_right and without_right[0].status.has_solution:
        out.termination_right_value = accepted.objective - without_right[0].objective
    return out


def _break_even(accepted_inst: Instance, lease: Lease, rejected: PlanResult, plan: PlanResult, solver: str,
                max_steps: int, options: dict) -> tuple[float | None, bool | None, str | None]:
    """Newton on F_accepted(f) - F_rejected over the price factor f (planner.evaluate.price_root; F_accepted
    is a max over plans of functions of f, each piecewise linear, so steps may overshoot: a step goes at
    most to a tenth of the factor, which stays positive), then a re-solve either side to show the
    decision flips."""
    target = rejected.objective
    factor, plan = price_root(accepted_inst, lease.name, rejected, plan,
                              lambda at, f: _slope(accepted_inst, at, lease.name, f), lambda f: f / 10,
                              solver, max_steps, options)
    if plan is None:
        return None, None, BEYOND_PRICES
    agree = max(1e-6 * max(1.0, abs(target)), known_equal(plan, rejected))
    if not plan.status.has_solution or abs(plan.objective - target) > agree:
        return None, None, None
    above, below = (p.objective for p in solve_each(
        [with_price(accepted_inst, lease.name, factor * (1 + FLIP)), with_price(accepted_inst, lease.name, factor * (1 - FLIP))],
        solver, **options))
    return factor * quoted_price(lease), bool(above > target > below), None
