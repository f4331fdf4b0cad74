"""What a shared report shows, computed from a result document (SPEC section 5, and section 6's
`scenarios` when present) and its instance: one source for the HTML report and the workbook.

Everything here reads the JSON document, not a PlanResult, so a saved RESULT.json renders the
same as a fresh solve.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from planner.evaluate import market_bands, payment_per_period
from planner.instance import Instance, Lease
from planner.outcomes import inference_outcomes, training_outcomes
from planner.results import FEES, TERMS
from planner.scenarios import cases

USES = ("training", "inference", "lease", "idle")
GROUP = ["scenario", "site", "generation", "use", "period"]


def allocations(doc: dict[str, Any]) -> pd.DataFrame:
    """The allocation rows, with a `scenario` column (empty string for a plan without scenarios)."""
    frame = pd.DataFrame(doc.get("allocations") or [],
                         columns=["period", "site", "generation", "use", "consumer", "gpus", "scenario"])
    return frame.astype({"scenario": object}).fillna({"scenario": ""}).astype({"period": int, "gpus": int})


def scenario_names(doc: dict[str, Any]) -> list[str]:
    return [s["name"] for s in doc.get("scenarios") or []]


def scenario_instances(doc: dict[str, Any], inst: Instance) -> list[tuple[str, Instance]]:
    """(scenario, the instance its plan obeys): ("", inst) without scenarios; a scenario's `set` may change
    power, demand or prices, so each is read from its own instance (SPEC section 6)."""
    names = scenario_names(doc)
    if not names:
        return [("", inst)]
    own = {case.name: case.instance for case in cases(inst)} if inst.uncertainty is not None else {}
    return [(name, own.get(name, inst)) for name in names]


def scenario_column_if_any(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame without its `scenario` column when the plan has no scenarios (every value blank)."""
    return frame.drop(columns="scenario") if (frame["scenario"] == "").all() else frame


def gpus_by_use(doc: dict[str, Any]) -> pd.DataFrame:
    """GPUs per (scenario, site, generation, use, period), summed over consumers."""
    return allocations(doc).groupby(GROUP, as_index=False)["gpus"].sum()


def site_power(doc: dict[str, Any], inst: Instance) -> pd.DataFrame:
    """Facility MW drawn vs available per (scenario, site, period); idle GPUs draw nothing."""
    a = allocations(doc)
    return pd.concat([_site_power(a[a["scenario"] == name], own, name) for name, own in scenario_instances(doc, inst)],
                     ignore_index=True)


def _site_power(a: pd.DataFrame, inst: Instance, scenario: str) -> pd.DataFrame:
    kw = {g.name: g.power_kw for g in inst.generations}
    pue = {s.name: s.pue for s in inst.sites}
    running = a[a["use"] != "idle"]
    drawn = (running["gpus"] * running["generation"].map(kw) * running["site"].map(pue) / 1000.0)
    drawn = drawn.groupby([running["site"], running["period"]]).sum()
    grid = pd.MultiIndex.from_product([[s.name for s in inst.sites], range(inst.T)], names=["site", "period"])
    out = drawn.reindex(grid, fill_value=0.0).rename("mw_drawn").reset_index()
    out.insert(0, "scenario", scenario)
    out["mw_available"] = out["site"].map({s.name: s.power_mw for s in inst.sites})
    out["headroom_mw"] = out["mw_available"] - out["mw_drawn"]
    return out


def lease_block(doc: dict[str, Any], lease: Lease) -> pd.DataFrame:
    """GPUs per (site, generation) the lease holds in the first period it holds any (first stage: same in all)."""
    a = allocations(doc)
    rows = a[(a["use"] == "lease") & (a["consumer"] == lease.name)]
    rows = rows[rows["scenario"] == rows["scenario"].min()] if not rows.empty else rows
    first = rows[rows["period"] == rows["period"].min()] if not rows.empty else rows
    return first.groupby(["site", "generation"], as_index=False)["gpus"].sum()


def market_band(generations: list[str]) -> tuple[float | None, float | None]:
    """(lowest contract price, highest on-demand price) in USD/GPU-hour over these generations."""
    bands = market_bands()
    known = [bands[g.upper()] for g in generations if g.upper() in bands]
    lows = [b["rent_contract_low"] for b in known if "rent_contract_low" in b]
    highs = [b["rent_on_demand_high"] for b in known if "rent_on_demand_high" in b]
    return (min(lows) if lows else None), (max(highs) if highs else None)


def band_position(price: float | None, low: float | None, high: float | None) -> str:
    if price is None or low is None or high is None:
        return "-"
    return "below the band" if price < low else "above the band" if price > high else "within the band"


