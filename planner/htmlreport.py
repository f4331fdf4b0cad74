"""The shareable report: one self-contained HTML file (plotly's JS, styles and data inlined, so it opens
offline) for people who will not run the CLI: the decision in one sentence, the value, the fleet split
over time, power headroom, leases, consumers, shadow prices, scenarios and offer evaluations.

Numbers shown carry their exact value in a `data-value` attribute, so a browser test can compare the
page with the JSON it came from.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from html import escape
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from planner import views
from planner.instance import Instance
from planner.report import money
from planner.results import FEES, TERMS

COLORS = {"training": "#4c78a8", "inference": "#f58518", "lease": "#54a24b", "idle": "#bab0ac"}
TERM_LABELS = {"lease_revenue": "lease revenue", "training_value": "training value",
               "inference_value": "inference value", "energy_cost": "energy cost", FEES: "termination fees"}
COSTS = ("energy_cost", FEES)  # breakdown terms that count against the value

Column = tuple[str, str, Callable[[Any], str]]  # header, key, formatter


# ----- small formatters ----------------------------------------------------------------------


def gpus(v: Any) -> str:
    return "-" if v is None or pd.isna(v) else f"{v:,.0f}" if float(v).is_integer() else f"{v:,.1f}"


def number(v: Any, digits: int = 2) -> str:
    return "-" if v is None or pd.isna(v) else f"{v:,.{digits}f}"


def yes_no(v: Any) -> str:
    return "yes" if v else "no"


def text(v: Any) -> str:
    return "-" if v is None or (isinstance(v, float) and pd.isna(v)) else str(v)


def listing(names: list[str], what: str, most: int = 4) -> str:
    """`a, b and c`; past `most` names just the count (`37 leases`), so the sentence stays one sentence."""
    if len(names) > most:
        return f"{len(names)} {what}"
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


# ----- sentences -----------------------------------------------------------------------------


def plan_sentence(doc: dict[str, Any], inst: Instance) -> str:
    """The decision a reader takes away, in one sentence: leases taken, internal use placed, value."""
    if doc.get("objective") is None:
        return f"No plan: {doc['instance']} is {doc['status']}."
    accepted, rejected = views.accepted_names(doc)
    blocks = {r["name"]: r["gpus"] for r in doc.get("leases") or []}
    parts = []
    if accepted:
        total = f" ({sum(blocks[n] for n in accepted):,} GPUs)" if len(accepted) > 4 else ""
        parts.append("accept " + listing([f"{n} ({blocks[n]:,} GPUs)" for n in accepted], "leases") + total)
    if rejected:
        parts.append("reject " + listing(rejected, "offers"))
    placed = views.allocations(doc).query("use in ('training', 'inference')")["consumer"].unique().tolist()
    if placed:
        run = listing(placed, "internal consumers")
        parts.append("run " + run + ("" if run.endswith("consumers") else " internally"))
    else:
        parts.append("place no internal training or inference")
    sentence = "; ".join(parts)
    periods = f"{inst.T} period{'s' if inst.T != 1 else ''}"
    scenarios = len(views.scenario_names(doc))
    value = f"objective F {money(doc['objective'], inst.currency)} over {periods} and {scenarios} scenarios" \
        if scenarios else f"net value {money(doc['objective'], inst.currency)} over {periods}"
    return f"{sentence[0].upper()}{sentence[1:]}: {value} ({doc['status']})."


def block_gpus(ev: dict[str, Any]) -> int | None:
    """The block evaluated (`block_gpus`; older results say `gpus`)."""
    return ev.get("block_gpus", ev.get("gpus"))


def offer_sentence(ev: dict[str, Any], inst: Instance) -> str:
    """`planner evaluate`'s answer in one sentence."""
    if ev.get("value") is None:
        why = "; ".join(ev.get("flags") or ev.get("notes") or [])
        return f"Reject {ev['offer']}: it cannot be accepted{f' ({why})' if why else ''}."
    price = (money(ev["break_even_price"], inst.currency) if ev["price_unit"] == "per period"
             else number(ev["break_even_price"], 4))
    block = f" for a block of {block_gpus(ev):,} GPUs" if block_gpus(ev) is not None else ""
    over = " (F, over the scenarios)" if ev.get("scenarios") else ""
    verb = "Honour the signed" if ev["decision"] == "signed" else ev["decision"].capitalize()
    return (f"{verb} {ev['offer']}: it is worth {money(ev['value'], inst.currency)} against "
            f"the best alternative{over}; break-even price {price} {ev['price_unit']}{block}.")


# ----- HTML pieces ---------------------------------------------------------------------------


