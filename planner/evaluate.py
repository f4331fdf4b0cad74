"""Is a lease offer worth taking? Value against the best alternative use, break-even price,
implied unit economics and a plausibility check against market price bands.

The value of an offer is objective(offer forced accepted) - objective(offer removed), all else
re-optimised. With the offer's block fixed, the accepted objective is linear in its own price,
and over all blocks it is convex piecewise-linear (a max of lines). Newton's method on it
therefore lands exactly on the break-even price after as many re-solves as the block changes.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from planner.api import solve
from planner.instance import Instance, Lease
from planner.results import PlanResult

BANDS_CSV = Path(__file__).parent / "data" / "market_bands.csv"
TOO_HIGH = 3.0  # x the on-demand price of the dearest generation in the block
TOO_LOW = 0.5  # x the contract price of the cheapest generation in the block
HOURS_PER_MONTH = 730.0


@dataclass
class OfferEvaluation:
    offer: str
    decision: str  # "accept" or "reject"
    value: float | None  # objective_accepted - objective_rejected; None when the offer cannot be accepted
    objective_accepted: float | None
    objective_rejected: float | None
    break_even_price: float | None
    price_unit: str  # "per GPU-hour" or "per period"
    gpus: int  # the block (GPUs per period) the accepted plan holds, assumed by the break-even
    implied_price_per_gpu_hour: float | None
    price_per_mw_month: float | None
    revenue_over_term: float  # undiscounted
    discounted_revenue: float
    payback_months: float | None
    depreciation_cover: float | None  # implied price / straight-line depreciation per GPU-hour
    flags: list[str] = field(default_factory=list)
    displaced: pd.DataFrame = field(default_factory=pd.DataFrame)
    accepted_plan: PlanResult | None = None
    rejected_plan: PlanResult | None = None

    def to_dict(self) -> dict[str, Any]:
        keys = ("offer", "decision", "value", "break_even_price", "price_unit", "gpus", "implied_price_per_gpu_hour",
                "price_per_mw_month", "revenue_over_term", "discounted_revenue", "payback_months",
                "depreciation_cover", "objective_accepted", "objective_rejected", "flags")
        out = {k: getattr(self, k) for k in keys}
        out["displaced"] = self.displaced.to_dict("records")
        return out


def with_offer(inst: Instance, offer: Lease | str, accepted: bool) -> Instance:
    """A copy of the instance with the offer forced in (signed; a per-GPU offer holds >= 1 GPU) or removed."""
    name = offer if isinstance(offer, str) else offer.name
    others = [lease for lease in inst.leases if lease.name != name]
    if not accepted:
        return inst.model_copy(update={"leases": others})
    base = next(lease for lease in inst.leases if lease.name == name) if isinstance(offer, str) else offer
    update: dict[str, Any] = {"signed": True}
    if base.payment_per_period is None:
        update["min_gpus"] = max(base.min_gpus, 1)
    return inst.model_copy(update={"leases": [*others, base.model_copy(update=update)]})


def _with_price(inst: Instance, name: str, factor: float) -> Instance:
    """The offer's price (scalar, mapping or fixed payment) scaled by `factor`."""
    lease = next(lease for lease in inst.leases if lease.name == name)
    if lease.payment_per_period is not None:
        update = {"payment_per_period": lease.payment_per_period * factor}
    elif isinstance(lease.price_per_gpu_hour, dict):
        update = {"price_per_gpu_hour": {g: p * factor for g, p in lease.price_per_gpu_hour.items()}}
    else:
        update = {"price_per_gpu_hour": lease.price_per_gpu_hour * factor}
    leases = [lease.model_copy(update=update) if lease.name == name else lease for lease in inst.leases]
    return inst.model_copy(update={"leases": leases})


def _revenue(plan: PlanResult, name: str) -> float:
    return float(plan.leases.loc[plan.leases["name"] == name, "revenue"].iloc[0])


def payment_per_period(inst: Instance, lease: Lease, block: pd.DataFrame) -> float:
    """What the offer pays per period of its term for this block (GPUs per site and generation)."""
    if lease.payment_per_period is not None:
        return lease.payment_per_period
    price = lease.price_per_gpu_hour
    per_gpu = block["generation"].map(lambda g: price[g] if isinstance(price, dict) else price)
    return inst.horizon.period_hours * float((block["gpus"] * per_gpu).sum())