def leases(doc: dict[str, Any], inst: Instance) -> pd.DataFrame:
    """Each lease as the instance orders it: accepted, block, revenue, implied $/GPU-hour (at the file's price)
    vs the market band, and an early end (a plan without scenarios; theirs are listed per scenario)."""
    by_name = {row["name"]: row for row in doc.get("leases") or []}
    ends = {e["lease"]: f"period {e['period']} ({e['by']})" for e in doc.get("lease_ends") or []}
    rows = []
    for lease in inst.leases:
        row = by_name.get(lease.name, {"accepted": False, "gpus": 0, "revenue": 0.0})
        block = lease_block(doc, lease)
        gpus = int(block["gpus"].sum())
        implied = payment_per_period(inst, lease, block) / (gpus * inst.horizon.period_hours) if gpus else None
        usd = inst.currency == "USD"
        low, high = market_band(list(block["generation"])) if usd else (None, None)
        rows.append({
            "lease": lease.name, "lessee": lease.lessee or lease.name, "accepted": bool(row["accepted"]),
            "gpus": int(row["gpus"]),
            "block": ", ".join(f"{r.gpus:,} {r.generation} at {r.site}" for r in block.itertuples()) or "-",
            "revenue": float(row["revenue"]), "price_per_gpu_hour": implied,
            "band_low": low, "band_high": high, "vs_band": band_position(implied, low, high),
            "ends": ends.get(lease.name, "-"),
        })
    return pd.DataFrame(rows, columns=["lease", "lessee", "accepted", "gpus", "block", "revenue",
                                       "price_per_gpu_hour", "band_low", "band_high", "vs_band", "ends"])


def consumers(doc: dict[str, Any], inst: Instance) -> pd.DataFrame:
    """Each internal consumer in each scenario, from planner.outcomes: GPUs per period, and compute units
    (training) or units served vs demanded per tier (inference) per active period, averaged over its periods;
    a run not placed says what it lacked."""
    a = allocations(doc)
    frames = [pd.concat([_training(own, a[a["scenario"] == name]), _inference(own, a[a["scenario"] == name])],
                        ignore_index=True).assign(scenario=name) for name, own in scenario_instances(doc, inst)]
    out = pd.concat(frames, ignore_index=True)
    return out[["scenario", *CONSUMER_COLUMNS]]


CONSUMER_COLUMNS = ["consumer", "kind", "placed", "gpus", "tier", "value_per_unit_hour", "demand_units",
                    "served_units", "note"]


def _training(inst: Instance, a: pd.DataFrame) -> pd.DataFrame:
    out = training_outcomes(inst, a)
    return pd.DataFrame({
        "consumer": out["run"], "kind": "training", "placed": out["placed"], "gpus": out["gpus"], "tier": "-",
        "value_per_unit_hour": [run.value_per_unit_hour for run in inst.training],
        "demand_units": [run.max_units for run in inst.training], "served_units": out["units"], "note": out["why"],
    }, columns=CONSUMER_COLUMNS)


def _inference(inst: Instance, a: pd.DataFrame) -> pd.DataFrame:
    per_tier = inference_outcomes(inst, a).groupby(["pool", "tier"], sort=False).agg(
        value_per_unit_hour=("value_per_unit_hour", "first"), demand_units=("demand", "mean"),
        served_units=("served", "mean")).reset_index()
    serving = a[a["use"] == "inference"]
    gpus = {pool.name: serving.loc[serving["consumer"] == pool.name, "gpus"].sum() / len(inst.window(pool))
            for pool in inst.inference}
    return pd.DataFrame({
        "consumer": per_tier["pool"], "kind": "inference", "placed": per_tier["pool"].map(gpus) > 0,
        "gpus": per_tier["pool"].map(gpus), "tier": per_tier["tier"] + 1,
        "value_per_unit_hour": per_tier["value_per_unit_hour"], "demand_units": per_tier["demand_units"],
        "served_units": per_tier["served_units"], "note": None,
    }, columns=CONSUMER_COLUMNS)


def split_by_scenario(doc: dict[str, Any], inst: Instance) -> pd.DataFrame:
    """Average GPUs per use in each scenario (columns: scenario, training, inference, lease, idle)."""
    a = allocations(doc)
    totals = a.groupby(["scenario", "use"])["gpus"].sum().unstack(fill_value=0) / inst.T
    return totals.reindex(columns=list(USES), fill_value=0).reset_index()


def scenarios(doc: dict[str, Any]) -> pd.DataFrame:
    """Each scenario's probability, value V_s and its breakdown (SPEC section 6 "Result")."""
    rows = []
    for s in doc.get("scenarios") or []:
        ends = ", ".join(f"{e['lease']} ends at {e['period']} ({e['by']})" for e in s.get("lease_ends") or [])
        rows.append({"scenario": s["name"], "probability": s["probability"], "objective": s["objective"],
                     **{t: s.get("breakdown", {}).get(t, 0.0) for t in (*TERMS, FEES)},
                     "lease_ends": ends or "-"})
    return pd.DataFrame(rows, columns=["scenario", "probability", "objective", *TERMS, FEES, "lease_ends"])


def accepted_names(doc: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(accepted, rejected) lease names, in the result's order."""
    rows = doc.get("leases") or []
    return [r["name"] for r in rows if r["accepted"]], [r["name"] for r in rows if not r["accepted"]]