def cell(value: Any, shown: str) -> str:
    """A table cell; a number also carries its exact value (data-value), for sorting and for tests."""
    raw = value.item() if hasattr(value, "item") else value
    exact = isinstance(raw, (int, float)) and not isinstance(raw, bool) and not pd.isna(raw)
    attr = f' data-value="{float(raw)!r}"' if exact else ""
    return f"<td{attr}>{escape(shown)}</td>"


def table(table_id: str, columns: list[Column], rows: list[dict[str, Any]]) -> str:
    """A sortable table (click a header); rows stay in the instance's order until sorted."""
    head = "".join(f"<th>{escape(h)}</th>" for h, _, _ in columns)
    body = "".join("<tr>" + "".join(cell(r.get(k), f(r.get(k))) for _, k, f in columns) + "</tr>" for r in rows)
    return f'<table id="{table_id}" class="sortable"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def section(title: str, body: str, section_id: str) -> str:
    return f'<section id="{section_id}"><h2>{escape(title)}</h2>{body}</section>'


def chart(chart_id: str) -> str:
    return f'<div class="chart" id="{chart_id}"></div>'


def select(select_id: str, label: str, options: list[tuple[str, str]]) -> str:
    opts = "".join(f'<option value="{escape(v)}">{escape(t)}</option>' for v, t in options)
    return f'<label>{escape(label)} <select id="{select_id}">{opts}</select></label>'


# ----- sections ------------------------------------------------------------------------------


def value_section(doc: dict[str, Any], inst: Instance) -> tuple[str, dict[str, Any]]:
    cur = inst.currency
    b = doc.get("breakdown") or {}
    terms = [t for t in (*TERMS, FEES) if t in b]
    signed = [-b[t] if t in COSTS else b[t] for t in terms]
    rows = [{"item": "net value (objective)", "value": doc.get("objective")},
            *({"item": TERM_LABELS[t], "value": v} for t, v in zip(terms, signed)),
            {"item": "best bound", "value": doc.get("best_bound")}]
    body = table("value", [("", "item", text), ("value", "value", lambda v: money(v, cur))], rows)
    status = f"status {doc['status']}, solver {doc.get('solver', '-')}, MIP gap {text(doc.get('mip_gap'))}"
    if doc.get("expected_objective") is not None:
        status += f"; objective F = E[V]{' with CVaR' if doc.get('cvar') is not None else ''} over scenarios"
    figure = go.Figure(go.Waterfall(x=[TERM_LABELS[t] for t in terms] + ["net value"],
                                    measure=["relative"] * len(terms) + ["total"], y=[*signed, 0.0]))
    figure.update_layout(title="Value breakdown (discounted)", yaxis_title=cur, showlegend=False)
    html = section("Value", f'<p class="status">{escape(status)}</p>{body}{chart("chart-value")}', "value-section")
    return html, {"chart-value": figure}


def fleet_section(doc: dict[str, Any], inst: Instance) -> str:
    scen = views.scenario_names(doc)
    controls = select("pick-site", "Site", [("*", "all sites"), *((s.name, s.name) for s in inst.sites)])
    controls += select("pick-generation", "Generation",
                       [("*", "all generations"), *((g.name, g.name) for g in inst.generations)])
    if scen:
        controls = select("pick-scenario", "Scenario", [(s, s) for s in scen]) + controls
    return section("GPUs per use and period", f'<div class="controls">{controls}</div>{chart("chart-gpus")}',
                   "fleet-section")


def power_section(doc: dict[str, Any], inst: Instance) -> str:
    controls = select("pick-power-site", "Site", [(s.name, s.name) for s in inst.sites])
    p = views.site_power(doc, inst)
    summary = p.groupby(["scenario", "site"], sort=False).agg(
        mw_available=("mw_available", "first"), peak=("mw_drawn", "max"), headroom=("headroom_mw", "min")).reset_index()
    cols: list[Column] = [*scenario_column(doc), ("site", "site", text), ("MW available", "mw_available", number),
                          ("MW drawn (peak)", "peak", number), ("headroom MW (min)", "headroom", number)]
    return section("Power drawn vs available", f'<div class="controls">{controls}</div>{chart("chart-power")}'
                   + table("power", cols, summary.to_dict("records")), "power-section")


