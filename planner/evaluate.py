"""Is a lease offer worth taking? Value against the best alternative use, break-even price,
implied unit economics and a plausibility check against market price bands.

An offer is evaluated at the block the lessee asks for: exactly its `max_gpus` (or a block the
caller names), at its best block when it has no `max_gpus`, and at every usable GPU of its sites
for `whole_sites`. Its value is objective(offer forced in at that block) - objective(offer
removed), all else re-optimised. With the block's size fixed, the accepted objective is linear in
the offer's price (convex piecewise-linear for a per-generation mapping, whose mix may still
change), so Newton's method lands exactly on the break-even price for that block.
"""

from __future__ import annotations

import csv
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from planner import ranges
from planner.api import solve
from planner.batch import run_batch
from planner.instance import Instance, InstanceError, Lease
from planner.results import PlanResult

BANDS_CSV = Path(__file__).parent / "data" / "market_bands.csv"
TOO_HIGH = 3.0  # x the on-demand price of the dearest generation in the block
TOO_LOW = 0.5  # x the contract price of the cheapest generation in the block
HOURS_PER_MONTH = 730.0


class OfferError(ValueError):
    """A requested block that the offer's own terms rule out: bad input, not a planning outcome."""


@dataclass
class OfferEvaluation:
    offer: str
    decision: str  # "accept" or "reject"; "signed" for a contract that must be honoured
    value: float | None  # objective_accepted - objective_rejected; None when the offer cannot be accepted
    objective_accepted: float | None
    objective_rejected: float | None
    break_even_price: float | None
    price_unit: str  # "per GPU-hour" or "per period"
    gpus: int  # the block the break-even assumes: block_gpus, whose size the break-even keeps (older key)
    implied_price_per_gpu_hour: float | None
    price_per_mw_month: float | None
    revenue_over_term: float  # undiscounted
    discounted_revenue: float
    payback_months: float | None
    depreciation_cover: float | None  # implied price / straight-line depreciation per GPU-hour
    block_gpus: int = 0  # the block evaluated (GPUs per period): every figure above is for it
    block_basis: str = ""  # why that block: "max_gpus", "--gpus", "best block", "whole sites"
    best_block_gpus: int | None = None  # the block worth most within [min_gpus, max_gpus] (None: none feasible)
    best_block_value: float | None = None  # its value against the same alternative
    signed: bool = False  # a signed contract: its value is what honouring it is worth (negative: its cost)
    flags: list[str] = field(default_factory=list)
    displaced: pd.DataFrame = field(default_factory=pd.DataFrame)
    accepted_plan: PlanResult | None = None
    rejected_plan: PlanResult | None = None

    def to_dict(self) -> dict[str, Any]:
        keys = ("offer", "decision", "value", "break_even_price", "price_unit", "gpus", "implied_price_per_gpu_hour",
                "price_per_mw_month", "revenue_over_term", "discounted_revenue", "payback_months",
                "depreciation_cover", "objective_accepted", "objective_rejected", "block_gpus", "block_basis",
                "best_block_gpus", "best_block_value", "signed", "flags")
        out = {k: getattr(self, k) for k in keys}
        out["displaced"] = self.displaced.to_dict("records")
        return out


def named_lease(inst: Instance, name: str) -> Lease:
    """inst.lease(name) as the entry points' ValueError, naming the leases there are (a bare StopIteration
    escaped before)."""
    try:
        return inst.lease(name)
    except KeyError:
        names = ", ".join(x.name for x in inst.leases) or "none"
        raise ValueError(f"no lease {name!r} in {inst.name} (its leases: {names})") from None


def with_offer(inst: Instance, offer: Lease | str, accepted: bool, gpus: int | None = None) -> Instance:
    """A copy of the instance with the offer removed, or forced in (signed) at a block of exactly
    `gpus` GPUs; with `gpus` None the block is free within the offer's terms (a per-GPU offer holds
    at least one GPU)."""
    name = offer if isinstance(offer, str) else offer.name
    others = [lease for lease in inst.leases if lease.name != name]
    if not accepted:
        return inst.model_copy(update={"leases": others})
    base = next(lease for lease in inst.leases if lease.name == name) if isinstance(offer, str) else offer
    update: dict[str, Any] = {"signed": True}
    if gpus is not None:
        update.update(min_gpus=gpus, max_gpus=gpus)
    elif base.payment_per_period is None:
        update["min_gpus"] = max(base.min_gpus, 1)
    return inst.model_copy(update={"leases": [*others, base.model_copy(update=update)]})


