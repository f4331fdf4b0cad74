"""The independent checker for SPEC section 6: each scenario's plan against its own instance with its
ended leases' terms cut, first-stage decisions equal in every scenario, lease ends allowed, and F
(with CVaR) recomputed from the rows. Like planner.verify, it imports nothing from planner.model.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from planner import verify as plain
from planner.instance import Instance
from planner.scenarios import Case, cases, cut_terms, operator_ends, reveal_period
from planner.verify import Violation

TERMS = ("lease_revenue", "training_value", "inference_value", "energy_cost")
FEES = "termination_fees"


def cvar(values: np.ndarray, probabilities: np.ndarray, alpha: float) -> float:
    """CVaR_alpha(V) = max over eta of eta - sum p * max(0, eta - V) / (1 - alpha); the maximum of this
    concave piecewise-linear function of eta lies at one of the V's."""
    shortfall = np.maximum(0.0, values[:, None] - values[None, :])  # [eta index, scenario]
    return float((values - shortfall @ probabilities / (1.0 - alpha)).max())


def risk_objective(values: np.ndarray, probabilities: np.ndarray, alpha: float, weight: float) -> float:
    """F(V) = (1 - w) E[V] + w CVaR_alpha(V) (SPEC section 6), recomputed here from the definition (the
    result's own F comes from planner.risk, which sorts the tail instead)."""
    expected = float(probabilities @ values)
    return expected if weight == 0 else (1 - weight) * expected + weight * cvar(values, probabilities, alpha)


def check_scenarios(inst: Instance, result: dict, rel_tol: float = 1e-6) -> list[Violation]:
    """Every rule of sections 2-4 per scenario, and section 6's rules across them; empty = verified."""
    found: list[Violation] = []
    all_cases = cases(inst)
    entries = _scenario_entries(inst, result, all_cases, found)
    if found:
        return found
    accepted = {e.get("name"): e.get("accepted") for e in result.get("leases") or [] if isinstance(e, dict)}
    values, terms, revenue, rows_of, tolerance = [], [], [], {}, 0.0
    for case, entry in zip(all_cases, entries):
        ends, by_operator, problems = _lease_ends(inst, case, entry.get("lease_ends"), accepted)
        found += problems
        if problems:
            continue
        cut = cut_terms(case.instance, ends)
        rows = [r for r in result.get("allocations") or [] if not isinstance(r, dict) or len(all_cases) == 1
                or r.get("scenario") == case.name]
        rows = [{k: v for k, v in r.items() if k != "scenario"} if isinstance(r, dict) else r for r in rows]
        rows_of[case.name] = rows
        fees = _fees(case.instance, {name: ends[name] for name in by_operator})
        sub = {"status": result.get("status"), "allocations": rows, "best_bound": None,
               "leases": _lease_entries(cut, result, rows)}
        worth = plain.evaluate(cut, sub)
        sub["leases"] = [{**e, "revenue": worth["lease_revenue"][e["name"]]} for e in sub["leases"]]
        reported = entry.get("breakdown") if isinstance(entry.get("breakdown"), dict) else {}
        objective = entry.get("objective")
        sub["breakdown"] = {t: reported.get(t) for t in TERMS}
        sub["objective"] = objective + fees if plain._is_number(objective) else objective
        found += [Violation(v.rule, f"scenario {case.name}: {v.message}") for v in plain.check_rules(cut, sub, rel_tol)]
        if not (plain._is_number(reported.get(FEES)) and abs(reported[FEES] - fees) <= worth["tolerance"]):
            found.append(Violation("termination.fees", f"scenario {case.name}: termination_fees {reported.get(FEES)!r}, "
                                                       f"recomputed {fees:.6f}"))
        values.append(worth["objective"] - fees)
        tolerance = max(tolerance, worth["tolerance"])
        terms.append({**worth["breakdown"], FEES: fees})
        revenue.append(worth["lease_revenue"])
    if found:
        return found
    found += list(_first_stage(inst, all_cases, rows_of))
    found += list(_objective(inst, result, all_cases, np.array(values), terms, revenue, tolerance))
    return found


