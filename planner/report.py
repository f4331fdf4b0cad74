"""Human views of a PlanResult: the same sections rendered as a rich table, markdown, JSON or CSV."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

import pandas as pd
from rich.console import Console
from rich.table import Table

from planner.instance import Instance
from planner.results import ALLOCATION_COLUMNS, PlanResult


@dataclass
class Section:
    title: str
    frame: pd.DataFrame


def money(value: float | None, currency: str = "USD") -> str:
    """$1.25B, $3.40M, $12,345: the unit a finance reader expects."""
    if value is None:
        return "-"
    sign, v = ("-" if value < 0 else ""), abs(value)
    unit = "$" if currency == "USD" else f"{currency} "
    if v >= 1e9:
        return f"{sign}{unit}{v / 1e9:,.2f}B"
    if v >= 1e6:
        return f"{sign}{unit}{v / 1e6:,.2f}M"
    return f"{sign}{unit}{v:,.0f}" if v >= 1e3 else f"{sign}{unit}{v:,.2f}"


def summary(result: PlanResult, inst: Instance) -> Section:
    gap = "-" if result.mip_gap is None else f"{result.mip_gap:.2e}"
    rows = [
        ("status", result.status.value + (" (verified)" if result.verified else "")),
        ("objective", money(result.objective, inst.currency)),
        ("best bound", money(result.best_bound, inst.currency)),
        ("MIP gap", gap),
        ("solver", f"{result.solver}, {result.solve_seconds:.2f} s solve + {result.build_seconds:.2f} s build"),
        ("horizon", f"{inst.T} period(s) of {inst.horizon.period_hours:g} h, discount {inst.horizon.discount_rate:g}/yr"),
    ]
    return Section(f"Plan for {inst.name}", pd.DataFrame(rows, columns=["", "value"]))


def breakdown(result: PlanResult, inst: Instance) -> Section:
    b = result.breakdown
    rows = [(k.replace("_", " "), money(-v if k == "energy_cost" else v, inst.currency)) for k, v in b.items()]
    rows.append(("net value", money(result.objective, inst.currency)))
    return Section("Value breakdown (discounted totals)", pd.DataFrame(rows, columns=["term", "value"]))


def split(result: PlanResult, inst: Instance) -> Section:
    """GPUs by site x generation x use, averaged over periods, with peak MW and total GPU-hours."""
    a = result.allocations
    kw = {g.name: g.power_kw for g in inst.generations}
    pue = {s.name: s.pue for s in inst.sites}
    a = a.assign(
        use=a["use"] + a["consumer"].map(lambda c: "" if pd.isna(c) else f": {c}"),
        mw=a["gpus"] * a["generation"].map(kw) * a["site"].map(pue) / 1000.0,
    )
    a.loc[a["use"] == "idle", "mw"] = 0.0
    grouped = a.groupby(["site", "generation", "use"], sort=False)
    frame = pd.DataFrame({
        "GPUs (avg)": grouped["gpus"].sum() / inst.T,
        "MW (peak)": grouped["mw"].max(),
        "GPU-hours": grouped["gpus"].sum() * inst.horizon.period_hours,
    }).reset_index()
    frame["GPUs (avg)"] = frame["GPUs (avg)"].map(lambda v: f"{v:,.0f}" if float(v).is_integer() else f"{v:,.1f}")
    frame["MW (peak)"] = frame["MW (peak)"].map(lambda v: f"{v:,.1f}")
    frame["GPU-hours"] = frame["GPU-hours"].map(lambda v: f"{v:,.0f}")
    return Section("Split of the fleet", frame)


def power(result: PlanResult, inst: Instance) -> Section:
    p = result.site_power
    frame = p.groupby("site", sort=False).agg(
        available=("mw_available", "first"), peak=("mw_drawn", "max"), headroom=("headroom_mw", "min"),
    ).reset_index()
    frame.columns = ["site", "MW available", "MW drawn (peak)", "headroom MW (min)"]
    for col in frame.columns[1:]:
        frame[col] = frame[col].map(lambda v: f"{v:,.1f}")
    return Section("Site power", frame)


def leases(result: PlanResult, inst: Instance) -> Section:
    frame = result.leases.copy()
    frame["accepted"] = frame["accepted"].map({True: "yes", False: "no"})
    frame["gpus"] = frame["gpus"].map(lambda v: f"{v:,}")
    frame["revenue"] = frame["revenue"].map(lambda v: money(v, inst.currency))
    return Section("Lease offers", frame)


def sections(result: PlanResult, inst: Instance) -> list[Section]:
    out = [summary(result, inst)]
    if result.status.has_solution:
        out += [breakdown(result, inst), split(result, inst), power(result, inst)]
        if len(result.leases):
            out.append(leases(result, inst))
    if result.warnings:
        out.append(Section("Warnings", pd.DataFrame({"warning": result.warnings})))
    return out


def render_table(result: PlanResult, inst: Instance, width: int | None = None) -> str:
    console = Console(file=io.StringIO(), width=width or 120, force_terminal=False)
    for sec in sections(result, inst):
        table = Table(title=sec.title, title_justify="left", show_header=sec.title.split()[0] != "Plan", min_width=44)
        for col in sec.frame.columns:
            table.add_column(str(col), justify="right" if col not in ("site", "generation", "use", "name", "lessee", "term", "", "warning") else "left")
        for row in sec.frame.itertuples(index=False):
            table.add_row(*("" if pd.isna(v) else str(v) for v in row))
        console.print(table)
    return console.file.getvalue()


def render_markdown(result: PlanResult, inst: Instance) -> str:
    parts = []
    for sec in sections(result, inst):
        cols = [str(c) or "item" for c in sec.frame.columns]
        lines = [f"### {sec.title}", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        lines += ["| " + " | ".join("" if pd.isna(v) else str(v) for v in row) + " |" for row in sec.frame.itertuples(index=False)]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def render_json(result: PlanResult) -> str:
    return json.dumps(result.to_dict(), indent=2) + "\n"


def render_csv(result: PlanResult) -> str:
    return result.allocations[ALLOCATION_COLUMNS].to_csv(index=False)


def render(result: PlanResult, inst: Instance, fmt: str) -> str:
    if fmt == "json":
        return render_json(result)
    if fmt == "csv":
        return render_csv(result)
    if fmt == "markdown":
        return render_markdown(result, inst)
    return render_table(result, inst)