def requested_block(inst: Instance, lease: Lease, gpus: int | None) -> tuple[int | None, str]:
    """The block the lessee asks for and why: `gpus` when given, else `max_gpus`; None (the block is
    the optimiser's) for a whole-site lease or an offer without `max_gpus`. Raises OfferError for a
    `gpus` the offer's terms or its generations' node sizes rule out."""
    if gpus is None:
        if lease.whole_sites:
            return None, "whole sites"
        return (lease.max_gpus, "max_gpus") if lease.max_gpus is not None else (None, "best block")
    if lease.whole_sites:
        raise OfferError(f"--gpus: {lease.name} is a whole_sites lease: its block is every usable GPU at its sites")
    if lease.all_or_nothing and gpus != lease.max_gpus:
        raise OfferError(f"--gpus: {lease.name} is all_or_nothing: its block is exactly max_gpus {lease.max_gpus:,}")
    top = "unbounded" if lease.max_gpus is None else f"{lease.max_gpus:,}"
    if gpus < max(lease.min_gpus, 1) or (lease.max_gpus is not None and gpus > lease.max_gpus):
        raise OfferError(f"--gpus: {gpus:,} is outside {lease.name}'s block [min_gpus {lease.min_gpus:,}, max_gpus {top}]")
    sizes = [inst.generations[g].node_size for g in inst.allowed_generations(lease)]
    if sizes and gpus % math.gcd(*sizes):
        raise OfferError(f"--gpus: {gpus:,} is not a whole number of nodes of {lease.name}'s generations "
                         f"(node_size {', '.join(map(str, sorted(set(sizes))))})")
    return gpus, "--gpus"


def solve_each(instances: list[Instance], solver: str, workers: int | None = 1, cluster: str | None = None,
               **options: Any) -> list[PlanResult]:
    """Independent solves an evaluation needs, through the one parallel seam (planner.batch): in this
    process by default (a library call spawns nothing unless asked), `workers` processes or a cluster."""
    return run_batch(functools.partial(solve_one, solver=solver, **options), instances, workers=workers, cluster=cluster)


def solve_one(inst: Instance, solver: str, **options: Any) -> PlanResult:
    """planner.solve as a module-level function of the instance alone (what a batch worker runs)."""
    return solve(inst, solver=solver, **options)


def with_price(inst: Instance, name: str, factor: float) -> Instance:
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


def held_periods(inst: Instance, lease: Lease, plan: PlanResult) -> range:
    """The periods the plan holds the lease: its term, up to the plan's end where the operator ends it."""
    window = inst.window(lease)
    end = next((e["period"] for e in plan.lease_ends or [] if e["lease"] == lease.name), window.stop)
    return range(window.start, end)


def known_equal(plan: PlanResult, other: PlanResult) -> float:
    """How far apart two plans' objectives may be and still be equal as far as their solves know:
    each one's proven gap of its value (1e-9 of it when proven exactly, or when it has no bound)."""
    return sum(max(1e-9, p.mip_gap or 0.0) * max(1.0, abs(p.objective)) for p in (plan, other))


BEYOND_PRICES = (f"no break-even price within the supported ones (up to {ranges.PRICE.hi:g} per GPU-hour, "
                 f"{ranges.PAYMENT.hi:g} per period)")


def price_root(accepted: Instance, name: str, rejected: PlanResult, plan: PlanResult,
               slope: Callable[[PlanResult, float], float], lowest: Callable[[float], float],
               solver: str, max_steps: int, options: dict) -> tuple[float, PlanResult | None]:
    """Newton over the offer's price factor f on A(f) - R, A(f) the best objective with offer `name`
    forced into `accepted` at its price x f, R the rejected plan's; `slope(plan, f)` is dA/df with the
    plan fixed, and no step goes below `lowest(f)`. It stops once A and R are equal within their solves'
    gaps: asked for 1e-9, solves cut short by a time limit at 3e-6 (S inference seed 3, 20 s each)
    took all 30 steps, 10 minutes an offer. It stops at a re-solve without a plan, and returns it; the
    plan is None when a step asks for a price outside the supported range (an offer that loses money
    for the one period its plan holds it stepped to 1.9e6 per GPU-hour, and the re-solve raised)."""
    factor = 1.0
    for _ in range(max_steps):
        excess = plan.objective - rejected.objective
        if abs(excess) <= known_equal(plan, rejected) or factor == 0.0:
            break
        step = slope(plan, factor)
        if step <= 0:
            break
        factor = max(lowest(factor), factor - excess / step)
        try:
            plan = solve(with_price(accepted, name, factor), solver=solver, **options)
        except InstanceError:
            return factor, None
        if not plan.status.has_solution:
            break
    return factor, plan


def break_even_factor(accepted: Instance, lease: Lease, rejected: PlanResult, plan: PlanResult,
                      solver: str, max_steps: int = 30, **options: Any) -> tuple[float | None, PlanResult | None]:
    """The price factor at which the offer's block is worth its best alternative (None, None when that is
    above the supported prices: planner.ranges). A is convex piecewise-linear, so from any start the
    iterates reach the root from above. The root is at least 0 (at price 0 the offer's GPUs earn what
    idle ones do), so a step below 0 is rounding: it stops at 0 (S mixed seed 2 stepped to -2.5e-15,
    and the re-solve refused a negative price)."""
    def slope(at: PlanResult, factor: float) -> float:
        """dA/df with the plan fixed: its revenue from the offer over f (the periods it holds the offer; a
        plan that ends it early earns over fewer, and the whole term's slope sent Newton 13% past the root)."""
        return _revenue(at, lease.name) / factor

    factor, at_root = price_root(accepted, lease.name, rejected, plan, slope, lambda _f: 0.0, solver, max_steps,
                                 options)
    if at_root is None:
        return None, None
    if not at_root.status.has_solution:
        raise RuntimeError(f"re-solve at price factor {factor:g} returned {at_root.status.value}")
    return factor, at_root