def leases_section(doc: dict[str, Any], inst: Instance) -> str:
    cur = inst.currency
    cols: list[Column] = [
        ("lease", "lease", text), ("lessee", "lessee", text), ("accepted", "accepted", yes_no),
        ("GPUs", "gpus", gpus), ("block", "block", text), ("revenue", "revenue", lambda v: money(v, cur)),
        ("$/GPU-hour", "price_per_gpu_hour", number), ("market low (contract)", "band_low", number),
        ("market high (on demand)", "band_high", number), ("vs market", "vs_band", text)]
    if doc.get("lease_ends"):
        cols.append(("ends early", "ends", text))
    return section("Leases", table("leases", cols, views.leases(doc, inst).to_dict("records")), "leases-section")


def consumers_section(doc: dict[str, Any], inst: Instance) -> str:
    cols: list[Column] = [
        *scenario_column(doc), ("consumer", "consumer", text), ("kind", "kind", text), ("placed", "placed", yes_no),
        ("GPUs (avg)", "gpus", gpus), ("tier", "tier", text), ("value/unit-hour", "value_per_unit_hour", number),
        ("demand units (avg)", "demand_units", gpus), ("served units (avg)", "served_units", gpus),
        ("why not placed", "note", text)]
    frame = views.consumers(doc, inst)
    note = ("<p>GPUs and units per active period, averaged over the consumer's periods; a training run's demand "
            "is its max_units and what it serves its compute units.</p>")
    return section("Internal consumers", note + table("consumers", cols, frame.to_dict("records")), "consumers-section")


def scenario_column(doc: dict[str, Any]) -> list[Column]:
    return [("scenario", "scenario", text)] if views.scenario_names(doc) else []


def shadow_section(doc: dict[str, Any], inst: Instance) -> str:
    """Shadow prices, largest first (the 20 largest of each kind)."""
    prices = doc["shadow_prices"]
    parts = [f"<p>{escape(prices.get('note', ''))}</p>"]
    for kind, key in (("power", "value_per_mw"), ("inventory", "value_per_node")):
        frame = pd.DataFrame(prices.get(kind) or [{key: 0.0}])
        frame = frame[frame[key].abs() > 1e-9].sort_values(key, ascending=False).head(20)
        if frame.empty:
            continue
        cols: list[Column] = [(c, c, text) for c in frame.columns if c != key]
        cols.append((key.replace("_", " "), key, lambda v: money(v, inst.currency)))
        parts.append(f"<h3>{kind}</h3>" + table(f"shadow-{kind}", cols, frame.to_dict("records")))
    return section("Shadow prices (local)", "".join(parts), "shadow-section")


def scenarios_section(doc: dict[str, Any], inst: Instance) -> tuple[str, dict[str, Any]]:
    cur = inst.currency
    frame = views.scenarios(doc)
    cols: list[Column] = [("scenario", "scenario", text), ("probability", "probability", lambda v: number(v, 3)),
                          ("value V", "objective", lambda v: money(v, cur)),
                          *((TERM_LABELS.get(t, t.replace("_", " ")), t, lambda v: money(v, cur))
                            for t in (*TERMS, "termination_fees")), ("lease ends", "lease_ends", text)]
    split = views.split_by_scenario(doc, inst)
    split_cols: list[Column] = [("scenario", "scenario", text), *((f"{u} GPUs (avg)", u, gpus) for u in views.USES)]
    metrics = [{"item": k, "value": doc.get(k)} for k in ("expected_objective", "cvar", "evpi", "vss")
               if doc.get(k) is not None]
    ordered = frame.sort_values("objective")
    figure = go.Figure(go.Bar(x=ordered["scenario"], y=ordered["objective"], name="V",
                              text=[f"p = {p:.3g}" for p in ordered["probability"]], marker_color="#4c78a8"))
    for key, dash in (("expected_objective", "solid"), ("cvar", "dash")):
        if doc.get(key) is not None:
            figure.add_hline(y=doc[key], line_dash=dash, annotation_text=key.replace("_", " "))
    figure.update_layout(title="Distribution of V over scenarios (sorted)", yaxis_title=cur)
    body = (table("scenarios", cols, frame.to_dict("records"))
            + table("scenario-metrics", [("", "item", text), ("value", "value", lambda v: money(v, cur))], metrics)
            + chart("chart-scenarios") + "<h3>Split per scenario</h3>"
            + table("scenario-split", split_cols, split.to_dict("records")))
    return section("Scenarios", body, "scenarios-section"), {"chart-scenarios": figure}


