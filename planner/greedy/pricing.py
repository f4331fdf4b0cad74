"""What a plan is worth: the model's own objective vector (planner.model.objective) times the plan's
columns, never a copy of the objective's terms.

The greedy decides node counts and accepted flags. The other columns the objective reads are set as
the model's optimum for those decisions sets them, so the price is the completion's objective:
- served units of each (pool, period): its capacity (nodes x units per node) split over its tiers
  highest value first, the best split;
- the GPUs a run that may mix generations counts at each pace (per cell): all of them at the speed
  of the slowest generation it uses, the only pace its rows allow;
- the held columns of a lease the operator may end: its block in every period of its term. The
  greedy never ends a lease; its completion may, where an end is worth the fee, and then reports
  more than this price.
Placed, choice and pace binaries cost nothing in the objective and are left to the completion.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from planner.greedy.ledger import Fleet, Ledger

Columns = list[tuple[np.ndarray, np.ndarray]]  # (model columns, their values) of one consumer


class Prices:
    """The objective vector of a model and, per consumer, how a plan sets the columns it reads."""

    def __init__(self, fleet: Fleet):
        m = fleet.m
        self.fleet, self.m = fleet, m
        self.c = m.lm.objective()
        self.var = m.alloc["var"].to_numpy()
        row_of_var = np.empty(m.lm.n_vars, dtype=np.int64)
        row_of_var[self.var] = np.arange(len(self.var))
        self.held = {k: (ends.held["var"].to_numpy(), row_of_var[ends.held["cell"].to_numpy()])
                     for k, ends in m.ends.items()}
        # runs with a pace choice: their units are on paced-GPU columns (per cell and level), not on node columns
        self.paced = {r: m.units[r] for r, sets in m.choices.items() if any(by == "pace" for by, _, _ in sets)}
        self.unit = np.array(fleet.unit)[m.alloc["g"].to_numpy()]  # serving units per node, per allocation row
        self.ns = fleet.ns[m.alloc["g"].to_numpy()]
        self.speed = np.array(fleet.train_speed)[m.alloc["g"].to_numpy()]
        self.t0 = m.alloc["t0"].to_numpy()
        ub = m.lm.bounds()[1]
        self.tiers = {}  # per pool: its served columns, the period of each, its units, the units of better tiers
        for served in m.served:
            pool = m.instance.inference[int(served["pool"].iloc[0])]
            value = np.array([pool.demand[j].value_per_unit_hour for j in served["tier"]])
            t = served["t"].to_numpy()
            order = np.lexsort((-value, t))  # by period, then highest value first
            cols, t = served["var"].to_numpy()[order], t[order]
            units = ub[cols]
            before = np.zeros(len(cols))
            for period in np.unique(t):
                here = np.flatnonzero(t == period)
                before[here[1:]] = np.cumsum(units[here[:-1]])
            self.tiers[int(served["pool"].iloc[0])] = (cols, t, units, before)

    def columns_of(self, ledger: Ledger, use: str, k: int) -> Columns:
        """The model's columns of one consumer that the objective reads, with their values in this plan."""
        rows = self.fleet.rows_of(use, k)
        x = ledger.x[rows]
        out = [(self.var[rows], x)]
        if use == "lease":
            out.append((self.m.accepted[k:k + 1], ledger.accepted[k:k + 1].astype(float)))
            if k in self.held:
                cols, src = self.held[k]
                out.append((cols, ledger.x[src]))
        elif use == "training" and k in self.paced:
            units = self.paced[k]
            used = x > 0
            pace = self.speed[rows][used].min() if used.any() else np.nan
            cell = units["cell"].to_numpy()
            gpus = ledger.x[cell] * self.ns[cell]
            out.append((units["var"].to_numpy(), np.where(units["pace"].to_numpy() == pace, gpus, 0.0)))
        elif use == "inference" and k in self.tiers:
            cols, t, units, before = self.tiers[k]
            capacity = np.bincount(self.t0[rows], weights=x * self.unit[rows], minlength=self.fleet.inst.T)
            out.append((cols, np.clip(capacity[t] - before, 0.0, units)))
        return out

    def value(self, ledger: Ledger, use: str, k: int) -> float:
        """What one consumer's columns add to the objective in this plan."""
        return float(sum(self.c[cols] @ vals for cols, vals in self.columns_of(ledger, use, k)))

    def columns(self, ledger: Ledger) -> np.ndarray:
        """The plan as a column vector of the model (every column the objective reads)."""
        x = np.zeros(len(self.c))
        inst = self.fleet.inst
        for use, consumers in (("training", inst.training), ("inference", inst.inference), ("lease", inst.leases)):
            for k in range(len(consumers)):
                for cols, vals in self.columns_of(ledger, use, k):
                    x[cols] = vals
        return x

    def worth(self, ledger: Ledger) -> float:
        """The model's objective of this plan: what its completion reports."""
        return float(self.c @ self.columns(ledger))