def evaluate_offer(inst: Instance, offer: Lease | str, solver: str = "highs", gpus: int | None = None,
                   workers: int | None = 1, cluster: str | None = None, **options: Any) -> OfferEvaluation:
    """Solve with the offer removed and forced in at the requested block (and at its best block when
    that may differ); value, break-even and economics, all for the requested block. `options`
    (time_limit, threads, progress, ...) go to every solve, as planner.solve takes them; the
    independent solves go through planner.batch (`workers`, `cluster`)."""
    if inst.uncertainty is not None:
        raise ValueError(f"{inst.name} has scenarios (SPEC section 6): evaluate its offers with "
                         "planner.evaluate_under_uncertainty, on F (its removed offer drops from every scenario)")
    name = offer if isinstance(offer, str) else offer.name
    lease = offer if isinstance(offer, Lease) else named_lease(inst, name)
    block_gpus, basis = requested_block(inst, lease, gpus)
    instances = [with_offer(inst, offer, accepted=False), with_offer(inst, offer, accepted=True, gpus=block_gpus)]
    if block_gpus is not None and not lease.all_or_nothing:
        instances.append(with_offer(inst, offer, accepted=True))
    rejected, accepted, *best = solve_each(instances, solver, workers, cluster, **options)
    if not rejected.status.has_solution:
        raise ValueError(f"the instance without {name} is {rejected.status.value}: nothing to compare against")
    best_plan = next((p for p in best if p.status.has_solution), accepted if accepted.status.has_solution else None)
    best_fields = {
        "best_block_gpus": None if best_plan is None else int(_block(best_plan, name)["gpus"].sum()),
        "best_block_value": None if best_plan is None else best_plan.objective - rejected.objective,
        "block_basis": basis, "signed": lease.signed,
    }
    if not accepted.status.has_solution:
        at = "" if block_gpus is None else f" at a block of {block_gpus:,} GPUs"
        return OfferEvaluation(
            offer=name, decision="signed" if lease.signed else "reject", value=None, objective_accepted=None,
            objective_rejected=rejected.objective, break_even_price=None, price_unit=_unit(lease), gpus=0,
            implied_price_per_gpu_hour=None, price_per_mw_month=None, revenue_over_term=0.0, discounted_revenue=0.0,
            payback_months=None, depreciation_cover=None, block_gpus=block_gpus or 0,
            flags=[f"{name} cannot be accepted{at}: the plan with it is {accepted.status.value}"],
            accepted_plan=accepted, rejected_plan=rejected, **best_fields,
        )
    block = _block(accepted, name)
    fixed = instances[1] if lease.whole_sites else with_offer(inst, offer, accepted=True, gpus=int(block["gpus"].sum()))
    forced = next(lease for lease in fixed.leases if lease.name == name)
    value = accepted.objective - rejected.objective
    factor, at_break_even = break_even_factor(fixed, forced, rejected, accepted, solver, **options)
    beyond = [] if factor is not None else [BEYOND_PRICES]
    economics = unit_economics(inst, forced, block, accepted)
    return OfferEvaluation(
        offer=name, decision=decision(value, lease.signed), value=value,
        objective_accepted=accepted.objective, objective_rejected=rejected.objective,
        break_even_price=None if factor is None or quoted_price(lease) is None else factor * quoted_price(lease),
        price_unit=_unit(lease), gpus=int(_block(at_break_even or accepted, name)["gpus"].sum()),
        block_gpus=int(block["gpus"].sum()), flags=beyond + plausibility(inst, block, economics["implied_price_per_gpu_hour"]),
        displaced=displacement(accepted, rejected, inst.T), accepted_plan=accepted, rejected_plan=rejected,
        **best_fields, **economics,
    )


def decision(value: float, signed: bool) -> str:
    """A signed contract is honoured whatever it is worth; an offer is taken when it adds value."""
    if signed:
        return "signed"
    return "accept" if value > 0 else "reject"


def _unit(lease: Lease) -> str:
    return "per period" if lease.payment_per_period is not None else "per GPU-hour"


def quoted_price(lease: Lease) -> float | None:
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
    """$/GPU-hour, $/MW-month, revenue over the periods the plan holds the offer (its term, or up to
    the plan's end of it), payback against capex and depreciation."""
    H = inst.horizon.period_hours
    term = len(held_periods(inst, lease, plan))
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
