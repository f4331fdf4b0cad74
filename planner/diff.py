"""What changed between two plans of the same instance: the value, the split of the fleet, the leases.

Both inputs are SPEC section-5 result documents (`PlanResult.to_dict()`, `planner solve --format json`),
typically before and after a change of one parameter. Deltas are always b - a.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import pandas as pd

from planner.ranges import excerpt
from planner.report import Section, money
from planner.results import TERMS
from planner.verify import document_problems, entry_problems

SOLVED = ("optimal", "feasible")


def diff_results(a: dict, b: dict, labels: tuple[str, str] = ("result a", "result b")) -> dict:
    """Objective and breakdown deltas, GPUs per (site, generation, use) that moved, leases that changed.

    A side without a solution (infeasible, no_solution) has None for its numbers, never zeros. `labels`
    name the two sides in errors (the CLI gives the file names).
    """
    _check(a, labels[0])
    _check(b, labels[1])
    if a["instance"] != b["instance"]:
        raise ValueError(f"cannot compare results of different instances: {excerpt(a['instance'])} and {excerpt(b['instance'])}")
    solved_a, solved_b = a["status"] in SOLVED, b["status"] in SOLVED
    return {
        "instance": a["instance"],
        "status": {"a": a["status"], "b": b["status"]},
        "objective": _delta(a["objective"] if solved_a else None, b["objective"] if solved_b else None),
        "breakdown": {t: _delta(a["breakdown"][t] if solved_a else None, b["breakdown"][t] if solved_b else None)
                      for t in TERMS},
        "gpus": _gpu_changes(_split(a) if solved_a else None, _split(b) if solved_b else None),
        "leases": _lease_changes(_leases(a) if solved_a else None, _leases(b) if solved_b else None),
    }


def _check(doc: Any, label: str) -> None:
    """A clear error for a file that is not a result document, rather than a KeyError deep inside."""
    problems = document_problems(doc)
    problems += [] if problems else entry_problems(doc)
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise ValueError(f"{label}: not a planner result: {shown}")


def _delta(x: float | None, y: float | None) -> dict:
    return {"a": x, "b": y, "delta": None if x is None or y is None else y - x}


def _split(doc: dict) -> dict[tuple[str, str, str], float]:
    """GPUs per (site, generation, use), averaged over periods, and with scenarios (SPEC section 6) their
    expectation: each scenario's rows weighted by its probability (summed, they counted the fleet once
    per scenario).

    Results list every usable GPU (idle rows included), so the last period seen + 1 is the horizon.
    """
    rows = doc["allocations"]
    periods = 1 + max((r["period"] for r in rows), default=0)
    probability = {s["name"]: s["probability"] for s in doc.get("scenarios") or []}
    total: dict[tuple[str, str, str], float] = defaultdict(float)
    for r in rows:
        total[(r["site"], r["generation"], r["use"])] += r["gpus"] * probability.get(r.get("scenario"), 1.0)
    return {key: gpus / periods for key, gpus in total.items()}


def _gpu_changes(a: dict | None, b: dict | None) -> list[dict]:
    keys = list(dict.fromkeys([*(a or {}), *(b or {})]))
    out = []
    for site, generation, use in keys:
        x, y = ((None if side is None else side.get((site, generation, use), 0.0)) for side in (a, b))
        if not _same(x, y):
            out.append({"site": site, "generation": generation, "use": use, "gpus_a": x, "gpus_b": y,
                        "delta": None if x is None or y is None else y - x})
    return out


def _leases(doc: dict) -> dict[str, dict]:
    return {lease["name"]: lease for lease in doc["leases"]}


def _lease_changes(a: dict | None, b: dict | None) -> list[dict]:
    """Leases whose decision, block or revenue differ; a lease absent on one side has None there."""
    out = []
    for name in dict.fromkeys([*(a or {}), *(b or {})]):
        x, y = (a or {}).get(name), (b or {}).get(name)
        row = {"name": name}
        for field in ("accepted", "gpus", "revenue"):
            row[f"{field}_a"], row[f"{field}_b"] = (None if s is None else s[field] for s in (x, y))
        row["revenue_delta"] = None if x is None or y is None else y["revenue"] - x["revenue"]
        if any(not _same(row[f"{f}_a"], row[f"{f}_b"]) for f in ("accepted", "gpus", "revenue")):
            out.append(row)
    return out


def _same(x: Any, y: Any) -> bool:
    if x is None or y is None or isinstance(x, bool):
        return x == y
    return math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-6)


# ----- rendering ----------------------------------------------------------------------------


def diff_sections(diff: dict, labels: tuple[str, str] = ("A", "B"), currency: str = "USD") -> list[Section]:
    """The diff as report sections (render with planner.report.render_table / render_markdown).

    The GPU and lease sections appear only when something moved; the value section always does.
    """
    out = [_value_section(diff, labels, currency)]
    if diff["gpus"]:
        out.append(_gpu_section(diff["gpus"], labels))
    if diff["leases"]:
        out.append(_lease_section(diff["leases"], labels, currency))
    return out


def _value_section(diff: dict, labels: tuple[str, str], currency: str) -> Section:
    la, lb = labels
    status = diff["status"]
    rows = [("status", status["a"], status["b"], "" if status["a"] == status["b"] else "changed")]
    for term, d in [("objective", diff["objective"]), *diff["breakdown"].items()]:
        rows.append((term.replace("_", " "), money(d["a"], currency), money(d["b"], currency),
                     _signed(d["delta"], currency)))
    frame = pd.DataFrame(rows, columns=["term", la, lb, "change"])
    return Section(f"{diff['instance']}: {la} -> {lb} (change = {lb} - {la})", frame)


def _gpu_section(changes: list[dict], labels: tuple[str, str]) -> Section:
    rows = [(r["site"], r["generation"], r["use"], _gpus(r["gpus_a"]), _gpus(r["gpus_b"]), _gpus(r["delta"], sign=True))
            for r in changes]
    return Section("GPUs that moved (average over periods)",
                   pd.DataFrame(rows, columns=["site", "generation", "use", *labels, "change"]))


def _lease_section(changes: list[dict], labels: tuple[str, str], currency: str) -> Section:
    rows = [(r["name"], f"{_yes(r['accepted_a'])} -> {_yes(r['accepted_b'])}",
             f"{_gpus(r['gpus_a'])} -> {_gpus(r['gpus_b'])}", money(r["revenue_a"], currency),
             money(r["revenue_b"], currency), _signed(r["revenue_delta"], currency)) for r in changes]
    columns = ["name", "accepted", "GPUs", *(f"revenue {label}" for label in labels), "change"]
    return Section("Leases that changed", pd.DataFrame(rows, columns=columns))


def _signed(value: float | None, currency: str) -> str:
    """money() with an explicit + for a gain, so the direction of a change is never implied."""
    text = money(value, currency)
    return f"+{text}" if value is not None and value > 0 else text


def _gpus(value: float | None, sign: bool = False) -> str:
    if value is None:
        return "-"
    spec = ("+" if sign else "") + (",.0f" if float(value).is_integer() else ",.1f")
    return format(value, spec)


def _yes(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")