def offer_section(ev: dict[str, Any], inst: Instance) -> str:
    cur = inst.currency
    price = (lambda v: money(v, cur)) if ev["price_unit"] == "per period" else (lambda v: number(v, 4))
    shown = {**ev, "gpus": block_gpus(ev)}
    rows = [("value of the offer", "value", lambda v: money(v, cur)),
            ("objective with the offer", "objective_accepted", lambda v: money(v, cur)),
            ("objective without it", "objective_rejected", lambda v: money(v, cur)),
            (f"break-even price ({ev['price_unit']})", "break_even_price", price),
            ("block (GPUs)", "gpus", gpus), ("implied $/GPU-hour", "implied_price_per_gpu_hour", number),
            ("revenue over the term (discounted)", "discounted_revenue", lambda v: money(v, cur)),
            ("probability that accepting loses", "probability_of_loss", lambda v: number(v, 3)),
            ("value of the termination right", "termination_right_value", lambda v: money(v, cur))]
    body = "<table id=\"offer\"><tbody>" + "".join(
        f"<tr><th>{escape(label)}</th>{cell(shown[key], fmt(shown[key]))}</tr>" for label, key, fmt in rows
        if key in shown) + "</tbody></table>"
    if ev.get("scenarios"):
        cols: list[Column] = [("scenario", "name", text), ("probability", "probability", lambda v: number(v, 3)),
                              ("V with the offer", "accepted", lambda v: money(v, cur)),
                              ("V without it", "rejected", lambda v: money(v, cur)),
                              ("value of the offer", "value", lambda v: money(v, cur))]
        body += "<h3>In each scenario</h3>" + table("offer-scenarios", cols, ev["scenarios"])
    notes = "".join(f"<li>{escape(f)}</li>" for f in [*(ev.get("flags") or []), *(ev.get("notes") or [])])
    if notes:
        body += f"<h3>Plausibility and notes</h3><ul>{notes}</ul>"
    displaced = ev.get("displaced") or []
    if displaced:
        cols: list[Column] = [("use", "use", text), ("consumer", "consumer", text), ("generation", "generation", text),
                              ("GPUs with offer", "with_offer", gpus), ("GPUs without", "without_offer", gpus),
                              ("change", "change", lambda v: f"{v:+,.0f}")]
        body += "<h3>What the offer displaces (GPUs, average over periods)</h3>" + table("displaced", cols, displaced)
    return section(f"Offer {ev['offer']}", body, "offer-section")


# ----- the page ------------------------------------------------------------------------------


def chart_data(doc: dict[str, Any], inst: Instance) -> dict[str, Any]:
    """The compact rows the page's script filters when a site, generation or scenario is picked."""
    g = views.gpus_by_use(doc)
    p = views.site_power(doc, inst)
    return {
        "periods": inst.T, "uses": list(views.USES), "colors": COLORS,
        "gpus": g[views.GROUP + ["gpus"]].values.tolist(),
        "power": p[["scenario", "site", "period", "mw_drawn", "mw_available"]].values.tolist(),
    }


def plan_body(doc: dict[str, Any], inst: Instance) -> tuple[str, dict[str, Any]]:
    """Every section a plan has, and the static figures they hold."""
    value, figures = value_section(doc, inst)
    parts = [value]
    if doc.get("scenarios"):
        scen, more = scenarios_section(doc, inst)
        parts.append(scen)
        figures.update(more)
    if doc.get("objective") is not None:
        parts += [fleet_section(doc, inst), power_section(doc, inst)]
        if inst.leases:
            parts.append(leases_section(doc, inst))
        if inst.training or inst.inference:
            parts.append(consumers_section(doc, inst))
        if doc.get("shadow_prices"):
            parts.append(shadow_section(doc, inst))
    if doc.get("warnings"):
        parts.append(section("Warnings", "<ul>" + "".join(f"<li>{escape(w)}</li>" for w in doc["warnings"]) + "</ul>",
                             "warnings-section"))
    return "".join(parts), figures


def render_plan(doc: dict[str, Any], inst: Instance) -> str:
    """The report of one plan (a SPEC result document for this instance)."""
    body, figures = plan_body(doc, inst)
    return page(inst, plan_sentence(doc, inst), body, doc, figures)


def render_evaluation(ev: dict[str, Any], plan: dict[str, Any], inst: Instance) -> str:
    """The report of `planner evaluate`: the offer's answer first, then the plan the decision leads to."""
    body, figures = plan_body(plan, inst)
    which = "without" if ev["decision"] == "reject" else "with"
    body = offer_section(ev, inst) + f"<h2 class=\"plan-title\">The plan {which} the offer</h2>" + body
    return page(inst, offer_sentence(ev, inst), body, plan, figures)


