"""Interim check of a scenario instance (SPEC section 6) with the deterministic solver, until the
stochastic model lands on main; then `planner validate` and `planner solve --metrics` replace it.

    PYTHONPATH=. python docs-draft/check_scenarios.py instances/colossus1_scenarios.yaml

1. Each scenario's `set` is applied with planner.paths.set_path and the result validated with
   planner.instance.parse_instance (`uncertainty` and lease `termination` dropped: main's schema
   does not know them yet).
2. Each scenario's value for a fixed first-stage choice (which lease of the instance is accepted,
   or none) is found by deterministic solves: the accepted lease is made `signed`, the others
   dropped, and a lease that ends at e (a lessee exit, or an operator end paying its fee) gets its
   term cut to [start, e). The best end is found by enumerating e. With `reveal` = R, an operator
   end needs e >= max(earliest, R + N); the perfect-information value V*_s is the best choice
   with R = 0 (SPEC section 6, `evpi`).
   Exact only when a choice leaves no other first-stage coupling between scenarios (the script
   prints each choice's period-0 allocation per scenario so that can be checked by eye).
3. E, CVaR_alpha and F for each choice; EVPI = F(V*) - F(best choice); VSS = F(best choice) -
   F(the choice that is best for the file's own instance, solved as one scenario).
"""

from __future__ import annotations

import copy
import sys

import numpy as np
import yaml

from planner import parse_instance, solve
from planner.paths import set_path


def deterministic(data: dict) -> dict:
    """The instance without section-6 fields: what main's schema validates today."""
    out = {k: v for k, v in copy.deepcopy(data).items() if k != "uncertainty"}
    for lease in out.get("leases", []):
        lease.pop("termination", None)
    return out


def scenario_instance(raw: dict, scenario: dict) -> dict:
    """The file with the scenario's `set` applied (termination rights kept), validated without them."""
    out = {k: v for k, v in raw.items() if k != "uncertainty"}
    for path, value in (scenario.get("set") or {}).items():
        out = set_path(out, path, value)
    parse_instance(deterministic(out), f"scenario {scenario['name']}")
    return out


def with_lease(data: dict, name: str | None, end: int | None) -> dict:
    """Only lease `name` kept, signed, its term cut at `end`; no lease at all for None."""
    out = copy.deepcopy(data)
    out["leases"] = []
    for lease in data["leases"]:
        if lease["name"] == name:
            lease = {k: v for k, v in copy.deepcopy(lease).items() if k != "termination"} | {"signed": True}
            start, stop = lease.get("periods") or (0, data["horizon"]["periods"])
            lease["periods"] = [start, min(stop, end) if end is not None else stop]
            out["leases"].append(lease)
    return out


def weights(data: dict) -> np.ndarray:
    h = data["horizon"]
    return (1 + h.get("discount_rate", 0)) ** (-np.arange(h["periods"]) * h.get("period_hours", 730) / 8760)


def value(data: dict, lease: dict | None, exit_at: int | None, reveal: int) -> tuple[float, str]:
    """Best value of a scenario instance with `lease` accepted (or none), over the operator's ends."""
    T = data["horizon"]["periods"]
    if lease is None:
        return solve(parse_instance(with_lease(data, None, None))).objective, "no lease"
    start, stop = lease.get("periods") or (0, T)
    stop = min(stop, exit_at) if exit_at is not None else stop
    options = [(solve(parse_instance(with_lease(data, lease["name"], stop))).objective,
                f"held to {stop}" + (" (lessee exit)" if exit_at is not None and exit_at <= stop else ""))]
    term = lease.get("termination")
    if term is not None:
        first = max(term.get("earliest_period", start + 1), reveal + term.get("notice_periods", 0))
        for e in range(first, stop):
            v = solve(parse_instance(with_lease(data, lease["name"], e))).objective - float(term.get("fee", 0)) * weights(data)[e]
            options.append((v, f"operator ends at {e}"))
    return max(options, key=lambda o: o[0])


def cvar(values: np.ndarray, probs: np.ndarray, alpha: float) -> float:
    """max over eta of eta - E[max(0, eta - V)] / (1 - alpha); the maximum is at one of the V_s."""
    return max(eta - probs @ np.maximum(0.0, eta - values) / (1 - alpha) for eta in values)


def main(path: str) -> None:
    with open(path, encoding="utf-8") as fh:
        raw = yaml.safe_load(fh)
    unc = raw["uncertainty"]
    reveal, alpha, w = unc.get("reveal_period", 0), unc.get("cvar_alpha", 0.9), unc.get("risk_weight", 0.0)
    scenarios = unc["scenarios"]
    probs = np.array([s["probability"] for s in scenarios])
    print(f"probabilities add up to {probs.sum():.12f}")
    data = {s["name"]: scenario_instance(raw, s) for s in scenarios}
    print("every scenario's instance validates")
    choices = [None, *raw["leases"]]
    table = {}
    for choice in choices:
        label = "none" if choice is None else choice["name"]
        for reveal_at, kind in ((reveal, "plan"), (0, "perfect")):
            row = []
            for s in scenarios:
                lease = None if choice is None else next(x for x in data[s["name"]]["leases"] if x["name"] == label)
                exit_at = (s.get("lessee_exits") or {}).get(label)
                v, how = value(data[s["name"]], lease, exit_at, reveal_at)
                row.append(v)
                print(f"{kind:8s} {label:22s} {s['name']:10s} V = {v:18,.1f}  ({how})")
            table[label, kind] = np.array(row)
    base = scenario_instance(raw, {"name": "the file's instance"})
    lease_of = {x["name"]: x for x in base["leases"]}
    single = max(choices, key=lambda c: value(base, c and lease_of[c["name"]], None, 0)[0])
    single = "none" if single is None else single["name"]
    print(f"\nthe file's instance alone (no scenarios) is best with first stage: {single}")
    print(f"reveal {reveal}, alpha {alpha}; F = (1 - w) E + w CVaR")
    for (label, kind), v in table.items():
        if kind == "plan":
            print(f"{label:22s} E = {probs @ v:,.1f}   CVaR = {cvar(v, probs, alpha):,.1f}")
    for weight in sorted({0.0, w, 0.25, 0.5, 1.0}):
        f = {label: (1 - weight) * probs @ v + weight * cvar(v, probs, alpha) for (label, kind), v in table.items() if kind == "plan"}
        best = max(f, key=f.get)
        vstar = np.max([v for (label, kind), v in table.items() if kind == "perfect"], axis=0)
        f_star = (1 - weight) * probs @ vstar + weight * cvar(vstar, probs, alpha)
        print(f"w = {weight:4.2f}: best first stage {best} F = {f[best]:,.1f}; "
              f"V* = {np.round(vstar, 1)}, F(V*) = {f_star:,.1f}, EVPI = {(f_star - f[best]):,.1f}, "
              f"VSS = {f[best] - f[single]:,.1f}")


if __name__ == "__main__":
    main(sys.argv[1])
