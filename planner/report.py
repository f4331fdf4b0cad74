"""Human views of a PlanResult: the same sections rendered as a rich table, markdown, JSON or CSV."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

import pandas as pd
from rich.console import Console
from rich.table import Table

from planner.evaluate import OfferEvaluation
from planner.instance import Instance, period_runs
from planner.outcomes import INFERENCE_COLUMNS
from planner.results import PlanResult


@dataclass
class Section:
    title: str
    frame: pd.DataFrame


def _symbol(currency: str) -> str:
    return "$" if currency == "USD" else f"{currency} "


def money(value: float | None, currency: str = "USD") -> str:
    """$1.25B, $3.40M, $12,345: the unit a finance reader expects."""
    if value is None:
        return "-"
    sign, v = ("-" if value <= -0.005 else ""), abs(value)  # no "-$0.00" for a value that rounds to zero
    unit = _symbol(currency)
    if v >= 1e9:
        return f"{sign}{unit}{v / 1e9:,.2f}B"
    if v >= 1e6:
        return f"{sign}{unit}{v / 1e6:,.2f}M"
    return f"{sign}{unit}{v:,.0f}" if v >= 1e3 else f"{sign}{unit}{v:,.2f}"


def unit_price(value: float | None, currency: str = "USD", decimals: int = 2) -> str:
    """$2.4000: a price per GPU-hour, with the precision a break-even needs."""
    if value is None:
        return "-"
    return f"{'-' if value < 0 else ''}{_symbol(currency)}{abs(value):,.{decimals}f}"


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


USE_ORDER = {"training": 0, "inference": 1, "lease": 2, "idle": 3}


def periods_label(first: int, last: int) -> str:
    return str(first) if first == last else f"{first}-{last}"


def count(value: float) -> str:
    """Whole numbers as such (GPUs always are); served units may be fractional."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def in_instance_order(a: pd.DataFrame, inst: Instance) -> pd.DataFrame:
    """Rows by period, then sites and generations as written, uses training, inference, lease, idle,
    and consumers as written (whichever of these columns the frame has)."""
    consumers = {use: {c.name: k for k, c in enumerate(items)}
                 for use, items in (("training", inst.training), ("inference", inst.inference), ("lease", inst.leases))}
    order = pd.DataFrame({
        "period": a.get("period", 0),
        "site": a["site"].map({s.name: k for k, s in enumerate(inst.sites)}) if "site" in a else 0,
        "use": a["use"].map(USE_ORDER),
        "consumer": [consumers.get(u, {}).get(c, -1) for u, c in zip(a["use"], a["consumer"])],
        "generation": a["generation"].map({g.name: k for k, g in enumerate(inst.generations)}),
    }, index=a.index)
    keys = ["period", "site", "generation", "use", "consumer"] if "site" in a else ["use", "consumer", "generation"]
    return a.loc[order.sort_values(keys, kind="stable").index]


def period_blocks(a: pd.DataFrame, columns: list[str], T: int) -> list[tuple[int, int]]:
    """Maximal runs of consecutive periods in which these rows are identical."""
    rows = {t: tuple(map(tuple, frame[columns].itertuples(index=False))) for t, frame in a.groupby("period")}
    return [(first, last) for _, first, last in period_runs([rows.get(t) for t in range(T)])]


def runs(frame: pd.DataFrame, keys: list[str], values: list[str]) -> pd.DataFrame:
    """Consecutive periods with equal values merged, per key (keys kept in the frame's order):
    the frame's columns with `period` replaced by `periods` ("0-11")."""
    key = frame.groupby(keys, sort=False).ngroup()
    f = frame.assign(_key=key).sort_values(["_key", "period"], kind="stable")
    new = (f["_key"].diff() != 0) | (f["period"].diff() != 1) | (f[values].shift() != f[values]).any(axis=1)
    run = new.cumsum()
    out = f.groupby(run).first()
    out["periods"] = [periods_label(a, b) for a, b in zip(out["period"], f.groupby(run)["period"].last())]
    return out[["periods", *[c for c in frame.columns if c != "period"]]].reset_index(drop=True)


def split(result: PlanResult, inst: Instance) -> Section:
    """GPUs by site x generation x use in each period (periods with the same split shown once), with
    facility MW and GPU-hours; rows in instance order."""
    a = in_instance_order(result.allocations, inst)
    kw = {g.name: g.power_kw for g in inst.generations}
    pue = {s.name: s.pue for s in inst.sites}
    a = a.assign(
        use=a["use"] + a["consumer"].map(lambda c: "" if pd.isna(c) else f": {c}"),
        mw=(a["use"] != "idle") * a["gpus"] * a["generation"].map(kw) * a["site"].map(pue) / 1000.0,
    )
    a = a.groupby(["period", "site", "generation", "use"], sort=False, as_index=False)[["gpus", "mw"]].sum()
    rows = []
    for first, last in period_blocks(a, ["site", "generation", "use", "gpus"], inst.T):
        for r in a[a["period"] == first].itertuples(index=False):
            rows.append((periods_label(first, last), r.site, r.generation, r.use, f"{r.gpus:,}", f"{r.mw:,.1f}",
                         f"{r.gpus * inst.horizon.period_hours * (last - first + 1):,.0f}"))
    return Section("Split of the fleet per period (periods with the same split shown once)",
                   pd.DataFrame(rows, columns=["periods", "site", "generation", "use", "GPUs", "MW", "GPU-hours"]))