def page(inst: Instance, sentence: str, body: str, doc: dict[str, Any], figures: dict[str, go.Figure]) -> str:
    data = chart_data(doc, inst) if doc.get("objective") is not None else {}
    data["figures"] = {k: json.loads(f.to_json()) for k, f in figures.items()}
    # every < > & as a JSON escape: a name holding `<!--` and `<script` kept the browser from ending the
    # data block at its `</script>` (the app's script became data: no chart drew)
    payload = json.dumps(data, separators=(",", ":"))
    payload = payload.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    description = f"<p class=\"description\">{escape(inst.description)}</p>" if inst.description else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>planner: {escape(inst.name)}</title>
<style>{STYLE}</style>
<script>{plotly_js()}</script>
</head><body>
<header><h1>{escape(inst.name)}</h1>{description}
<p id="decision">{escape(sentence)}</p></header>
<main>{body}</main>
<footer>Made by planner; every plan is checked by its independent verifier. Charts: plotly (inlined).</footer>
<script type="application/json" id="planner-data">{payload}</script>
<script>{SCRIPT}</script>
</body></html>
"""


@cache
def plotly_js() -> str:
    return get_plotlyjs().replace("</script", "<\\/script")


STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1100px;padding:1rem 2rem;
color:#222}
h1{margin-bottom:.2rem}.description{color:#555;margin-top:0}
#decision{font-size:1.25rem;font-weight:600;background:#eef4fb;border-left:4px solid #4c78a8;padding:.7rem 1rem}
section{margin:2rem 0}table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
th,td{border-bottom:1px solid #ddd;padding:.25rem .6rem;text-align:right}th{background:#f4f4f4;cursor:pointer}
td:first-child,th:first-child{text-align:left}.chart{width:100%;height:420px}
.controls label{margin-right:1.5rem}footer{color:#777;font-size:.8rem;margin-top:3rem}
"""

SCRIPT = r"""
(function(){
const D = JSON.parse(document.getElementById('planner-data').textContent);
const CONFIG = {displaylogo: false, responsive: true};
const pick = (id, fallback) => { const e = document.getElementById(id); return e ? e.value : fallback; };
const range = n => Array.from({length: n}, (_, i) => i);
function scenario(){ return pick('pick-scenario', ''); }
function drawGpus(){
  const site = pick('pick-site', '*'), gen = pick('pick-generation', '*'), sc = scenario();
  const traces = D.uses.map(use => {
    const y = new Array(D.periods).fill(0);
    for (const [s, si, g, u, t, n] of D.gpus)
      if (u === use && s === sc && (site === '*' || si === site) && (gen === '*' || g === gen)) y[t] += n;
    return {type: 'bar', name: use, x: range(D.periods), y: y, marker: {color: D.colors[use]}};
  });
  Plotly.react('chart-gpus', traces, {barmode: 'stack', title: {text: 'GPUs per use'},
    xaxis: {title: {text: 'period'}, dtick: 1}, yaxis: {title: {text: 'GPUs'}}}, CONFIG);
}
function drawPower(){
  const site = pick('pick-power-site', ''), sc = scenario();
  const rows = D.power.filter(r => r[0] === sc && r[1] === site);
  const x = rows.map(r => r[2]);
  Plotly.react('chart-power', [
    {type: 'bar', name: 'MW drawn', x: x, y: rows.map(r => r[3]), marker: {color: '#4c78a8'}},
    {type: 'scatter', mode: 'lines+markers', name: 'MW available', x: x, y: rows.map(r => r[4]),
     line: {color: '#e45756'}}],
    {title: {text: 'Facility power at ' + site}, xaxis: {title: {text: 'period'}, dtick: 1},
     yaxis: {title: {text: 'MW'}, rangemode: 'tozero'}},
    CONFIG);
}
for (const [id, fig] of Object.entries(D.figures || {})) Plotly.newPlot(id, fig.data, fig.layout, CONFIG);
if (document.getElementById('chart-gpus')) {
  drawGpus(); drawPower();
  for (const id of ['pick-site', 'pick-generation', 'pick-scenario'])
    document.getElementById(id)?.addEventListener('change', () => { drawGpus(); drawPower(); });
  document.getElementById('pick-power-site').addEventListener('change', drawPower);
}
document.querySelectorAll('table.sortable th').forEach((th, col) => th.addEventListener('click', () => {
  const body = th.closest('table').tBodies[0];
  const key = tr => { const td = tr.cells[col]; return td.dataset.value !== undefined ? parseFloat(td.dataset.value)
    : td.textContent; };
  const up = th.dataset.dir !== 'up'; th.dataset.dir = up ? 'up' : 'down';
  Array.from(body.rows).sort((a, b) => (key(a) > key(b) ? 1 : key(a) < key(b) ? -1 : 0) * (up ? 1 : -1))
    .forEach(tr => body.appendChild(tr));
}));
})();
"""
