"""The extensive form against an independent enumeration on random small instances with scenarios.

Why the enumeration is exact: every lease here has one eligible cell (one generation, one site) and is
all_or_nothing, so its first-stage decision is acceptance alone (the block is then max_gpus); the reveal
period is 0, so nothing else is first stage. For a fixed acceptance set the scenarios decouple, and
F(V) = (1 - w) E[V] + w CVaR(V) never decreases when one V_s grows, so the best plan for that set takes
each scenario's own optimum. That optimum is the best, over the operator's allowed end periods of each
accepted lease (or no end), of the section 2-4 optimum of the scenario's instance with: accepted leases
signed and their terms cut at their ends (the lessee's exit, or the operator's end, whichever is
earlier), rejected leases removed, and the fees paid. Those deterministic solves use the plain model,
which has no end columns at all.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner import parse_instance, solve
from planner.instance import InstanceError
from planner.scenarios import cases, operator_ends
from planner.verify_scenarios import risk_objective  # the definition (max over eta), not the sorted tail


@st.composite
def scenario_instances(draw) -> dict:
    T = draw(st.integers(2, 4))
    gens = [{"name": f"G{i}", "power_kw": draw(st.sampled_from([0.5, 1.0])), "node_size": draw(st.sampled_from([1, 2])),
             "train_speed": 1.0, "infer_speed": draw(st.sampled_from([1.0, 2.0]))} for i in range(2)]
    site = {"name": "S", "power_mw": draw(st.sampled_from([0.006, 0.01, 1.0])),
            "inventory": {g["name"]: draw(st.integers(0, 6)) for g in gens}}
    if draw(st.booleans()):  # a retirement: a lease that may end before it was bounded by the term's least inventory
        g = draw(st.sampled_from(gens))
        site["deliveries"] = [{"period": draw(st.integers(1, T - 1)), "generation": g["name"],
                               "gpus": -g["node_size"] * draw(st.integers(0, site["inventory"][g["name"]] // g["node_size"]))}]
    leases = []
    for k in range(draw(st.integers(1, 2))):
        start = draw(st.integers(0, T - 2))
        lease = {"name": f"L{k}", "price_per_gpu_hour": draw(st.sampled_from([0.5, 1.0, 2.0])),
                 "generations": [gens[k % 2]["name"]], "max_gpus": draw(st.sampled_from([2, 4])),
                 "all_or_nothing": True, "periods": [start, T]}
        if draw(st.booleans()):
            lease["termination"] = {"fee": draw(st.sampled_from([0.0, 1.0])),
                                    "notice_periods": draw(st.integers(0, 1))}
        leases.append(lease)
    pool = {"name": "P", "demand": [{"units": draw(st.integers(0, 8)), "value_per_unit_hour": 1.5}]}
    run = {"name": "R", "value_per_unit_hour": 1.2, "max_units": 4, "periods": [draw(st.integers(0, T - 1)), T]}
    scenarios = []
    for s in range(draw(st.integers(2, 3))):
        sets = {}
        if draw(st.booleans()):
            sets["leases.L0.price_per_gpu_hour"] = draw(st.sampled_from([0.2, 3.0]))
        if draw(st.booleans()):
            sets["inference.P.demand_scale"] = [draw(st.sampled_from([0.0, 1.0, 2.0])) for _ in range(T)]
        exits = {}
        if draw(st.booleans()):
            lease = leases[-1]
            exits[lease["name"]] = draw(st.integers(lease["periods"][0], T - 1))
        scenarios.append({"name": f"s{s}", "set": sets, "lessee_exits": exits})
    weights = [draw(st.integers(1, 4)) for _ in scenarios]
    for sc, w in zip(scenarios, weights):
        sc["probability"] = w / sum(weights)
    scenarios[-1]["probability"] = 1.0 - sum(sc["probability"] for sc in scenarios[:-1])
    return {"name": "oracle", "horizon": {"periods": T, "period_hours": 1}, "generations": gens, "sites": [site],
            "training": [run], "inference": [pool], "leases": leases,
            "uncertainty": {"scenarios": scenarios, "risk_weight": draw(st.sampled_from([0.0, 0.5, 1.0])),
                            "cvar_alpha": draw(st.sampled_from([0.0, 0.5, 0.8]))}}


def scenario_optimum(inst, case, accepted: tuple[bool, ...]) -> float:
    """The best value of one scenario with the given leases accepted, over every allowed end (see module)."""
    options = []
    for k, lease in enumerate(inst.leases):
        exit_ = case.exits.get(k)
        ends = [e for e in operator_ends(inst, lease, 0) if exit_ is None or e < exit_] if accepted[k] else []
        options.append([None, *ends])
    best = -np.inf
    for chosen in itertools.product(*options):
        data = case.instance.model_dump(exclude={"uncertainty"})
        leases, fees = [], 0.0
        for k, lease in enumerate(data["leases"]):
            lease.pop("termination")
            if not accepted[k]:
                continue
            start, stop = lease["periods"]
            end = min(e for e in (chosen[k], case.exits.get(k), stop) if e is not None)
            if chosen[k] is not None:
                fees += inst.leases[k].termination.fee
            if end > start:
                leases.append({**lease, "signed": True, "periods": [start, end]})
        data["leases"] = leases
        result = solve(parse_instance(data))
        if result.status.has_solution:
            best = max(best, result.objective - fees)
    return best


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(scenario_instances())
def test_extensive_form_matches_enumeration(data):
    try:
        inst = parse_instance(data)
    except InstanceError:
        return
    all_cases = cases(inst)
    p = np.array([c.probability for c in all_cases])
    unc = inst.uncertainty
    best = -np.inf
    for accepted in itertools.product([False, True], repeat=len(inst.leases)):
        values = np.array([scenario_optimum(inst, c, accepted) for c in all_cases])
        if np.isfinite(values).all():
            best = max(best, risk_objective(values, p, unc.cvar_alpha, unc.risk_weight))
    result = solve(inst)
    if not np.isfinite(best):
        assert not result.status.has_solution
        return
    assert result.verified
    assert result.objective == pytest.approx(best, rel=1e-6, abs=1e-6)
