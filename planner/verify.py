"""The independent checker: every SPEC rule recomputed from a result's allocation rows.

It deliberately shares no code with the model: usable GPUs, discount weights, scopes,
compute units and values are all derived here from the SPEC text alone, so a bug in the
model cannot hide behind the same bug in its checker. `check` lists what is wrong;
`verify` raises if anything is.
"""

from __future__ import annotations

import math
import numbers
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from planner.instance import InferencePool, Instance, Lease, Scoped, TrainingRun
from planner.ranges import excerpt
from planner.solvers import HEURISTICS, SOLVERS

STATUSES = ("optimal", "feasible", "infeasible", "unbounded", "no_solution")
WITH_SOLUTION = ("optimal", "feasible")
USES = ("training", "inference", "lease", "idle")
TERMS = ("lease_revenue", "training_value", "inference_value", "energy_cost")
SOLVER_NAMES = (*SOLVERS, *HEURISTICS)
# The only continuous quantities in a plan are served units, re-solved by HiGHS's LP ("polish"), whose
# primal feasibility tolerance is 1e-7: each may be off by that much of a unit. Everything else is whole
# nodes, recomputed exactly up to floating-point rounding (FLOAT_TOL, relative to the money involved).
SERVED_UNIT_TOL = 1e-7
FLOAT_TOL = 1e-12


@dataclass
class Violation:
    rule: str
    message: str

    def __str__(self) -> str:
        return f"[{self.rule}] {self.message}"


class VerificationError(Exception):
    """A result that breaks at least one SPEC rule; `.violations` lists them all."""

    def __init__(self, violations: list[Violation]):
        self.violations = violations
        super().__init__("the result breaks the SPEC:\n" + "\n".join(f"  {v}" for v in violations))


# ----- what the rules look at -----------------------------------------------------------


@dataclass
class _Plan:
    """The instance's numbers (derived from the SPEC text) and the result's allocation as arrays."""

    inst: Instance
    result: dict
    gens: list[str]
    sites: list[str]
    weights: np.ndarray  # w_t, shape (T,)
    usable: np.ndarray  # usable GPUs, shape (G, S, T)
    alloc: dict[tuple[str, str], np.ndarray]  # (use, consumer) -> GPUs, shape (G, S, T), every consumer
    idle: np.ndarray | None  # GPUs reported idle, shape (G, S, T); None when no idle row is given
    rel_tol: float

    @property
    def T(self) -> int:
        return self.inst.horizon.periods

    @property
    def H(self) -> float:
        return self.inst.horizon.period_hours

    def gen_attr(self, attr: str) -> np.ndarray:
        return np.array([getattr(g, attr) for g in self.inst.generations], dtype=float)

    def site_attr(self, attr: str) -> np.ndarray:
        return np.array([getattr(s, attr) for s in self.inst.sites], dtype=float)

    @cached_property
    def allocated(self) -> np.ndarray:
        """GPUs given to any consumer, shape (G, S, T)."""
        return sum(self.alloc.values(), np.zeros_like(self.usable))

    @cached_property
    def entries(self) -> dict[str, dict]:
        """The result's leases list by name (first entry of each name)."""
        out: dict[str, dict] = {}
        for entry in _list(self.result.get("leases")):
            if isinstance(entry, dict):
                out.setdefault(entry.get("name"), entry)
        return out

    @cached_property
    def terms(self) -> dict[str, float]:
        """The four breakdown terms, recomputed from the allocation."""
        return {
            "lease_revenue": sum(lease_revenue(self, x) for x in self.inst.leases),
            "training_value": sum(training_value(self, x) for x in self.inst.training),
            "inference_value": sum(inference_value(self, x) for x in self.inst.inference),
            "energy_cost": energy_cost(self),
        }

    @cached_property
    def value(self) -> float:
        """The objective recomputed: lease_revenue + training_value + inference_value - energy_cost."""
        t = self.terms
        return t["lease_revenue"] + t["training_value"] + t["inference_value"] - t["energy_cost"]

    @cached_property
    def money_tol(self) -> float:
        """How far a reported amount may be from its recomputation: SERVED_UNIT_TOL of a serving unit at
        the best tier value in every active period of every pool, plus FLOAT_TOL of the money involved."""
        objective = self.result.get("objective")
        size = max(1.0, abs(objective) if _is_number(objective) else 0.0, sum(abs(v) for v in self.terms.values()))
        served = sum(served_unit_worth(self, pool) for pool in self.inst.inference)
        return SERVED_UNIT_TOL * served + FLOAT_TOL * size


