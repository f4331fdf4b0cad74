"""Whole-site leases: taken only when every GPU at their sites is free over the term (nothing else
runs there) and the sites can power the leased GPUs; those sites are then locked. A signed one is
placed before every other mandatory item, since it needs empty sites."""

from __future__ import annotations

from planner.greedy.leases import gpu_hour_value
from planner.greedy.ledger import EPS, Fleet, Ledger
from planner.greedy.ranking import Ranking


class WholeSites:
    def __init__(self, fleet: Fleet, ledger: Ledger, ranking: Ranking):
        self.fleet, self.ledger, self.ranking = fleet, ledger, ranking

    def block(self, k: int) -> tuple[list[tuple[int, int]], float, float, float, int] | None:
        """The block lease k would take now: [(row, nodes)], value/h, energy/h, MW, GPUs; or None when
        its sites are not entirely free or its rules cannot hold."""
        f, ledger = self.fleet, self.ledger
        inst, lease = f.inst, f.inst.leases[k]
        gens, sites, window = inst.allowed_generations(lease), inst.allowed_sites(lease), inst.window(lease)
        t0, t1 = window.start, window.stop
        nodes = f.m.nodes
        row_of = {(f.g[i], f.s[i]): i for i in f.rows_of("lease", k)}
        block, value, energy, mw, gpus = [], 0.0, 0.0, 0.0, 0
        for s in sites:
            if (ledger.R[:, s, t0:t1] != nodes[:, s, t0:t1]).any():
                return None  # something else runs there
            site_mw = 0.0
            for g in gens:
                n = nodes[g, s, t0:t1]
                if not n.any():
                    continue
                if (n != n[0]).any() or (g, s) not in row_of or f.ub[row_of[(g, s)]] < n[0]:
                    return None  # the same block cannot hold every usable GPU in every period
                block.append((row_of[(g, s)], int(n[0])))
                site_mw += n[0] * f.node_mw[g, s]
                gpus += int(n[0] * f.ns[g])
                if lease.payment_per_period is None:
                    value += gpu_hour_value(f, lease, g) * n[0] * f.ns[g]
                if not lease.lessee_pays_power:
                    energy += n[0] * f.node_mw[g, s] * f.energy_price[s]
            if site_mw > ledger.P[s, t0:t1].min() + EPS:
                return None  # the site cannot power all its GPUs
            mw += site_mw
        if gpus < lease.min_gpus or (lease.max_gpus is not None and gpus > lease.max_gpus):
            return None
        if lease.all_or_nothing and gpus != lease.max_gpus:
            return None
        if lease.payment_per_period is not None:
            value = lease.payment_per_period / f.H
        return block, value, energy, mw, gpus

    def rate(self, k: int) -> float | None:
        found = self.block(k)
        if found is None:
            return None
        _, value, energy, mw, gpus = found
        window = self.fleet.inst.window(self.fleet.inst.leases[k])
        net = (value - energy) * float(self.fleet.w[window.start:window.stop].mean())
        return self.ranking.per_capacity(net, mw, gpus)

    def lock(self, k: int) -> bool:
        """Take lease k's block and lock its sites over its term; False when it cannot be taken now."""
        f, ledger = self.fleet, self.ledger
        if ledger.dead[k]:
            return False
        found = self.block(k)
        if found is None:
            return False
        for i, n in found[0]:
            ledger.take(i, n)
            ledger.held[k] += n * int(f.ns[f.g[i]])
        window = f.inst.window(f.inst.leases[k])
        for s in f.inst.allowed_sites(f.inst.leases[k]):
            ledger.close(s, window.start, window.stop)  # nothing else runs there; other generations idle
        ledger.accept(k)
        return True
