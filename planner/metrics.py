"""EVPI and VSS (SPEC section 6): what knowing the future would be worth, and what planning for it is
worth, each from one more solve per scenario.

- EVPI = F(V*) - F(plan), V*_s the optimum of scenario s alone (its exits, reveal period 0).
- VSS = F(plan) - F(V'), V' the plan that keeps the first stage of the file's instance solved without
  `uncertainty` and re-optimises the rest in each scenario (None, with a note, where that is infeasible).
- Both need the plan and every solve they rest on proven optimal; with a time limit (each solve gets it)
  a solve cut short makes its metric None, with a note.
- Both are >= 0 up to the solvers' gap (SPEC section 6): one further below says a solve is not what it
  claims, and is reported with a note saying so.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from planner.batch import run_batch
from planner.first_stage import complete, first_stage_values
from planner.instance import Instance, parse_instance
from planner.model.stochastic import build_stochastic
from planner.results import PlanResult
from planner.risk import risk_objective
from planner.solvers import SolveOptions, Status, get_solver


def alone(inst: Instance, name: str, reveal: int = 0) -> Instance:
    """Scenario `name` as an instance of its own: probability 1, its `set` and exits, the given reveal period."""
    scenario = next(sc for sc in inst.uncertainty.scenarios if sc.name == name)
    data = inst.model_dump()
    data["uncertainty"] = {"scenarios": [{**scenario.model_dump(), "probability": 1.0}], "reveal_period": reveal}
    return parse_instance(data, f"{inst.name} (scenario {name})")


def perfect_information_value(data: dict, name: str, solver: str, gap: float,
                              time_limit: float | None) -> tuple[float | None, bool]:
    """V*_s, the optimum of one scenario known in advance, and whether it was proven (module level: it
    runs in worker processes)."""
    from planner.api import solve

    result = solve(alone(parse_instance(data), name), solver=solver, gap=gap, time_limit=time_limit)
    return (result.objective if result.status.has_solution else None), result.status == Status.OPTIMAL


def value_of_information(inst: Instance, plan: PlanResult, solver: str, options: SolveOptions,
                         workers: int | None = 1, cluster: str | None = None,
                         kept: float | None = None) -> dict[str, Any]:
    """{"evpi", "vss", "notes"} for an instance with `uncertainty` and its plan. Each rests on solves
    proven optimal, or it is None with a note saying which solve was cut short: a time limit (each
    solve gets it, as in evaluate) makes V* and V' lower bounds only, and no difference of them is
    reported as EVPI or VSS. The perfect-information solves (one per scenario) go through
    planner.batch (`workers`, `cluster`). `kept`: F(V') when the caller has it already, proven (the
    extensive form's warm start is that plan)."""
    if plan.status != Status.OPTIMAL:
        return {"evpi": None, "vss": None,
                "notes": [f"EVPI and VSS not computed: the plan is {plan.status.value}, not proven optimal"]}
    evpi, notes = _evpi(inst, plan, solver, options, workers, cluster)
    if kept is None:
        kept, note = _kept_first_stage(inst, solver, options)
        notes += [note] if note else []
    found = {"evpi": evpi, "vss": None if kept is None else plan.objective - kept}
    values = [plan.objective] + [s["objective"] for s in (plan.uncertainty or {}).get("scenarios", [])]
    slack = 2 * options.gap * max(1.0, *(abs(v) for v in values))  # the plan's gap and its comparison's
    notes += [f"{name.upper()} is {value:.6g}, below 0 by more than the solvers' gap allows ({slack:.3g}): a solve "
              "it rests on is not what it claims; please report this instance"
              for name, value in found.items() if value is not None and value < -slack]
    return found | {"notes": notes}


def _evpi(inst: Instance, plan: PlanResult, solver: str, options: SolveOptions, workers: int | None,
          cluster: str | None) -> tuple[float | None, list[str]]:
    """F(V*) - F(plan), or None with the notes saying why."""
    unc = inst.uncertainty
    best = run_batch(functools.partial(perfect_information_value, inst.model_dump(), solver=solver, gap=options.gap,
                                       time_limit=options.time_limit),
                     [sc.name for sc in unc.scenarios], workers=workers, cluster=cluster)
    notes = [f"scenario {sc.name} alone has no plan: EVPI undefined"
             for sc, (v, _) in zip(unc.scenarios, best) if v is None]
    notes += [f"EVPI not computed: scenario {sc.name} alone was not proven optimal within the time limit"
              for sc, (v, proven) in zip(unc.scenarios, best) if v is not None and not proven][:1]
    if notes:
        return None, notes
    p = np.array([sc.probability for sc in unc.scenarios])
    return risk_objective(np.array([v for v, _ in best]), p, unc.cvar_alpha, unc.risk_weight) - plan.objective, []


def _kept_first_stage(inst: Instance, solver: str, options: SolveOptions) -> tuple[float | None, str | None]:
    """F(V'): the first stage of the plan without uncertainty, completed in each scenario; or None and why."""
    from planner.api import solve

    base = solve(inst.model_copy(update={"uncertainty": None}), solver=solver, gap=options.gap,
                 time_limit=options.time_limit)
    if not base.status.has_solution:
        return None, "the instance without uncertainty has no plan: VSS undefined"
    if base.status != Status.OPTIMAL:
        return None, "VSS not computed: the plan without uncertainty was not proven optimal within the time limit"
    sm = build_stochastic(inst)
    done = complete(sm, first_stage_values(sm, base), get_solver(solver), options)
    if done.infeasible is not None:
        return None, (f"scenario {done.infeasible}: the first stage of the plan without uncertainty is infeasible, "
                      "VSS undefined")
    if done.plan is None or not done.proven:
        return None, "VSS not computed: completing the first stage without uncertainty was not proven optimal in time"
    return done.plan.objective, None
