"""The books of a greedy pass: what the fleet has left and what each consumer holds.

`Fleet` is what every pass reads and none changes: the model's allocation rows, one attribute list
each, the rows of each consumer and the model's prices; built once per model. `Ledger` is one pass's state: remaining
usable nodes R[g, s, t] and facility MW P[s, t]; nodes per allocation row; per lease the GPUs it
holds, whether it is accepted or out for good, which groups are taken; per training run what it
holds; serving capacity per (pool, period). A build that may not be kept runs in a `trial`, which
puts back every part of the state unless it is committed, so no builder restores state by hand.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from planner.greedy.pricing import Prices
from planner.model import PlanModel

EPS = 1e-9


class Fleet:
    """The model's allocation rows as the passes read them (one at a time: Python lists) and its
    prices, shared by every pass over the model."""

    def __init__(self, m: PlanModel):
        inst = m.instance
        self.m, self.inst = m, inst
        self.H = inst.horizon.period_hours
        self.w = m.weights
        self.wl = m.weights.tolist()
        self.ns = m.node_gpus.astype(np.int64)
        self.node_mw = m.node_mw
        self.energy_price = np.array([s.energy_price_per_mwh for s in inst.sites], dtype=float)
        a = m.alloc
        self.g, self.s = a["g"].tolist(), a["s"].tolist()
        self.t0, self.t1 = a["t0"].tolist(), a["t1"].tolist()
        self.ub = a["ub"].astype(np.int64).tolist()
        self.unit = [float(n * gen.infer_speed) for n, gen in zip(self.ns, inst.generations)]  # serving units per node
        self.train_speed = [float(gen.train_speed) for gen in inst.generations]
        self.rows = {key: np.asarray(idx) for key, idx in a.groupby(["use", "consumer"]).indices.items()}
        self.group_members: dict[str, list[int]] = {}
        for k, lease in enumerate(inst.leases):
            if lease.group is not None:
                self.group_members.setdefault(lease.group, []).append(k)
        self.prices = Prices(self)

    def rows_of(self, use: str, k: int) -> np.ndarray:
        return self.rows.get((use, k), np.zeros(0, dtype=np.int64))

    def weight(self, i: int) -> float:
        """Sum of discount weights over the periods row i spans."""
        return float(self.w[self.t0[i]:self.t1[i]].sum())


@dataclass(frozen=True)
class Hold:
    """What a training run holds: GPUs in each period of its window, the pace they run at (the slowest
    generation used) and the block it was built in (None: not placed)."""

    gpus: int = 0
    pace: float = math.inf
    block: tuple | None = None


class Trial:
    """A tentative change to the ledger, undone when its `with` block ends unless committed."""

    def __init__(self, saved: dict):
        self.saved, self.committed = saved, False

    def commit(self) -> None:
        self.committed = True


class Ledger:
    """One pass's state (see the module docstring)."""

    def __init__(self, fleet: Fleet, forbid: frozenset[int] = frozenset()):
        m, inst = fleet.m, fleet.inst
        self.fleet = fleet
        self.R = m.nodes.astype(np.int64).copy()
        power = np.array([s.power_mw for s in inst.sites], dtype=float)
        self.P = np.repeat(power[:, None], inst.T, axis=1)
        self.x = np.zeros(len(m.alloc), dtype=np.int64)
        n_leases = len(inst.leases)
        self.held = np.zeros(n_leases, dtype=np.int64)  # GPUs per period of the term
        self.accepted = np.zeros(n_leases, dtype=bool)
        self.dead = np.zeros(n_leases, dtype=bool)
        self.dead[list(forbid)] = True
        self.groups_taken: set[str] = set()
        self.runs = [Hold()] * len(inst.training)
        self.cap = [[0.0] * inst.T for _ in inst.inference]

    # ----- trials -----
    @contextmanager
    def trial(self) -> Iterator[Trial]:
        """`with ledger.trial() as t:` changes made in the block stay only if `t.commit()` was called."""
        t = Trial({"x": self.x.copy(), "R": self.R.copy(), "P": self.P.copy(), "held": self.held.copy(),
                   "accepted": self.accepted.copy(), "dead": self.dead.copy(), "groups_taken": set(self.groups_taken),
                   "runs": list(self.runs), "cap": [row[:] for row in self.cap]})
        try:
            yield t
        finally:
            if not t.committed:
                for name, value in t.saved.items():
                    setattr(self, name, value)

    def used_since(self, t: Trial, per_gpu: bool) -> float:
        """Capacity taken since the trial began: MW-periods, or GPU-periods when `per_gpu`."""
        if per_gpu:
            return float(((t.saved["R"] - self.R) * self.fleet.ns[:, None, None]).sum())
        return float((t.saved["P"] - self.P).sum())

    # ----- nodes and power -----
    def avail(self, i: int) -> int:
        """Nodes row i could still add in every period it spans (inventory, power, its upper bound)."""
        f = self.fleet
        g, s, t0, t1 = f.g[i], f.s[i], f.t0[i], f.t1[i]
        if t1 - t0 == 1:
            n, p = int(self.R[g, s, t0]), float(self.P[s, t0])
        else:
            n, p = int(self.R[g, s, t0:t1].min()), float(self.P[s, t0:t1].min())
        mw = f.node_mw[g, s]
        if mw > 0:
            n = min(n, math.floor(p / mw + EPS))
        return max(0, min(n, int(f.ub[i] - self.x[i])))

    def take(self, i: int, n: int) -> None:
        f = self.fleet
        g, s, t0, t1 = f.g[i], f.s[i], f.t0[i], f.t1[i]
        self.x[i] += n
        self.R[g, s, t0:t1] -= n
        self.P[s, t0:t1] -= n * f.node_mw[g, s]

    def close(self, s: int, t0: int, t1: int) -> None:
        """Nothing more runs at site s in periods t0..t1-1 (a whole-site lease holds it)."""
        self.R[:, s, t0:t1] = 0

    # ----- leases -----
    def lease_open(self, k: int) -> bool:
        lease = self.fleet.inst.leases[k]
        return not self.dead[k] and (self.accepted[k] or lease.group is None or lease.group not in self.groups_taken)

    def accept(self, k: int) -> None:
        lease = self.fleet.inst.leases[k]
        self.accepted[k] = True
        if lease.group is not None:
            self.groups_taken.add(lease.group)

    def lease_room(self, k: int) -> float:
        lease = self.fleet.inst.leases[k]
        return math.inf if lease.max_gpus is None else lease.max_gpus - self.held[k]