def power(result: PlanResult, inst: Instance) -> Section:
    """Facility MW drawn and headroom per site and period (periods with the same draw shown once)."""
    p = result.site_power.assign(mw_drawn=result.site_power["mw_drawn"].round(6))
    frame = runs(p[["site", "period", "mw_available", "mw_drawn", "headroom_mw"]], ["site"], ["mw_drawn"])
    frame.columns = ["periods", "site", "MW available", "MW drawn", "headroom MW"]
    for col in frame.columns[2:]:
        frame[col] = frame[col].map(lambda v: f"{v:,.1f}")
    return Section("Site power per period", frame[["site", "periods", "MW available", "MW drawn", "headroom MW"]])


def training(result: PlanResult, inst: Instance) -> Section:
    """Each training run: placed (GPUs and units per period, where) or what it lacked."""
    rows = [
        ("yes" if r["placed"] else "no", r["run"], f"{r['gpus']:,}", count(r["units"]),
         f"{' + '.join(r['generations'])} at {' + '.join(r['sites'])}" if r["placed"] else "", r["why"] or "")
        for r in result.consumers["training"]
    ]
    return Section("Training runs (per period of their term)",
                   pd.DataFrame(rows, columns=["placed", "name", "GPUs", "units", "on", "why not"]))


def inference(result: PlanResult, inst: Instance) -> Section:
    """Each pool's served and unserved units per tier (tiers as written) and period."""
    frame = pd.DataFrame(result.consumers["inference"], columns=INFERENCE_COLUMNS)
    frame = runs(frame, ["pool", "tier"], ["demand", "served"])
    rows = [(r.pool, unit_price(r.value_per_unit_hour, inst.currency), r.periods, count(r.demand), count(r.served),
             count(r.unserved)) for r in frame.itertuples(index=False)]
    return Section("Inference served per tier and period (units)",
                   pd.DataFrame(rows, columns=["pool", "tier value per unit-hour", "periods", "demand", "served",
                                               "unserved"]))


def leases(result: PlanResult, inst: Instance) -> Section:
    frame = result.leases.copy()
    frame["accepted"] = frame["accepted"].map({True: "yes", False: "no"})
    frame["gpus"] = frame["gpus"].map(lambda v: f"{v:,}")
    frame["revenue"] = frame["revenue"].map(lambda v: money(v, inst.currency))
    return Section("Lease offers", frame)


SHADOW_ROWS = 20  # the most shadow prices a table shows
MAX_ROWS = 200  # the most rows of a per-period table: a terminal page, not a data dump


def truncated(sec: Section, most: int = MAX_ROWS) -> Section:
    """At most `most` rows, and a title that says how many were left out and where they all are."""
    if len(sec.frame) <= most:
        return sec
    return Section(f"{sec.title} (first {most} of {len(sec.frame):,} rows; --format json has them all)",
                   sec.frame.head(most))


def shadow_prices(result: PlanResult, inst: Instance) -> list[Section]:
    """Marginal values, largest first: where one more MW or node is worth the most. A table says when
    every price is zero, and how many it leaves out."""
    out = []
    for name, unit, what in (("power", "per_mw", "one more MW of facility power for a period"),
                             ("inventory", "per_node", "one more node for a period")):
        frame = result.shadow_prices[name]
        column = f"value_{unit}"
        nonzero = frame[frame[column].abs() > 1e-9].sort_values(column, ascending=False)
        title = f"Shadow prices: {what} (local)"
        if nonzero.empty:
            more = "MW at any site" if name == "power" else "node of any generation at any site"
            out.append(Section(title, pd.DataFrame({"note": [
                f"every {name} shadow price is zero ({len(frame)} of them): one more {more} adds nothing in any period"]})))
            continue
        shown = nonzero.head(SHADOW_ROWS)
        shown = shown.assign(**{column: [money(v, inst.currency) for v in shown[column]]})
        notes = [f"top {len(shown)} of {len(nonzero)} non-zero"] if len(nonzero) > len(shown) else []
        notes += [f"{len(frame) - len(nonzero)} zero not shown"] if len(frame) > len(nonzero) else []
        out.append(Section(f"{title} ({'; '.join(notes)})" if notes else title, shown))
    return out


def sections(result: PlanResult, inst: Instance) -> list[Section]:
    """The plan as a planner reads it: status, value, split, power, internal consumers, leases, shadow
    prices, warnings."""
    if result.uncertainty is not None:
        from planner.scenario_report import scenario_sections  # it builds on this module's sections

        return scenario_sections(result, inst)
    out = [summary(result, inst)]
    if result.status.has_solution:
        out += [breakdown(result, inst), truncated(split(result, inst)), power(result, inst)]
        if result.consumers is not None and inst.training:
            out.append(training(result, inst))
        if result.consumers is not None and inst.inference:
            out.append(truncated(inference(result, inst)))
        if len(result.leases):
            out.append(leases(result, inst))
        if result.shadow_prices is not None:
            out += shadow_prices(result, inst)
    if result.warnings:
        out.append(Section("Warnings", pd.DataFrame({"warning": result.warnings})))
    return out


