"""An exhaustive-enumeration oracle for tiny instances: every candidate plan, the best one `check_rules()` accepts.

A candidate gives every consumer a whole number of nodes per cell it may use: training runs and
leases one count per (generation, site) held over their whole window, inference pools one count
per (generation, site, period); leases whose `accepted` flag is a free choice (signed, fixed
payment or grouped, holding nothing) are tried both ways. Inventory is the only rule used to prune
(depth first, nodes left per generation, site and period); every other rule, the objective and the
lease revenues come from the independent checker (`planner.verify`), never from the model.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from planner.instance import Instance, Lease
from planner.verify import check_rules, evaluate, generation_mask, site_mask, usable_gpus, window_mask


@dataclass(frozen=True)
class Slot:
    """One integer decision: nodes of generation g at site s that a consumer holds in each of `periods`."""

    use: str
    consumer: str
    g: int
    s: int
    periods: tuple[int, ...]


def slots(inst: Instance) -> list[Slot]:
    """Every cell a consumer may use (allowed generation, site and period), in consumer order."""
    gens, sites, T = [g.name for g in inst.generations], [s.name for s in inst.sites], inst.horizon.periods
    out = []
    for use, consumers in (("training", inst.training), ("inference", inst.inference), ("lease", inst.leases)):
        for c in consumers:
            window = tuple(int(t) for t in np.flatnonzero(window_mask(c, T)))
            cells = [(g, s) for g in np.flatnonzero(generation_mask(c, gens)) for s in np.flatnonzero(site_mask(c, sites))]
            for g, s in cells:
                if use == "inference":
                    out += [Slot(use, c.name, int(g), int(s), (t,)) for t in window]
                else:
                    out.append(Slot(use, c.name, int(g), int(s), window))
    return out


def usable_nodes(inst: Instance) -> np.ndarray:
    """Usable nodes per (generation, site, period), from the checker's usable GPUs."""
    size = np.array([g.node_size for g in inst.generations])[:, None, None]
    return usable_gpus(inst) // size


def assignments(inst: Instance, cells: list[Slot]) -> Iterator[tuple[int, ...]]:
    """Every node count per slot that fits the inventory, depth first over the slots."""
    left = usable_nodes(inst)
    counts = [0] * len(cells)

    def dfs(i: int) -> Iterator[tuple[int, ...]]:
        if i == len(cells):
            yield tuple(counts)
            return
        c = cells[i]
        room = int(min(left[c.g, c.s, t] for t in c.periods))
        for n in range(room + 1):
            counts[i] = n
            for t in c.periods:
                left[c.g, c.s, t] -= n
            yield from dfs(i + 1)
            for t in c.periods:
                left[c.g, c.s, t] += n
        counts[i] = 0

    yield from dfs(0)


def zero_may_be_accepted(lease: Lease) -> bool:
    """SPEC: a signed, fixed-payment or grouped lease may count as accepted at zero GPUs."""
    return lease.signed or lease.payment_per_period is not None or lease.group is not None


def accepted_choices(inst: Instance, cells: list[Slot], counts: tuple[int, ...]) -> list[tuple[bool, ...]]:
    """Per lease: accepted when it holds GPUs; else not accepted, or accepted where that is a free choice."""
    options = []
    for lease in inst.leases:
        holds = any(n for c, n in zip(cells, counts) if c.use == "lease" and c.consumer == lease.name)
        options.append((True,) if holds else (False, True) if zero_may_be_accepted(lease) else (False,))
    return list(itertools.product(*options))


def count_candidates(inst: Instance, limit: int) -> int:
    """How many candidates `best_plan` would enumerate, counting stops just past `limit`."""
    cells, total = slots(inst), 0
    for counts in assignments(inst, cells):
        total += len(accepted_choices(inst, cells, counts))
        if total > limit:
            break
    return total


def result_dict(inst: Instance, cells: list[Slot], counts: tuple[int, ...], flags: tuple[bool, ...]) -> dict:
    """The SPEC section-5 document of one candidate; objective, breakdown and revenues from `evaluate`."""
    gens, sites = inst.generations, inst.sites
    rows, busy = [], np.zeros_like(usable_gpus(inst))
    for c, n in zip(cells, counts):
        for t in c.periods:
            if n:
                gpus = n * gens[c.g].node_size
                busy[c.g, c.s, t] += gpus
                rows.append({"period": t, "site": sites[c.s].name, "generation": gens[c.g].name, "use": c.use,
                             "consumer": c.consumer, "gpus": gpus})
    idle = usable_gpus(inst) - busy
    for g, s, t in zip(*np.nonzero(idle)):
        rows.append({"period": int(t), "site": sites[s].name, "generation": gens[g].name, "use": "idle",
                     "consumer": None, "gpus": int(idle[g, s, t])})
    leases = []
    for lease, accepted in zip(inst.leases, flags):
        held = [(c, n) for c, n in zip(cells, counts) if c.use == "lease" and c.consumer == lease.name]
        gpus = sum(n * gens[c.g].node_size for c, n in held)  # the same in every period of the term
        leases.append({"name": lease.name, "accepted": accepted, "gpus": gpus, "revenue": 0.0})
    result = {"instance": inst.name, "status": "optimal", "objective": 0.0, "best_bound": None, "mip_gap": None,
              "solver": "exhaustive", "solve_seconds": 0.0, "breakdown": {}, "allocations": rows,
              "leases": leases, "warnings": []}
    money = evaluate(inst, result)
    result["objective"], result["breakdown"] = money["objective"], money["breakdown"]
    for entry in leases:
        entry["revenue"] = money["lease_revenue"][entry["name"]]
    return result


def candidates(inst: Instance) -> Iterator[dict]:
    """Every candidate plan's result document."""
    cells = slots(inst)
    for counts in assignments(inst, cells):
        for flags in accepted_choices(inst, cells, counts):
            yield result_dict(inst, cells, counts, flags)


def best_plan(instance: Instance) -> tuple[float | None, dict | None]:
    """(objective, result) of the best candidate `check_rules()` accepts; (None, None) when none does.

    Candidates are checked best objective first, so the first one accepted is the optimum."""
    for result in sorted(candidates(instance), key=lambda r: -r["objective"]):
        if not check_rules(instance, result):
            return result["objective"], result
    return None, None
