"""Human sections of a result with scenarios (SPEC section 6): the decision to make now first, then
what each scenario is worth and how its plan differs, then the risk figures."""

from __future__ import annotations

import pandas as pd

from planner.instance import Instance
from planner.report import Section, money, summary, unit_price
from planner.results import PlanResult

USES = ("training", "inference", "lease", "idle")


def decision(result: PlanResult, inst: Instance) -> Section:
    """Lease acceptance and blocks: the same in every scenario, so the part to sign now."""
    frame = result.leases.assign(
        accepted=result.leases["accepted"].map({True: "yes", False: "no"}),
        gpus=result.leases["gpus"].map(lambda v: f"{v:,}"),
        revenue=result.leases["revenue"].map(lambda v: money(v, inst.currency)),
    ).rename(columns={"gpus": "block GPUs", "revenue": "expected revenue"})
    return Section("Decision now (first stage, the same in every scenario)", frame)


def scenarios(result: PlanResult, inst: Instance) -> Section:
    """Each scenario's value, how its leases end, and its split (GPUs per use, average over periods)."""
    a = result.allocations
    per_use = a.groupby(["scenario", "use"])["gpus"].sum().unstack(fill_value=0).reindex(columns=list(USES), fill_value=0) / inst.T
    rows = []
    for sc in result.uncertainty["scenarios"]:
        ends = ", ".join(f"{e['lease']} at {e['period']} ({e['by']})" for e in sc["lease_ends"]) or "-"
        split = per_use.loc[sc["name"]] if sc["name"] in per_use.index else pd.Series(0, index=list(USES))
        rows.append({"scenario": sc["name"], "probability": f"{sc['probability']:g}",
                     "value": money(sc["objective"], inst.currency), "lease ends": ends,
                     **{f"{u} GPUs": f"{split[u]:,.0f}" for u in USES}})
    return Section("Scenarios (second stage: each re-optimised once known)", pd.DataFrame(rows))


def risk(result: PlanResult, inst: Instance) -> Section:
    """E[V], CVaR, the objective F they weigh, and the value of information and of the stochastic plan."""
    u, unc = result.uncertainty, inst.uncertainty
    rows = [("expected value E[V]", money(u["expected_objective"], inst.currency))]
    if "cvar" in u:
        rows.append((f"CVaR (worst {1 - unc.cvar_alpha:.0%} of probability)", money(u["cvar"], inst.currency)))
    rows.append((f"objective F = {1 - unc.risk_weight:g} E + {unc.risk_weight:g} CVaR", money(result.objective, inst.currency)))
    for key, label in (("evpi", "EVPI (value of knowing the scenario in advance)"),
                       ("vss", "VSS (value of planning for the scenarios)")):
        if key in u:
            rows.append((label, money(u[key], inst.currency)))
    return Section("Risk and the value of information", pd.DataFrame(rows, columns=["", "value"]))


def scenario_sections(result: PlanResult, inst: Instance) -> list[Section]:
    out = [summary(result, inst)]
    if result.status.has_solution:
        out += [decision(result, inst), scenarios(result, inst), risk(result, inst)]
    if result.warnings:
        out.append(Section("Warnings", pd.DataFrame({"warning": result.warnings})))
    return out


def evaluation_sections(ev, inst: Instance) -> list[Section]:
    """An offer under uncertainty: the decision on F, then what it is worth in each scenario."""
    cur = inst.currency
    block = "-" if ev.block_gpus is None else f"{ev.block_gpus:,} GPUs"
    rows = [
        ("decision", f"{ev.decision} {ev.offer} (block {block})"),
        ("value on F (accepted - rejected)", money(ev.value, cur)),
        ("F accepted / rejected", f"{money(ev.objective_accepted, cur)} / {money(ev.objective_rejected, cur)}"),
        ("probability that accepting loses", "-" if ev.probability_of_loss is None else f"{ev.probability_of_loss:.0%}"),
        (f"break-even price {ev.price_unit} (block {block})",
         (money(ev.break_even_price, cur) if ev.price_unit == "per period" else unit_price(ev.break_even_price, cur, 4))
         + ("" if ev.break_even_checked in (None, True) else " (not confirmed by re-solves at +-0.1%)")),
    ]
    if ev.termination_right_value is not None:
        rows.append(("value of the termination right", money(ev.termination_right_value, cur)))
    out = [Section(f"Offer {ev.offer} under uncertainty", pd.DataFrame(rows, columns=["", "value"]))]
    if ev.scenarios:
        frame = pd.DataFrame(ev.scenarios).assign(**{
            k: lambda f, k=k: f[k].map(lambda v: money(v, cur)) for k in ("accepted", "rejected", "value")})
        out.append(Section("Value of the offer in each scenario", frame.rename(columns={"name": "scenario"})))
    if ev.notes:
        out.append(Section("Notes", pd.DataFrame({"warning": ev.notes})))
    return out