LEFT = ("site", "generation", "use", "name", "lessee", "term", "", "warning", "consumer", "offer", "flag", "block",
        "periods", "pool", "on", "why not", "note", "placed")


def render_table(parts: list[Section], width: int | None = None) -> str:
    console = Console(file=io.StringIO(), width=width or 120, force_terminal=False)
    for sec in parts:
        table = Table(title=sec.title, title_justify="left", show_header=bool(sec.frame.columns[0]), min_width=44)
        for col in sec.frame.columns:
            table.add_column(str(col), justify="left" if col in LEFT else "right")
        for row in sec.frame.itertuples(index=False):
            table.add_row(*("" if pd.isna(v) else str(v) for v in row))
        console.print(table)
    return console.file.getvalue()


def render_markdown(parts: list[Section]) -> str:
    out = []
    for sec in parts:
        cols = [_cell(c) or "item" for c in sec.frame.columns]
        lines = [f"### {' '.join(str(sec.title).splitlines())}", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in sec.frame.itertuples(index=False)]
        out.append("\n".join(lines))
    return "\n\n".join(out) + "\n"


def _cell(value: object) -> str:
    """A markdown table cell: a `|` or a line break in a name (a user's string) must not end the cell or row."""
    text = "" if pd.isna(value) else str(value)
    return "<br>".join(text.replace("\\", "\\\\").replace("|", "\\|").splitlines())


def render_document(document: dict, parts: list[Section], fmt: str) -> str:
    """json: the document itself; table/markdown: its human sections."""
    if fmt == "json":
        return json.dumps(document, indent=2, default=_jsonable) + "\n"
    return render_markdown(parts) if fmt == "markdown" else render_table(parts)


def _jsonable(value: object) -> object:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def render(result: PlanResult, inst: Instance, fmt: str) -> str:
    if fmt == "csv":
        return result.allocations[result.allocation_columns()].to_csv(index=False)
    return render_document(result.to_dict(), sections(result, inst), fmt)


def evaluation_sections(ev: OfferEvaluation, inst: Instance) -> list[Section]:
    """The offer decision first, then its economics, warnings and what it displaces; every figure
    beside the block it is for."""
    cur = inst.currency
    block = f"{ev.block_gpus:,} GPUs"
    price = money(ev.break_even_price, cur) if ev.price_unit == "per period" else unit_price(ev.break_even_price, cur, 4)
    worth = "value of honouring it (signed: with - without; negative = its cost)" if ev.signed else "value of the offer"
    rows = [
        ("decision", "signed: must be honoured" if ev.signed else ev.decision, block),
        (worth, money(ev.value, cur), f"{block} vs offer removed"),
        ("objective with it", money(ev.objective_accepted, cur), block),
        ("objective without it", money(ev.objective_rejected, cur), "offer removed"),
        (f"break-even price ({ev.price_unit})", price, block),
        ("implied price per GPU-hour", unit_price(ev.implied_price_per_gpu_hour, cur), block),
        ("price per MW-month of facility power", money(ev.price_per_mw_month, cur), block),
        ("revenue over the term (undiscounted)", money(ev.revenue_over_term, cur), block),
        ("revenue over the term (discounted)", money(ev.discounted_revenue, cur), block),
        ("payback of the block's capex", "-" if ev.payback_months is None else f"{ev.payback_months:,.1f} months", block),
        ("price / straight-line depreciation", "-" if ev.depreciation_cover is None else f"{ev.depreciation_cover:,.2f}x",
         block),
    ]
    if ev.best_block_gpus is not None and ev.best_block_gpus != ev.block_gpus:
        rows.insert(2, ("value at the best block", money(ev.best_block_value, cur),
                        f"{ev.best_block_gpus:,} GPUs (best within min_gpus..max_gpus)"))
    title = f"{'Signed contract' if ev.signed else 'Offer'} {ev.offer} at a block of {block} ({ev.block_basis})"
    out = [Section(title, pd.DataFrame(rows, columns=["", "value", "block"]))]
    if ev.flags:
        out.append(Section("Plausibility", pd.DataFrame({"flag": ev.flags})))
    if not ev.displaced.empty:
        d = in_instance_order(ev.displaced, inst)
        d = d.assign(with_offer=d["with_offer"].map("{:,.0f}".format),
                     without_offer=d["without_offer"].map("{:,.0f}".format), change=d["change"].map("{:+,.0f}".format))
        d.columns = ["use", "consumer", "generation", "GPUs with offer", "GPUs without", "change"]
        out.append(Section(f"What the offer displaces at {ev.block_gpus:,} GPUs (GPUs per period, horizon average)", d))
    return out