def _revenue_slope(inst: Instance, lease: Lease, block: pd.DataFrame) -> float:
    """d objective / d price factor with the block fixed: the offer's discounted revenue at factor 1."""
    weight = float(inst.discount_weights()[list(inst.window(lease))].sum())
    return weight * payment_per_period(inst, lease, block)


def break_even_factor(accepted: Instance, lease: Lease, rejected_objective: float, plan: PlanResult,
                      solver: str, max_steps: int = 30) -> tuple[float, PlanResult]:
    """Newton on A(f) - R, where A(f) is the best objective with the offer forced in at its price x f.
    A is convex piecewise-linear, so from any start the iterates reach the root from above."""
    factor = 1.0
    for _ in range(max_steps):
        excess = plan.objective - rejected_objective
        slope = _revenue_slope(accepted, lease, _block(plan, lease.name))
        if abs(excess) <= 1e-9 * max(1.0, abs(rejected_objective)) or slope <= 0:
            break
        factor -= excess / slope
        plan = solve(_with_price(accepted, lease.name, factor), solver=solver)
        if not plan.status.has_solution:
            raise RuntimeError(f"re-solve at price factor {factor:g} returned {plan.status.value}")
    return factor, plan


def evaluate_offer(inst: Instance, offer: Lease | str, solver: str = "highs") -> OfferEvaluation:
    """Solve with the offer forced accepted and removed; value, break-even and economics."""
    name = offer if isinstance(offer, str) else offer.name
    accepted_inst = with_offer(inst, offer, accepted=True)
    lease = next(lease for lease in accepted_inst.leases if lease.name == name)
    rejected = solve(with_offer(inst, offer, accepted=False), solver=solver)
    accepted = solve(accepted_inst, solver=solver)
    if not rejected.status.has_solution:
        raise ValueError(f"the instance without {name} is {rejected.status.value}: nothing to compare against")
    if not accepted.status.has_solution:
        return OfferEvaluation(
            offer=name, decision="reject", value=None, objective_accepted=None,
            objective_rejected=rejected.objective, break_even_price=None, price_unit=_unit(lease), gpus=0,
            implied_price_per_gpu_hour=None, price_per_mw_month=None, revenue_over_term=0.0, discounted_revenue=0.0,
            payback_months=None, depreciation_cover=None,
            flags=[f"{name} cannot be accepted: the plan with it is {accepted.status.value}"],
            accepted_plan=accepted, rejected_plan=rejected,
        )
    value = accepted.objective - rejected.objective
    factor, at_break_even = break_even_factor(accepted_inst, lease, rejected.objective, accepted, solver)
    block = _block(accepted, name)
    economics = unit_economics(inst, lease, block, accepted)
    return OfferEvaluation(
        offer=name, decision="accept" if value > 0 else "reject", value=value,
        objective_accepted=accepted.objective, objective_rejected=rejected.objective,
        break_even_price=factor * _price(lease) if _price(lease) is not None else None, price_unit=_unit(lease),
        gpus=int(_block(at_break_even, name)["gpus"].sum()),
        flags=plausibility(inst, block, economics["implied_price_per_gpu_hour"]),
        displaced=displacement(accepted, rejected, inst.T), accepted_plan=accepted, rejected_plan=rejected,
        **economics,
    )


def _unit(lease: Lease) -> str:
    return "per period" if lease.payment_per_period is not None else "per GPU-hour"


def _price(lease: Lease) -> float | None:
    """The offer's price in its own unit; a per-generation mapping is scaled as a whole, so its
    break-even is reported as the mapping's mean price (the factor applies to every entry)."""
    if lease.payment_per_period is not None:
        return lease.payment_per_period
    if isinstance(lease.price_per_gpu_hour, dict):
        return float(np.mean(list(lease.price_per_gpu_hour.values())))
    return lease.price_per_gpu_hour


def _block(plan: PlanResult, name: str) -> pd.DataFrame:
    """GPUs per (site, generation) the offer holds in one period of its term."""
    a = plan.allocations
    rows = a[(a["use"] == "lease") & (a["consumer"] == name)]
    if rows.empty:
        return pd.DataFrame(columns=["site", "generation", "gpus"])
    first = rows["period"].min()
    return rows[rows["period"] == first].groupby(["site", "generation"], as_index=False)["gpus"].sum()