def _scenario_entries(inst: Instance, result: dict, all_cases: list[Case], found: list[Violation]) -> list[dict]:
    """The result's per-scenario entries in the instance's order (a plain result is its own one entry)."""
    if inst.uncertainty is None:
        return [{"objective": result.get("objective"), "breakdown": result.get("breakdown"),
                 "lease_ends": result.get("lease_ends", [])}]
    listed = result.get("scenarios")
    by_name = {e.get("name"): e for e in listed if isinstance(e, dict)} if isinstance(listed, list) else {}
    names = [c.name for c in all_cases]
    if not isinstance(listed, list) or len(listed) != len(names) or set(by_name) != set(names):
        found.append(Violation("scenarios", f"scenarios list must name each scenario once: {', '.join(names)}"))
        return []
    for case in all_cases:
        p = by_name[case.name].get("probability")
        if not (plain._is_number(p) and abs(p - case.probability) <= 1e-9):
            found.append(Violation("scenarios", f"scenario {case.name}: probability {p!r}, the instance says {case.probability}"))
    return [by_name[n] for n in names]


def _lease_ends(inst: Instance, case: Case, listed: object,
                accepted: dict) -> tuple[dict[str, int], set[str], list[Violation]]:
    """The reported ends of one scenario, checked: an operator end only where the lease's right allows it and
    before the lessee's exit; a lessee end exactly at its exit; every accepted lease that exits ends.
    Returns (lease -> end period, the leases the operator ended, problems)."""
    where = f"scenario {case.name}"
    if not isinstance(listed, list) or not all(isinstance(e, dict) for e in listed):
        return {}, set(), [Violation("lease_ends", f"{where}: lease_ends must be a list of {{lease, period, by}}")]
    leases = {lease.name: k for k, lease in enumerate(inst.leases)}
    ends, by_operator, problems = {}, set(), []
    for e in listed:
        name, period, by = e.get("lease"), e.get("period"), e.get("by")
        if name not in leases or name in ends or not isinstance(period, int) or by not in ("operator", "lessee"):
            problems.append(Violation("lease_ends", f"{where}: bad or repeated entry {e!r}"))
            continue
        k, lease = leases[name], inst.leases[leases[name]]
        exit_ = case.exits.get(k)
        if accepted.get(name) is not True:
            problems.append(Violation("lease_ends", f"{where}: lease {name} ends but is not accepted"))
        elif by == "lessee" and period != exit_:
            problems.append(Violation("lease_ends", f"{where}: lease {name}: the lessee exits at {exit_}, not {period}"))
        elif by == "operator" and (period not in operator_ends(inst, lease, reveal_period(inst))
                                   or (exit_ is not None and period >= exit_)):
            problems.append(Violation("lease_ends", f"{where}: lease {name}: the operator may not end it at period {period}"))
        ends[name] = period
        if by == "operator":
            by_operator.add(name)
    for k, exit_ in case.exits.items():
        name = inst.leases[k].name
        if accepted.get(name) is True and name not in ends:
            problems.append(Violation("lease_ends", f"{where}: lease {name} is accepted and its lessee exits at {exit_}, "
                                                    f"but no end is reported"))
    return ends, by_operator, problems


def _fees(inst: Instance, operator_ended: dict[str, int]) -> float:
    """Each operator end costs its lease's fee once, weighted by the discount of the period it ends in."""
    weights = plain.discount_weights(inst)
    return float(sum(lease.termination.fee * weights[operator_ended[lease.name]] for lease in inst.leases
                     if lease.name in operator_ended))


def _lease_entries(cut: Instance, result: dict, rows: list) -> list[dict]:
    """The leases list the scenario's check reads: the first-stage accepted flag and block; for a whole-site
    lease the block is the scenario's own (every usable GPU), so it is read from the rows."""
    top = {e.get("name"): e for e in result.get("leases") or [] if isinstance(e, dict)}
    out = []
    for lease in cut.leases:
        entry = top.get(lease.name, {})
        gpus = entry.get("gpus")
        if lease.whole_sites:
            first = cut.window(lease).start
            gpus = sum(r.get("gpus", 0) for r in rows if isinstance(r, dict) and r.get("use") == "lease"
                       and r.get("consumer") == lease.name and r.get("period") == first)
        out.append({"name": lease.name, "accepted": entry.get("accepted"), "gpus": gpus})
    return out


