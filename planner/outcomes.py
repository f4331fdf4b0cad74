"""What happened to each internal consumer: every training run placed or not (and, when not, what it
lacked), every inference pool's served and unserved units per tier and period.

Computed from the instance and the plan's allocation rows alone, so a saved result reads the same
as a fresh one. Served units follow the SPEC's value rule (highest tier first, tiers worth <= 0
never served), which is what an optimal plan serves from its capacity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from planner.instance import Instance, TrainingRun

TRAINING_COLUMNS = ["run", "placed", "gpus", "units", "generations", "sites", "lacked", "why"]
INFERENCE_COLUMNS = ["pool", "period", "tier", "value_per_unit_hour", "demand", "served", "unserved"]


@dataclass
class Reach:
    """The most compute units a run could get on its own, and where."""

    units: float
    generations: list[str]
    sites: list[str]

    def where(self) -> str:
        return f"{' + '.join(self.generations)} at {' + '.join(self.sites)}"


def consumer_outcomes(inst: Instance, allocations: pd.DataFrame) -> dict[str, list[dict]]:
    """The JSON form: {"training": [...], "inference": [...]}, rows in instance order."""
    return {"training": _records(training_outcomes(inst, allocations)),
            "inference": _records(inference_outcomes(inst, allocations))}


def _records(frame: pd.DataFrame) -> list[dict]:
    """Rows as JSON objects, a missing value as null: pandas 3 stores the None of a text column as
    NaN, which JSON has no word for (`planner solve --format json` wrote `"lacked": NaN`)."""
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def training_outcomes(inst: Instance, allocations: pd.DataFrame) -> pd.DataFrame:
    """One row per run: GPUs and units per period when placed; otherwise what it lacked
    ("gpus", "power" or "value") and why, in words."""
    busy = allocations[allocations["use"] != "idle"]
    busy = busy.assign(g=busy["generation"].map({g.name: k for k, g in enumerate(inst.generations)}),
                       s=busy["site"].map({s.name: k for k, s in enumerate(inst.sites)}))
    by_run = dict(tuple(busy[busy["use"] == "training"].groupby("consumer")))
    rows = []
    for run in inst.training:
        mine = by_run.get(run.name, busy.iloc[:0])
        held = mine[mine["period"] == inst.window(run).start]
        gpus = int(held["gpus"].sum())
        if gpus:
            rows.append([run.name, True, gpus, _units(inst, run, held), _names(held["generation"]),
                         _names(held["site"]), None, None])
        else:
            lacked, why = what_it_lacked(inst, run, busy)
            rows.append([run.name, False, 0, 0.0, [], [], lacked, why])
    return pd.DataFrame(rows, columns=TRAINING_COLUMNS)


def _names(column: pd.Series) -> list[str]:
    return list(dict.fromkeys(column))


def _units(inst: Instance, run: TrainingRun, held: pd.DataFrame) -> float:
    """Compute units per period of a placed run (a mixed run at its slowest generation's pace)."""
    speed = held["generation"].map({g.name: g.train_speed for g in inst.generations})
    if run.homogeneous:
        return float((held["gpus"] * speed).sum())
    return float(held["gpus"].sum() * speed.min())


def what_it_lacked(inst: Instance, run: TrainingRun, busy: pd.DataFrame) -> tuple[str, str]:
    """Why a run was not placed: not enough GPUs of an allowed generation at one site (even with
    every one of them), not enough power to run them (even with each site's power to itself), or
    neither: then the GPUs it could use were worth more elsewhere (`busy`: the plan's non-idle rows,
    with generation and site indices g and s)."""
    need = f"it needs {run.min_units:,.0f} units" if run.min_units > 0 else "it needs one node"
    gpus_only, powered = reach(inst, run, powered=False), reach(inst, run, powered=True)
    if gpus_only.units <= 0:
        return "gpus", f"GPUs: none of the GPUs it may use ({_shape(run)}) is there throughout its term; {need}"
    if gpus_only.units < run.min_units:
        return "gpus", (f"GPUs: at most {gpus_only.units:,.0f} units from the GPUs it may use "
                        f"({_shape(run)}, best {gpus_only.where()}); {need}")
    if powered.units <= 0 or powered.units < run.min_units:
        return "power", (f"power: its GPUs give {gpus_only.units:,.0f} units but site power runs at most "
                         f"{powered.units:,.0f} of them ({powered.where()}); {need}")
    holders = _holders(inst, run, busy)
    went = f"its GPUs went to {holders}" if holders else "its GPUs stay idle: its value does not cover their energy"
    return "value", (f"worth less than the alternatives: up to {powered.units:,.0f} units fit "
                     f"({powered.where()}), but {went}")


def _shape(run: TrainingRun) -> str:
    one_gen = "one generation" if run.homogeneous else "generations mixed at the slowest's pace"
    return f"{one_gen}, {'one site' if run.single_site else 'any sites'}"


def reach(inst: Instance, run: TrainingRun, powered: bool) -> Reach:
    """The most units the run could get with every GPU it may use in every period of its window,
    and, when `powered`, each site's power to itself (lowest-power GPUs first, whole nodes)."""
    gens, sites = inst.allowed_generations(run), inst.allowed_sites(run)
    best = Reach(0.0, [], [])
    if not gens or not sites:
        return best
    nodes = inst.usable_nodes()[np.ix_(gens, sites, list(inst.window(run)))].min(axis=2)
    speeds = np.array([inst.generations[g].train_speed for g in gens])
    groups = [[j] for j in range(len(sites))] if run.single_site else [list(range(len(sites)))]
    one = np.eye(len(gens), dtype=bool)
    paces = [(one[i], speeds[i]) for i in range(len(gens))] if run.homogeneous else \
        [(speeds >= v, v) for v in np.unique(speeds)]
    for group in groups:
        for chosen, pace in paces:
            counts = sum(_runnable(inst, [gens[i] for i in np.flatnonzero(chosen)], sites[j],
                                   nodes[chosen, j], powered) for j in group)
            units = float(pace * counts.sum())
            if units > best.units:
                used = np.flatnonzero(counts)
                best = Reach(units, [inst.generations[gens[np.flatnonzero(chosen)[i]]].name for i in used],
                             [inst.sites[sites[j]].name for j in group])
    return best


def _runnable(inst: Instance, gens: list[int], site: int, nodes: np.ndarray, powered: bool) -> np.ndarray:
    """GPUs per generation that can run at a site: all of them, or as many whole nodes as its power
    runs, lowest facility kW per GPU first (the most GPUs a budget buys)."""
    sizes = np.array([inst.generations[g].node_size for g in gens])
    if not powered:
        return nodes * sizes
    s = inst.sites[site]
    node_kw = np.array([inst.generations[g].power_kw for g in gens]) * sizes * s.pue
    budget, taken = s.power_mw * 1000.0, np.zeros(len(gens), dtype=np.int64)
    for i in np.argsort(node_kw, kind="stable"):
        taken[i] = nodes[i] if node_kw[i] <= 0 else min(nodes[i], int(budget // node_kw[i] + 1e-9))
        budget -= taken[i] * node_kw[i]
    return taken * sizes


def _holders(inst: Instance, run: TrainingRun, busy: pd.DataFrame, most: int = 3) -> str:
    """Who holds the GPUs the run could use, most GPUs per period first."""
    window = inst.window(run)
    t = busy["period"].to_numpy()
    mine = busy[np.isin(busy["g"].to_numpy(), inst.allowed_generations(run))
                & np.isin(busy["s"].to_numpy(), inst.allowed_sites(run)) & (t >= window.start) & (t < window.stop)]
    per_period = (mine.groupby(["use", "consumer"])["gpus"].sum() / len(window)).sort_values(ascending=False)
    return ", ".join(f"{use} {name} ({gpus:,.0f} GPUs)" for (use, name), gpus in per_period.head(most).items())


def inference_outcomes(inst: Instance, allocations: pd.DataFrame) -> pd.DataFrame:
    """One row per pool, active period and tier (tiers as written): demand, served, unserved units."""
    speed = {g.name: g.infer_speed for g in inst.generations}
    a = allocations[allocations["use"] == "inference"]
    capacity = (a["gpus"] * a["generation"].map(speed)).groupby([a["consumer"], a["period"]]).sum()
    rows = []
    for pool in inst.inference:
        scale = pool.demand_scale or [1.0] * inst.T
        for t in inst.window(pool):
            left = float(capacity.get((pool.name, t), 0.0))
            served = {}
            for j in sorted(range(len(pool.demand)), key=lambda j: -pool.demand[j].value_per_unit_hour):
                tier = pool.demand[j]
                served[j] = min(left, tier.units * scale[t]) if tier.value_per_unit_hour > 0 else 0.0
                left -= served[j]
            for j, tier in enumerate(pool.demand):
                demand = tier.units * scale[t]
                rows.append([pool.name, t, j, tier.value_per_unit_hour, demand, served[j], demand - served[j]])
    return pd.DataFrame(rows, columns=INFERENCE_COLUMNS)