def unit_economics(inst: Instance, lease: Lease, block: pd.DataFrame, plan: PlanResult) -> dict[str, float | None]:
    """$/GPU-hour, $/MW-month, revenue over the term, payback against capex and depreciation."""
    H = inst.horizon.period_hours
    term = len(inst.window(lease))
    gens = {g.name: g for g in inst.generations}
    pue = {s.name: s.pue for s in inst.sites}
    gpus = int(block["gpus"].sum())
    per_period = payment_per_period(inst, lease, block)
    mw = float((block["gpus"] * block["generation"].map(lambda g: gens[g].power_kw)
                * block["site"].map(pue)).sum() / 1000.0)
    capex = [gens[g].capex_per_gpu for g in block["generation"]]
    years = [gens[g].depreciation_years for g in block["generation"]]
    implied = per_period / (gpus * H) if gpus else None
    payback = depreciation = None
    if gpus and all(c is not None for c in capex):
        fleet_capex = float((block["gpus"] * np.array(capex, dtype=float)).sum())
        payback = fleet_capex / per_period * H / HOURS_PER_MONTH if per_period > 0 else None
        if all(y is not None for y in years):
            hourly = float((block["gpus"] * np.array(capex, dtype=float) / (np.array(years, dtype=float) * 8760)).sum())
            depreciation = per_period / H / hourly if hourly > 0 else None
    return {
        "implied_price_per_gpu_hour": implied,
        "price_per_mw_month": per_period / mw * HOURS_PER_MONTH / H if mw > 0 else None,
        "revenue_over_term": per_period * term,
        "discounted_revenue": _revenue(plan, lease.name),
        "payback_months": payback,
        "depreciation_cover": depreciation,
    }


def market_bands() -> dict[str, dict[str, float]]:
    """Rental price bands per generation (USD/GPU-hour), shipped with the package (see data/SOURCES.md)."""
    with BANDS_CSV.open(newline="") as fh:
        return {
            row["generation"].upper(): {k: float(row[k]) for k in
                                        ("rent_contract_low", "rent_contract_high", "rent_on_demand_low", "rent_on_demand_high")
                                        if row[k]}
            for row in csv.DictReader(fh)
        }


def plausibility(inst: Instance, block: pd.DataFrame, implied: float | None) -> list[str]:
    """Flag an implied price far outside the market band of the block's generations."""
    if implied is None or block.empty or inst.currency != "USD":
        return []
    bands = market_bands()
    known = [bands[g.upper()] for g in block["generation"] if g.upper() in bands]
    highs = [b["rent_on_demand_high"] for b in known if "rent_on_demand_high" in b]
    lows = [b["rent_contract_low"] for b in known if "rent_contract_low" in b]
    flags = []
    if highs and implied > TOO_HIGH * max(highs):
        flags.append(
            f"implied price {implied:,.2f} USD/GPU-hour is {implied / max(highs):.0f}x the top of the market band "
            f"(on-demand up to {max(highs):.2f} USD/GPU-hour for these generations): check the units "
            f"(per month vs per year, a misplaced digit)")
    if lows and implied < TOO_LOW * min(lows):
        flags.append(
            f"implied price {implied:,.2f} USD/GPU-hour is below half the bottom of the market band "
            f"(multi-year contracts from {min(lows):.2f} USD/GPU-hour for these generations)")
    return flags


def displacement(accepted: PlanResult, rejected: PlanResult, periods: int) -> pd.DataFrame:
    """What the offer displaces: GPUs per (use, consumer, generation), averaged over periods."""
    def totals(plan: PlanResult) -> pd.Series:
        a = plan.allocations.fillna({"consumer": "-"})
        return a.groupby(["use", "consumer", "generation"])["gpus"].sum() / periods

    both = pd.concat({"with_offer": totals(accepted), "without_offer": totals(rejected)}, axis=1).fillna(0.0)
    both["change"] = both["with_offer"] - both["without_offer"]
    return both[both["change"].abs() > 1e-9].reset_index()