def _first_stage(inst: Instance, all_cases: list[Case], rows_of: dict[str, list]) -> Iterator[Violation]:
    """What is decided now is the same in every scenario: each lease's block per generation and site
    (while it runs), every training run starting before the reveal period, inference before it."""
    if len(all_cases) < 2:
        return
    reveal = reveal_period(inst)
    starts = {run.name: inst.window(run).start for run in inst.training}
    blocks = {lease.name: inst.window(lease).start for lease in inst.leases if not lease.whole_sites}

    def decided_now(r: dict) -> tuple | None:
        use, c, t = r.get("use"), r.get("consumer"), r.get("period")
        if use == "lease" and c in blocks:
            return None if t != blocks[c] else ("lease", c, r.get("site"), r.get("generation"))
        if (use == "training" and starts.get(c, reveal) < reveal) or (use == "inference" and t < reveal):
            return (use, c, r.get("site"), r.get("generation"), t)
        return None

    def first_stage(rows: list) -> dict:
        out: dict = {}
        for r in rows:
            key = decided_now(r)
            if key is not None and r.get("gpus"):
                out[key] = out.get(key, 0) + r["gpus"]
        return out

    reference, name = first_stage(rows_of[all_cases[0].name]), all_cases[0].name
    for case in all_cases[1:]:
        own = first_stage(rows_of[case.name])
        for key in sorted(set(own) | set(reference), key=str):
            if key[0] == "lease" and (not _runs(rows_of[case.name], key[1]) or not _runs(rows_of[name], key[1])):
                continue  # a lease ended before it started in one of the two: nothing held to compare
            if own.get(key, 0) != reference.get(key, 0):
                yield Violation("first_stage", f"{' '.join(map(str, key))}: {reference.get(key, 0)} GPUs in scenario "
                                               f"{name}, {own.get(key, 0)} in scenario {case.name}")


def _runs(rows: list, lease: str) -> bool:
    return any(r.get("use") == "lease" and r.get("consumer") == lease and r.get("gpus") for r in rows)


def _objective(inst: Instance, result: dict, all_cases: list[Case], values: np.ndarray, terms: list[dict],
               revenue: list[dict], tol: float) -> Iterator[Violation]:
    """F, E[V], CVaR, the expected breakdown and lease revenues recomputed from the scenarios' rows, each
    within `tol`, the largest of the scenarios' own tolerances (planner.verify's money tolerance)."""
    p = np.array([c.probability for c in all_cases])
    unc = inst.uncertainty
    alpha, weight = (unc.cvar_alpha, unc.risk_weight) if unc else (0.9, 0.0)

    def differs(got: object, want: float) -> bool:
        return not (plain._is_number(got) and abs(got - want) <= tol)

    wanted = {"objective": risk_objective(values, p, alpha, weight)}
    if unc is not None:
        wanted["expected_objective"] = float(p @ values)
        if weight > 0:
            wanted["cvar"] = cvar(values, p, alpha)
        for case, entry_value, own in zip(all_cases, values, revenue):
            listed = next(e for e in result["scenarios"] if e.get("name") == case.name)
            if differs(listed.get("objective"), entry_value):
                yield Violation("scenarios.objective", f"scenario {case.name}: objective {listed.get('objective')!r}, "
                                                       f"recomputed {entry_value:.6f}")
            reported = listed.get("lease_revenue", {})  # optional: per-lease revenue in the scenario
            for name, got in (reported.items() if isinstance(reported, dict) else [("lease_revenue", reported)]):
                if differs(got, own.get(name, 0.0)):
                    yield Violation("scenarios.lease_revenue", f"scenario {case.name}: lease {name} revenue {got!r}, "
                                                               f"recomputed {own.get(name, 0.0):.6f}")
    for key, want in wanted.items():
        if differs(result.get(key), want):
            yield Violation(key, f"{key} is {result.get(key)!r}, recomputed {want:.6f}")
    breakdown = result.get("breakdown") if isinstance(result.get("breakdown"), dict) else {}
    for term in (*TERMS, FEES):
        want = float(sum(pi * t[term] for pi, t in zip(p, terms)))
        if differs(breakdown.get(term), want):
            yield Violation(f"breakdown.{term}", f"breakdown {term} is {breakdown.get(term)!r}, expected value {want:.6f}")
    names = {lease.name for lease in inst.leases}
    for entry in result.get("leases") or []:
        if isinstance(entry, dict) and entry.get("name") in names:
            want = float(sum(pi * r.get(entry["name"], 0.0) for pi, r in zip(p, revenue)))
            if differs(entry.get("revenue"), want):
                yield Violation("lease.revenue", f"lease {entry['name']}: revenue {entry.get('revenue')!r}, "
                                                 f"expected value {want:.6f}")
    yield from plain.bound_and_gap(result, tol)
