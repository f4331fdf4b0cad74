"""Inference pools: options per (pool, period, cell), re-ranked as tiers fill (an option whose rate
fell since it was queued is pushed back); the last node may overshoot into the next tier. A pool's
min_units in each period is a mandatory item, met by the best ranked cells first."""

from __future__ import annotations

import math
from collections.abc import Iterator

from planner.greedy.ledger import EPS, Fleet, Ledger
from planner.greedy.ranking import Queue, Ranking


class Inference:
    def __init__(self, fleet: Fleet, ledger: Ledger, ranking: Ranking, queue: Queue):
        self.fleet, self.ledger, self.ranking, self.queue = fleet, ledger, ranking, queue
        inst = fleet.inst
        # tiers worth > 0 per pool, highest value first
        self.tiers = [sorted(((t.value_per_unit_hour, t.units) for t in pool.demand
                              if t.value_per_unit_hour > 0 and t.units > 0), key=lambda vt: -vt[0])
                      for pool in inst.inference]
        self.scales = [[float(v) for v in pool.demand_scale] if pool.demand_scale else [1.0] * inst.T
                       for pool in inst.inference]

    def rate(self, p: int, i: int) -> tuple[float, int]:
        """Rate of the next node of row i for pool p, and how many nodes share that rate
        (up to the end of the tier the pool's capacity is in)."""
        f = self.fleet
        g, t = f.g[i], f.t0[i]
        u, c, scale = f.unit[g], self.ledger.cap[p][t], self.scales[p][t]
        gain, start, batch, found = 0.0, 0.0, 1, False
        for value, units in self.tiers[p]:
            end = start + units * scale
            overlap = min(c + u, end) - max(c, start)
            if overlap > 0:
                gain += value * overlap
            if not found and c < end - EPS:
                found = True
                if u > 0:
                    batch = max(1, math.floor((end - c) / u + EPS))
            start = end
        return self.ranking.rate(gain / f.ns[g], g, f.s[i], True, f.wl[t]), batch

    def add(self, p: int, i: int, n: int) -> None:
        self.ledger.take(i, n)
        self.ledger.cap[p][self.fleet.t0[i]] += n * self.fleet.unit[self.fleet.g[i]]

    def place_min(self, p: int) -> bool:
        """The pool's min_units in every period of its window, best ranked cells first."""
        f, ledger, pool = self.fleet, self.ledger, self.fleet.inst.inference[p]
        rows = f.rows_of("inference", p)
        for t in f.inst.window(pool):
            need = pool.min_units * self.scales[p][t]
            cells = [i for i in rows if f.t0[i] == t and f.unit[f.g[i]] > 0]
            cells.sort(key=lambda i: -self.rate(p, i)[0])
            for i in cells:
                short = need - ledger.cap[p][t]
                if short <= EPS:
                    break
                n = min(ledger.avail(i), math.ceil(short / f.unit[f.g[i]] - EPS))
                if n > 0:
                    self.add(p, i, n)
            if need - ledger.cap[p][t] > EPS * max(1.0, need):
                return False
        return True

    # ----- options -----
    def options(self) -> Iterator[tuple]:
        for p in range(len(self.fleet.inst.inference)):
            for i in self.fleet.rows_of("inference", p):
                yield self.rate(p, i)[0], "infer", p, int(i)

    def take(self, rate: float, p: int, i: int) -> None:
        now, batch = self.rate(p, i)
        if now < rate - 1e-12 * abs(rate):
            self.queue.push(now, "infer", p, i)  # its tier filled since it was queued
            return
        n = min(batch, self.ledger.avail(i))
        if n <= 0:
            return
        self.add(p, i, n)
        self.queue.push(self.rate(p, i)[0], "infer", p, i)