def _is_number(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _is_count(x: object) -> bool:
    """A whole number >= 0 (JSON may write 3 as 3.0)."""
    return _is_number(x) and x >= 0 and float(x).is_integer()


def _list(x: object) -> list:
    return x if isinstance(x, list) else []


def _mapping(x: object) -> dict:
    return x if isinstance(x, dict) else {}


def _known(name: object, items: list) -> bool:
    return isinstance(name, str) and name in {x.name for x in items}


def _consumers(inst: Instance) -> list[tuple[str, Scoped]]:
    return (
        [("training", c) for c in inst.training]
        + [("inference", c) for c in inst.inference]
        + [("lease", c) for c in inst.leases]
    )


def discount_weights(inst: Instance) -> np.ndarray:
    """w_t = (1 + r) ** (-t * H / 8760)."""
    h = inst.horizon
    return (1.0 + h.discount_rate) ** (-np.arange(h.periods) * h.period_hours / 8760.0)


def usable_gpus(inst: Instance) -> np.ndarray:
    """node_size * floor(installed / node_size), installed = inventory + deliveries up to t."""
    gi = {g.name: i for i, g in enumerate(inst.generations)}
    installed = np.zeros((len(inst.generations), len(inst.sites), inst.horizon.periods), dtype=np.int64)
    for s, site in enumerate(inst.sites):
        for name, gpus in site.inventory.items():
            installed[gi[name], s, :] += gpus
        for d in site.deliveries:
            installed[gi[d.generation], s, d.period :] += d.gpus
    size = np.array([g.node_size for g in inst.generations])[:, None, None]
    return size * (installed // size)


def window_mask(c: Scoped, T: int) -> np.ndarray:
    """The consumer's [start, end) periods, whole horizon by default."""
    start, end = c.periods or (0, T)
    return (np.arange(T) >= start) & (np.arange(T) < end)


def generation_mask(c: Scoped, gens: list[str]) -> np.ndarray:
    """Allowed generations; a per-generation price mapping also limits a lease to those priced."""
    allowed = set(gens if c.generations is None else c.generations)
    if isinstance(c, Lease) and isinstance(c.price_per_gpu_hour, dict):
        allowed &= set(c.price_per_gpu_hour)
    return np.array([g in allowed for g in gens])


def site_mask(c: Scoped, sites: list[str]) -> np.ndarray:
    """Allowed sites, all by default."""
    return np.array([c.sites is None or s in c.sites for s in sites])


# ----- reading the allocation rows ------------------------------------------------------


def row_problems(inst: Instance, i: int, row: object) -> list[Violation]:
    """Each row names a known site, generation, use and consumer of that use, a period and whole GPUs."""
    row = row if isinstance(row, dict) else {}
    where = f"allocations[{i}]"
    names = {"training": inst.training, "inference": inst.inference, "lease": inst.leases}
    out = []
    if not _known(row.get("site"), inst.sites):
        out.append(Violation("row.name", f"{where}: unknown site {row.get('site')!r}"))
    if not _known(row.get("generation"), inst.generations):
        out.append(Violation("row.name", f"{where}: unknown generation {row.get('generation')!r}"))
    use, consumer = row.get("use"), row.get("consumer")
    if use not in USES:
        out.append(Violation("row.use", f"{where}: unknown use {use!r} (expected one of {', '.join(USES)})"))
    elif use == "idle" and consumer is not None:
        out.append(Violation("row.consumer", f"{where}: an idle row names consumer {consumer!r}"))
    elif use != "idle" and not _known(consumer, names[use]):
        out.append(Violation("row.consumer", f"{where}: no {use} consumer is named {consumer!r}"))
    period = row.get("period")
    if not (_is_number(period) and float(period).is_integer() and 0 <= period < inst.horizon.periods):
        out.append(Violation("row.period", f"{where}: period {period!r} is not in 0..{inst.horizon.periods - 1}"))
    gpus = row.get("gpus")
    if not _is_number(gpus) or gpus < 0 or not float(gpus).is_integer():
        out.append(Violation("row.gpus", f"{where}: gpus {gpus!r} is not a whole number >= 0"))
    return out


def read_rows(inst: Instance, result: dict) -> tuple[list[Violation], dict, np.ndarray | None]:
    """Sum the rows per key into (G, S, T) arrays; rows naming unknown things are reported and dropped."""
    gi = {g.name: i for i, g in enumerate(inst.generations)}
    si = {s.name: i for i, s in enumerate(inst.sites)}
    shape = (len(gi), len(si), inst.horizon.periods)
    alloc = {(use, c.name): np.zeros(shape) for use, c in _consumers(inst)}
    idle = None
    problems: list[Violation] = []
    for i, row in enumerate(_list(result.get("allocations"))):
        found = row_problems(inst, i, row)
        problems += found
        if any(v.rule != "row.gpus" for v in found) or not _is_number(row.get("gpus")):
            continue
        if row["use"] == "idle":
            idle = np.zeros(shape) if idle is None else idle
            target = idle
        else:
            target = alloc[row["use"], row["consumer"]]
        target[gi[row["generation"]], si[row["site"]], int(row["period"])] += row["gpus"]
    return problems, alloc, idle


# ----- recomputed values ----------------------------------------------------------------


def training_units(p: _Plan, run: TrainingRun) -> np.ndarray:
    """Units per period: GPUs x own train_speed if homogeneous, else all GPUs x slowest used generation's."""
    per_gen = p.alloc["training", run.name].sum(axis=1)  # (G, T)
    speed = p.gen_attr("train_speed")
    if run.homogeneous:
        return speed @ per_gen
    used = per_gen > 0
    slowest = np.where(used, speed[:, None], np.inf).min(axis=0)
    slowest[~used.any(axis=0)] = 0.0
    return per_gen.sum(axis=0) * slowest


def training_value(p: _Plan, run: TrainingRun) -> float:
    """Sum over its periods of w_t * H * value_per_unit_hour * units."""
    units = training_units(p, run) * window_mask(run, p.T)
    return float(p.weights @ units) * p.H * run.value_per_unit_hour


def serving_capacity(p: _Plan, pool: InferencePool) -> np.ndarray:
    """Per period: sum of GPUs x infer_speed over the pool's allocation."""
    return p.gen_attr("infer_speed") @ p.alloc["inference", pool.name].sum(axis=1)


def demand_scale(p: _Plan, pool: InferencePool) -> np.ndarray:
    """The pool's per-period multipliers, all 1 by default."""
    return np.ones(p.T) if pool.demand_scale is None else np.array(pool.demand_scale, dtype=float)


def served_per_tier(pool: InferencePool, capacity: float, scale: float) -> list[float]:
    """Best split of capacity over the tiers (in the pool's order): highest value first, tiers worth <= 0
    never served."""
    served, left = [0.0] * len(pool.demand), capacity
    for j in sorted(range(len(pool.demand)), key=lambda j: -pool.demand[j].value_per_unit_hour):
        if pool.demand[j].value_per_unit_hour <= 0:
            break
        served[j] = min(left, pool.demand[j].units * scale)
        left -= served[j]
    return served


def served_value_per_hour(pool: InferencePool, capacity: float, scale: float) -> float:
    """The value of that best split, per hour."""
    return sum(units * tier.value_per_unit_hour for units, tier in zip(served_per_tier(pool, capacity, scale), pool.demand))


def inference_value(p: _Plan, pool: InferencePool) -> float:
    """Sum over active periods of w_t * H * value of the best split."""
    capacity, scale, active = serving_capacity(p, pool), demand_scale(p, pool), window_mask(pool, p.T)
    per_hour = [served_value_per_hour(pool, capacity[t], scale[t]) if active[t] else 0.0 for t in range(p.T)]
    return float(p.weights @ per_hour) * p.H


def served_unit_worth(p: _Plan, pool: InferencePool) -> float:
    """The money one serving unit in each of the pool's periods can be worth: sum of w_t * H * best tier value."""
    best = max((tier.value_per_unit_hour for tier in pool.demand), default=0.0)
    return float(p.weights @ window_mask(pool, p.T)) * p.H * max(best, 0.0)


def lease_block(p: _Plan, lease: Lease) -> np.ndarray:
    """GPUs the lease holds in each period."""
    return p.alloc["lease", lease.name].sum(axis=(0, 1))


def accepted(p: _Plan, lease: Lease) -> bool:
    """As the result's leases list says; a lease missing from it is accepted when it holds GPUs."""
    entry = p.entries.get(lease.name, {})
    return entry["accepted"] if isinstance(entry.get("accepted"), bool) else bool(lease_block(p, lease).any())


def lease_revenue(p: _Plan, lease: Lease) -> float:
    """sum_t w_t * H * GPUs * price over the term, or sum_t w_t * payment_per_period if accepted."""
    term = p.weights * window_mask(lease, p.T)
    if lease.payment_per_period is not None:
        return float(term.sum()) * lease.payment_per_period if accepted(p, lease) else 0.0
    price = lease.price_per_gpu_hour
    per_gen = np.array([price.get(g, 0.0) if isinstance(price, dict) else price for g in p.gens])
    return float(term @ (per_gen @ p.alloc["lease", lease.name].sum(axis=1))) * p.H


def energy_cost(p: _Plan) -> float:
    """sum_t w_t * H * price(s) * facility MW drawn, leased GPUs whose lessee pays power excluded."""
    paying = {("lease", x.name) for x in p.inst.leases if x.lessee_pays_power}
    gpus = sum((x for key, x in p.alloc.items() if key not in paying), np.zeros_like(p.usable))
    mw = np.einsum("gst,g->st", gpus, p.gen_attr("power_kw")) * p.site_attr("pue")[:, None] / 1000.0
    return float(p.site_attr("energy_price_per_mwh") @ mw @ p.weights) * p.H


def _where(p: _Plan, g: int | None, s: int, t: int) -> str:
    return f"site {p.sites[s]} period {t}" + ("" if g is None else f" generation {p.gens[g]}")


# ----- the document's shape (shared with planner.diff) ------------------------------------


def document_problems(doc: object) -> list[str]:
    """The reported fields' types and ranges: what makes a document not a section-5 result."""
    if not isinstance(doc, dict):
        return [f"expected a result document (a mapping), got {type(doc).__name__}"]
    out = []
    if doc.get("status") not in STATUSES:
        out.append(f"status {excerpt(doc.get('status'))} is not one of {', '.join(STATUSES)}")
    if not isinstance(doc.get("instance"), str):
        out.append(f"instance {excerpt(doc.get('instance'))} is not a name")
    solved = doc.get("status") in WITH_SOLUTION
    for key, wanted, ok in [
        ("objective", "a number", _is_number(doc.get("objective")) or (not solved and doc.get("objective") is None)),
        ("best_bound", "a number or null", doc.get("best_bound") is None or _is_number(doc.get("best_bound"))),
        ("mip_gap", "a number >= 0 or null", doc.get("mip_gap") is None or
         (_is_number(doc.get("mip_gap")) and doc["mip_gap"] >= 0)),
        ("solve_seconds", "a number >= 0", _is_number(doc.get("solve_seconds")) and doc["solve_seconds"] >= 0),
        ("breakdown", f"a mapping of {', '.join(TERMS)} to numbers", isinstance(doc.get("breakdown"), dict) and
         all(_is_number(doc["breakdown"].get(t)) for t in TERMS)),
        ("allocations", "a list", isinstance(doc.get("allocations"), list)),
        ("leases", "a list", isinstance(doc.get("leases"), list)),
        ("warnings", "a list of strings", isinstance(doc.get("warnings"), list) and
         all(isinstance(w, str) for w in doc["warnings"])),
    ]:
        if not ok:
            out.append(f"{key}: expected {wanted}, got {excerpt(doc.get(key))}")
    return out or _status_problems(doc)


def _status_problems(doc: dict) -> list[str]:
    """A plan under a status that says there is none (`infeasible`, `unbounded`, `no_solution`)."""
    if doc["status"] in WITH_SOLUTION:
        return []
    held = len(doc["allocations"]) + sum(1 for x in doc["leases"] if isinstance(x, dict) and x.get("accepted"))
    if not held:
        return []
    return [f"status {doc['status']} but the document holds a plan ({held} allocation rows and accepted leases)"]


def entry_problems(doc: dict) -> list[str]:
    """Allocation rows and lease entries that are not mappings of the SPEC's keys and types."""
    out = []
    for i, row in enumerate(_list(doc.get("allocations"))):
        row = _mapping(row)
        for key, ok in [("period", _is_count(row.get("period"))), ("gpus", _is_count(row.get("gpus"))),
                        ("use", row.get("use") in USES), ("consumer", row.get("consumer") is None or
                                                           isinstance(row.get("consumer"), str)),
                        *((key, isinstance(row.get(key), str)) for key in ("site", "generation"))]:
            if not ok:
                out.append(f"allocations[{i}].{key}: unexpected {excerpt(row.get(key))}")
    for i, entry in enumerate(_list(doc.get("leases"))):
        entry = _mapping(entry)
        for key, ok in [("name", isinstance(entry.get("name"), str)), ("accepted", isinstance(entry.get("accepted"), bool)),
                        ("gpus", _is_count(entry.get("gpus"))), ("revenue", _is_number(entry.get("revenue")))]:
            if not ok:
                out.append(f"leases[{i}].{key}: unexpected {excerpt(entry.get(key))}")
    return out


# ----- the rules ------------------------------------------------------------------------


def fields(result: dict, inst: Instance) -> Iterator[Violation]:
    """The reported fields have the SPEC's types and ranges, name this instance and a known solver."""
    for problem in document_problems(result):
        yield Violation("result.field", problem)
    if not isinstance(result, dict):
        return
    if result.get("instance") != inst.name:
        yield Violation("result.instance", f"the result is for instance {excerpt(result.get('instance'))}, "
                                           f"not {excerpt(inst.name)}")
    if result.get("solver") not in SOLVER_NAMES:
        yield Violation("result.solver", f"solver {excerpt(result.get('solver'))} is not one of {', '.join(SOLVER_NAMES)}")


def inventory(p: _Plan) -> Iterator[Violation]:
    """GPUs given to all consumers <= usable GPUs, per generation, site and period."""
    over = p.allocated - p.usable
    for g, s, t in np.argwhere(over > 0):
        yield Violation(
            "inventory",
            f"{_where(p, g, s, t)}: {p.allocated[g, s, t]:g} GPUs allocated > {p.usable[g, s, t]} usable",
        )


def idle(p: _Plan) -> Iterator[Violation]:
    """When idle rows are given: idle >= 0 and allocated + idle == usable."""
    if p.idle is None:
        return
    for g, s, t in np.argwhere((p.idle < 0) | (p.allocated + p.idle != p.usable)):
        yield Violation(
            "idle",
            f"{_where(p, g, s, t)}: {p.allocated[g, s, t]:g} allocated + {p.idle[g, s, t]:g} idle "
            f"!= {p.usable[g, s, t]} usable",
        )


def power(p: _Plan) -> Iterator[Violation]:
    """Sum of GPUs x power_kw x pue / 1000 <= power_mw, per site and period."""
    mw = np.einsum("gst,g->st", p.allocated, p.gen_attr("power_kw")) * p.site_attr("pue")[:, None] / 1000.0
    cap = p.site_attr("power_mw")[:, None]
    for s, t in np.argwhere(mw > cap + p.rel_tol * np.maximum(1.0, cap)):
        yield Violation("power", f"{_where(p, None, s, t)}: {mw[s, t]:.6g} MW drawn > {cap[s, 0]:g} MW available")


def granularity(p: _Plan) -> Iterator[Violation]:
    """Every (consumer, generation, site, period) count is a whole number of nodes."""
    size = p.gen_attr("node_size")[:, None, None]
    for (use, name), x in p.alloc.items():
        for g, s, t in np.argwhere(np.mod(x, size) != 0):
            yield Violation(
                "granularity",
                f"{use} {name}, {_where(p, g, s, t)}: {x[g, s, t]:g} GPUs is not a multiple of "
                f"node_size {size[g, 0, 0]:g}",
            )


def scope(p: _Plan) -> Iterator[Violation]:
    """Consumers only use their allowed generations and sites, in their active periods."""
    for use, c in _consumers(p.inst):
        x = p.alloc[use, c.name]
        for g in np.flatnonzero(~generation_mask(c, p.gens) & x.any(axis=(1, 2))):
            yield Violation("scope.generation", f"{use} {c.name} holds {p.gens[g]} GPUs, a generation it may not use")
        for s in np.flatnonzero(~site_mask(c, p.sites) & x.any(axis=(0, 2))):
            yield Violation("scope.site", f"{use} {c.name} holds GPUs at site {p.sites[s]}, which it may not use")
        for t in np.flatnonzero(~window_mask(c, p.T) & x.any(axis=(0, 1))):
            yield Violation("scope.period", f"{use} {c.name} holds GPUs in period {t}, outside its periods {c.periods}")


def _same_allocation(p: _Plan, use: str, c: Scoped) -> Iterator[Violation]:
    x = p.alloc[use, c.name][:, :, window_mask(c, p.T)]
    for g, s in np.argwhere((x != x[:, :, :1]).any(axis=2)):
        yield Violation(
            f"{use}.same_allocation",
            f"{use} {c.name}: {p.gens[g]} GPUs at site {p.sites[s]} change over its periods: "
            + ", ".join(f"{v:g}" for v in x[g, s]),
        )


def training_same_allocation(p: _Plan) -> Iterator[Violation]:
    """A run holds the same GPUs per generation and site in every period of its window."""
    for run in p.inst.training:
        yield from _same_allocation(p, "training", run)


def _placed(p: _Plan, run: TrainingRun) -> bool:
    """A run is placed when it holds at least one node."""
    return bool(p.alloc["training", run.name].any())


def training_units_bounds(p: _Plan) -> Iterator[Violation]:
    """A placed run has min_units <= units <= max_units in each of its periods."""
    for run in p.inst.training:
        if not _placed(p, run):
            continue
        hi = math.inf if run.max_units is None else run.max_units
        units = training_units(p, run)
        for t in np.flatnonzero(window_mask(run, p.T)):
            if not run.min_units - p.rel_tol * max(1, run.min_units) <= units[t] <= hi + p.rel_tol * max(1, hi):
                yield Violation(
                    "training.units",
                    f"training {run.name} period {t}: {units[t]:g} units outside [{run.min_units:g}, {hi:g}]",
                )


def training_required(p: _Plan) -> Iterator[Violation]:
    """A required run is placed."""
    for run in p.inst.training:
        if run.required and not _placed(p, run):
            yield Violation("training.required", f"training {run.name} is required but holds no GPUs")


def training_homogeneous(p: _Plan) -> Iterator[Violation]:
    """A homogeneous run uses one generation."""
    for run in p.inst.training:
        used = [p.gens[g] for g in np.flatnonzero(p.alloc["training", run.name].any(axis=(1, 2)))]
        if run.homogeneous and len(used) > 1:
            yield Violation("training.homogeneous", f"training {run.name} is homogeneous but uses {', '.join(used)}")


def training_single_site(p: _Plan) -> Iterator[Violation]:
    """A single_site run uses one site."""
    for run in p.inst.training:
        used = [p.sites[s] for s in np.flatnonzero(p.alloc["training", run.name].any(axis=(0, 2)))]
        if run.single_site and len(used) > 1:
            yield Violation("training.single_site", f"training {run.name} is single_site but uses {', '.join(used)}")


def inference_min_units(p: _Plan) -> Iterator[Violation]:
    """Serving capacity >= min_units x demand_scale[t] in each active period."""
    for pool in p.inst.inference:
        need = pool.min_units * demand_scale(p, pool)
        capacity = serving_capacity(p, pool)
        for t in np.flatnonzero(window_mask(pool, p.T) & (capacity < need - p.rel_tol * np.maximum(1.0, need))):
            yield Violation(
                "inference.min_units",
                f"inference {pool.name} period {t}: capacity {capacity[t]:g} < {need[t]:g} units required",
            )


def lease_same_allocation(p: _Plan) -> Iterator[Violation]:
    """A lease holds the same GPUs per generation and site in every period of its term."""
    for lease in p.inst.leases:
        yield from _same_allocation(p, "lease", lease)


def lease_size(p: _Plan) -> Iterator[Violation]:
    """An accepted lease's block is within [min_gpus, max_gpus] in each period of its term."""
    for lease in p.inst.leases:
        if not accepted(p, lease):
            continue
        hi = math.inf if lease.max_gpus is None else lease.max_gpus
        block = lease_block(p, lease)
        for t in np.flatnonzero(window_mask(lease, p.T)):
            if not lease.min_gpus <= block[t] <= hi:
                yield Violation(
                    "lease.size", f"lease {lease.name} period {t}: {block[t]:g} GPUs outside [{lease.min_gpus}, {hi:g}]"
                )


def lease_all_or_nothing(p: _Plan) -> Iterator[Violation]:
    """An accepted all_or_nothing lease holds exactly max_gpus."""
    for lease in p.inst.leases:
        if not (lease.all_or_nothing and accepted(p, lease)):
            continue
        block = lease_block(p, lease)
        for t in np.flatnonzero(window_mask(lease, p.T) & (block != lease.max_gpus)):
            yield Violation(
                "lease.all_or_nothing",
                f"lease {lease.name} period {t}: accepted all_or_nothing with {block[t]:g} GPUs, "
                f"not max_gpus {lease.max_gpus}",
            )


def lease_accepted(p: _Plan) -> Iterator[Violation]:
    """A lease holding GPUs is accepted; a plain per-GPU lease holding none is not."""
    for lease in p.inst.leases:
        holds = bool(lease_block(p, lease).any())
        if holds and not accepted(p, lease):
            yield Violation("lease.accepted", f"lease {lease.name} holds GPUs but is reported not accepted")
        zero_allowed = lease.signed or lease.payment_per_period is not None or lease.group is not None
        if not holds and accepted(p, lease) and not zero_allowed:
            yield Violation("lease.accepted", f"lease {lease.name} is per-GPU priced, holds no GPUs, yet is accepted")


def lease_whole_sites(p: _Plan) -> Iterator[Violation]:
    """An accepted whole_sites lease holds every usable GPU of its generations at its sites, exclusively."""
    for lease in p.inst.leases:
        if not (lease.whole_sites and accepted(p, lease)):
            continue
        x = p.alloc["lease", lease.name]
        others = p.allocated - x
        gens = generation_mask(lease, p.gens)
        for s in np.flatnonzero(site_mask(lease, p.sites)):
            for t in np.flatnonzero(window_mask(lease, p.T)):
                for g in np.flatnonzero(gens & (x[:, s, t] != p.usable[:, s, t])):
                    yield Violation(
                        "lease.whole_sites",
                        f"lease {lease.name}, {_where(p, g, s, t)}: holds {x[g, s, t]:g} of "
                        f"{p.usable[g, s, t]} usable GPUs",
                    )
                if others[:, s, t].sum() > 0:
                    yield Violation(
                        "lease.whole_sites",
                        f"lease {lease.name}, {_where(p, None, s, t)}: {others[:, s, t].sum():g} GPUs "
                        f"held by other consumers on a site leased whole",
                    )


def lease_group(p: _Plan) -> Iterator[Violation]:
    """At most one accepted lease per group."""
    taken = Counter(x.group for x in p.inst.leases if x.group is not None and accepted(p, x))
    for group, n in taken.items():
        if n > 1:
            yield Violation("lease.group", f"group {group}: {n} leases accepted, at most one may be")


def lease_signed(p: _Plan) -> Iterator[Violation]:
    """A signed lease is accepted."""
    for lease in p.inst.leases:
        if lease.signed and not accepted(p, lease):
            yield Violation("lease.signed", f"lease {lease.name} is signed but not accepted")


def lease_report(p: _Plan) -> Iterator[Violation]:
    """The leases list names each lease once, with a boolean accepted and gpus = block size per period."""
    reported = Counter(e.get("name") if isinstance(e, dict) else None for e in _list(p.result.get("leases")))
    known = {x.name for x in p.inst.leases}
    for name, n in reported.items():
        if name not in known:
            yield Violation("lease.report", f"leases list: unknown lease {name!r}")
        elif n > 1:
            yield Violation("lease.report", f"leases list: lease {name} is listed {n} times")
    entries = p.entries
    for lease in p.inst.leases:
        entry = entries.get(lease.name)
        if entry is None:
            yield Violation("lease.report", f"lease {lease.name} is missing from the leases list")
            continue
        if not isinstance(entry.get("accepted"), bool):
            yield Violation("lease.report", f"lease {lease.name}: accepted {entry.get('accepted')!r} is not a boolean")
        block = lease_block(p, lease)[window_mask(lease, p.T)][0]
        if entry.get("gpus") != block:
            yield Violation("lease.report", f"lease {lease.name}: reported {entry.get('gpus')!r} GPUs, holds {block:g}")


def consumers_report(p: _Plan) -> Iterator[Violation]:
    """The optional `consumers` section agrees with the rows: each run's placed, GPUs and units in its first
    period; each pool's demand, served (the best split of its capacity) and unserved units per period and tier."""
    section = p.result.get("consumers")
    if section is None:
        return
    want = {"training": [], "inference": []}
    for run in p.inst.training:
        first = int(np.argmax(window_mask(run, p.T)))
        gpus = round(float(p.alloc["training", run.name][:, :, first].sum()))  # whole GPUs (rows are checked so)
        want["training"].append({"run": run.name, "placed": gpus > 0, "gpus": gpus,
                                 "units": float(training_units(p, run)[first])})
    for pool in p.inst.inference:
        capacity, scale = serving_capacity(p, pool), demand_scale(p, pool)
        for t in np.flatnonzero(window_mask(pool, p.T)):
            served = served_per_tier(pool, capacity[t], scale[t])
            want["inference"] += [{"pool": pool.name, "period": int(t), "tier": j, "value_per_unit_hour":
                                   tier.value_per_unit_hour, "demand": tier.units * scale[t], "served": served[j],
                                   "unserved": tier.units * scale[t] - served[j]} for j, tier in enumerate(pool.demand)]
    for kind, rows in want.items():
        got = _list(_mapping(section).get(kind))
        if len(got) != len(rows):
            yield Violation("consumers.report", f"consumers.{kind} has {len(got)} entries, the instance {len(rows)}")
            continue
        for entry, expected in zip(got, rows):
            wrong = [key for key, value in expected.items() if not _agrees(_mapping(entry).get(key), value, p.rel_tol)]
            if wrong:
                yield Violation("consumers.report", f"consumers.{kind}: {wrong[0]} {_mapping(entry).get(wrong[0])!r} "
                                                    f"where the rows give {expected[wrong[0]]!r} ({expected})")


def _agrees(got: object, want: object, rel_tol: float) -> bool:
    """A reported value equals its recomputation: a name, index or flag exactly, a quantity within rel_tol."""
    if isinstance(want, bool) or isinstance(got, bool) or not isinstance(want, numbers.Real):
        return type(got) is type(want) and got == want
    if not (isinstance(got, numbers.Real) and math.isfinite(got)):
        return False
    if isinstance(want, int):
        return isinstance(got, numbers.Integral) and got == want
    return abs(got - want) <= rel_tol * max(1.0, abs(want))


def lease_revenue_report(p: _Plan) -> Iterator[Violation]:
    """Each reported lease revenue equals the discounted total over its term."""
    entries, tol = p.entries, p.money_tol
    for lease in p.inst.leases:
        reported = _mapping(entries.get(lease.name)).get("revenue")
        if lease.name in entries and not (_is_number(reported) and abs(reported - lease_revenue(p, lease)) <= tol):
            yield Violation(
                "lease.revenue",
                f"lease {lease.name}: reported revenue {reported!r}, recomputed {lease_revenue(p, lease):.6f}",
            )


def breakdown(p: _Plan) -> Iterator[Violation]:
    """Each breakdown term equals its recomputed discounted total."""
    reported, tol = _mapping(p.result.get("breakdown")), p.money_tol
    for term, value in p.terms.items():
        got = reported.get(term)
        if not (_is_number(got) and abs(got - value) <= tol):
            yield Violation(f"breakdown.{term}", f"breakdown {term} is {got!r}, recomputed {value:.6f}")


def objective(p: _Plan) -> Iterator[Violation]:
    """objective == lease_revenue + training_value + inference_value - energy_cost."""
    got = p.result.get("objective")
    if not (_is_number(got) and abs(got - p.value) <= p.money_tol):
        yield Violation("objective", f"objective is {got!r}, recomputed {p.value:.6f}")


def bound_and_gap(result: dict, tol: float) -> Iterator[Violation]:
    """A maximisation's objective does not exceed its best bound (within `tol`), and mip_gap is
    |best_bound - objective| / max(1, |objective|) (within 1e-6: backends round), null without a bound:
    a gap of 0 beside a bound twice the objective passed as proven. Shared with section 6's F."""
    bound, got, gap = result.get("best_bound"), result.get("objective"), result.get("mip_gap")
    if bound is not None and _is_number(got) and not (_is_number(bound) and got <= bound + tol):
        yield Violation("best_bound", f"objective {got!r} exceeds best_bound {bound!r}")
    if gap is None or not (_is_number(gap) and _is_number(got)):
        return
    if not _is_number(bound):
        yield Violation("mip_gap", f"mip_gap {gap!r} without a best_bound")
    elif abs(gap - abs(bound - got) / max(1.0, abs(got))) > 1e-6:
        yield Violation("mip_gap", f"mip_gap {gap!r} is not |best_bound - objective| / max(1, |objective|) = "
                                   f"{abs(bound - got) / max(1.0, abs(got)):g}")


def best_bound(p: _Plan) -> Iterator[Violation]:
    """The reported bound and gap agree with the objective (bound_and_gap)."""
    yield from bound_and_gap(p.result, p.money_tol)


RULES = (
    inventory,
    idle,
    power,
    granularity,
    scope,
    training_same_allocation,
    training_units_bounds,
    training_required,
    training_homogeneous,
    training_single_site,
    inference_min_units,
    lease_same_allocation,
    lease_size,
    lease_all_or_nothing,
    lease_accepted,
    lease_whole_sites,
    lease_group,
    lease_signed,
    lease_report,
    lease_revenue_report,
    consumers_report,
    breakdown,
    objective,
    best_bound,
)


def _build_plan(instance: Instance, result: dict, rel_tol: float = 1e-6) -> tuple[list[Violation], _Plan]:
    """The result's rows read against the instance: (problems with the rows themselves, the plan)."""
    problems, alloc, idle_gpus = read_rows(instance, result)
    plan = _Plan(
        inst=instance,
        result=result,
        gens=[g.name for g in instance.generations],
        sites=[s.name for s in instance.sites],
        weights=discount_weights(instance),
        usable=usable_gpus(instance),
        alloc=alloc,
        idle=idle_gpus,
        rel_tol=rel_tol,
    )
    return problems, plan


def evaluate(instance: Instance, result: dict) -> dict:
    """The money a result's allocation rows (and leases' accepted flags) are worth, recomputed:
    {"objective", "breakdown": the four terms, "lease_revenue": {lease name: discounted revenue},
    "tolerance": how far a reported amount may be from these}.
    Rows naming unknown things are ignored; the rules are not checked (that is `check`'s job)."""
    _, plan = _build_plan(instance, result)
    return {
        "objective": plan.value,
        "breakdown": dict(plan.terms),
        "lease_revenue": {lease.name: lease_revenue(plan, lease) for lease in instance.leases},
        "tolerance": plan.money_tol,
    }


def check(instance: Instance, result: dict, rel_tol: float = 1e-6) -> list[Violation]:
    """Every SPEC rule checked from the result's allocation rows; empty list = verified."""
    found = list(fields(result, instance))
    if not isinstance(result, dict) or result.get("status") not in WITH_SOLUTION:
        return found
    if instance.uncertainty is None and result.get("scenarios"):  # each rule would fail once per row (77 lines)
        return [*found, Violation("result.scenarios", "the result has scenarios (SPEC section 6) and the instance has "
                                                      "none: it is the plan of another instance")]
    if instance.uncertainty is not None or any(lease.termination is not None for lease in instance.leases):
        from planner.verify_scenarios import check_scenarios  # it checks each scenario with check_rules()

        return found + check_scenarios(instance, result, rel_tol)
    return found + check_rules(instance, result, rel_tol)


def check_rules(instance: Instance, result: dict, rel_tol: float = 1e-6) -> list[Violation]:
    """The SPEC's rules recomputed from a solved result's rows (its reported fields are check()'s job)."""
    found, plan = _build_plan(instance, result, rel_tol)
    for rule in RULES:
        found += rule(plan)
    return found


def verify(instance: Instance, result: dict) -> None:
    """Raise VerificationError if check() finds anything."""
    violations = check(instance, result)
    if violations:
        raise VerificationError(violations)
