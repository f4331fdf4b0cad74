"""Result documents for the report tests: solved shipped instances, and a hand-made result with
scenarios shaped like SPEC section 6 "Result" (the stochastic solver is not needed to render one)."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from planner.api import solve
from planner.instance import Instance, load_instance

ROOT = Path(__file__).resolve().parent.parent
COLOSSUS = ROOT / "instances" / "colossus1.yaml"
TEACH = ROOT / "instances" / "teach_lease_vs_inference.yaml"  # hand optimum 288: lease `long`, serve chat


def solved(path: Path, **options) -> tuple[Instance, dict]:
    inst = load_instance(path)
    return inst, solve(inst, **options).to_dict()


def teaching_with_scenarios(folder: Path) -> Path:
    """teach_lease_vs_inference with SPEC section 6 scenarios, as a file: `growth` (p = 0.6, as written) and
    `slump` (p = 0.4: chat demand stays at 16 units in period 1, and the lessee of `long` exits at period 1)."""
    data = yaml.safe_load(TEACH.read_text())
    data["uncertainty"] = {"reveal_period": 1, "risk_weight": 0.5, "cvar_alpha": 0.5, "scenarios": [
        {"name": "growth", "probability": 0.6},
        {"name": "slump", "probability": 0.4, "set": {"inference.chat.demand_scale": [1, 1]},
         "lessee_exits": {"long": 1}}]}
    path = folder / "teach_scenarios.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def scenario_result() -> tuple[Instance, dict]:
    """teach_lease_vs_inference under two scenarios. `high` (p = 0.6): as solved, V = 96 + 192 = 288.
    `slump` (p = 0.4): period-1 chat demand falls to 16 units and the lessee of `long` exits at period 1,
    so in period 1 chat holds 16 GPUs and 64 are idle: V = 48 (lease, period 0) + 48 + 48 = 144.
    E[V] = 230.4; CVaR at alpha 0.5 = (0.4 x 144 + 0.1 x 288) / 0.5 = 172.8; F with w = 0.5 = 201.6."""
    inst, doc = solved(TEACH)
    high = [{**row, "scenario": "high"} for row in doc["allocations"]]
    slump = []
    for row in copy.deepcopy(doc["allocations"]):
        row["scenario"] = "slump"
        if row["period"] == 1 and row["use"] == "inference":
            slump += [{**row, "gpus": 16}, {**row, "use": "idle", "consumer": None, "gpus": row["gpus"] - 16}]
        elif row["period"] == 1 and row["use"] == "lease":
            slump.append({**row, "use": "idle", "consumer": None})
        else:
            slump.append(row)
    zero = {"training_value": 0.0, "energy_cost": 0.0, "termination_fees": 0.0}
    scenarios = [
        {"name": "high", "probability": 0.6, "objective": 288.0,
         "breakdown": {"lease_revenue": 96.0, "inference_value": 192.0, **zero}, "lease_ends": []},
        {"name": "slump", "probability": 0.4, "objective": 144.0,
         "breakdown": {"lease_revenue": 48.0, "inference_value": 96.0, **zero},
         "lease_ends": [{"lease": "long", "period": 1, "by": "lessee"}]},
    ]
    doc.update(allocations=high + slump, scenarios=scenarios, objective=201.6, expected_objective=230.4, cvar=172.8,
               breakdown={"lease_revenue": 76.8, "training_value": 0.0, "inference_value": 153.6, "energy_cost": 0.0})
    return inst, doc
