"""Result documents for the report tests: solved shipped instances, and a hand-made result with
scenarios shaped like SPEC section 6 "Result" (the stochastic solver is not needed to render one)."""

from __future__ import annotations

import copy
from pathlib import Path

from planner.api import solve
from planner.instance import Instance, load_instance

ROOT = Path(__file__).resolve().parent.parent
COLOSSUS = ROOT / "instances" / "colossus1.yaml"
TEACH = ROOT / "instances" / "teach_lease_vs_inference.yaml"  # hand optimum 288: lease `long`, serve chat


def solved(path: Path, **options) -> tuple[Instance, dict]:
    inst = load_instance(path)
    return inst, solve(inst, **options).to_dict()


def scenario_result() -> tuple[Instance, dict]:
    """teach_lease_vs_inference under two scenarios: `high` (as solved, V = 288, p = 0.6) and `slump`
    (period-1 chat demand falls to 16 units: 32 of its 48 GPUs idle, V = 96 + 96 = 192, p = 0.4).
    E[V] = 249.6; CVaR at alpha 0.5 = (0.4 x 192 + 0.1 x 288) / 0.5 = 211.2; F with w = 0.5 = 230.4."""
    inst, doc = solved(TEACH)
    high = [{**row, "scenario": "high"} for row in doc["allocations"]]
    slump = []
    for row in copy.deepcopy(doc["allocations"]):
        row["scenario"] = "slump"
        if row["period"] == 1 and row["use"] == "inference":
            slump += [{**row, "gpus": 16}, {**row, "use": "idle", "consumer": None, "gpus": row["gpus"] - 16}]
        else:
            slump.append(row)
    breakdown = {"lease_revenue": 96.0, "training_value": 0.0, "inference_value": 0.0, "energy_cost": 0.0,
                 "termination_fees": 0.0}
    scenarios = [
        {"name": "high", "probability": 0.6, "objective": 288.0, "breakdown": {**breakdown, "inference_value": 192.0},
         "lease_ends": []},
        {"name": "slump", "probability": 0.4, "objective": 192.0, "breakdown": {**breakdown, "inference_value": 96.0},
         "lease_ends": [{"lease": "long", "period": 1, "by": "lessee"}]},
    ]
    doc.update(allocations=high + slump, scenarios=scenarios, objective=230.4, expected_objective=249.6, cvar=211.2,
               breakdown={"lease_revenue": 96.0, "training_value": 0.0, "inference_value": 153.6, "energy_cost": 0.0})
    return inst, doc
