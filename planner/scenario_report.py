"""Human sections of a result with scenarios (SPEC section 6): the decision to make now first, then
what each scenario is worth and how its plan differs, then the risk figures."""

from __future__ import annotations

import pandas as pd

from planner.instance import Instance
from planner.report import Section, money, summary
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
