"""Lease builders: per-GPU cells, threshold blocks, fixed payments and groups of alternatives.

- per-GPU lease cells: a lease holds the same nodes in every term period, so a cell gives min over
  the term of R and P / node_mw; min_gpus and all_or_nothing blocks are built over the lease's
  cells best first and undone when they cannot be reached;
- a lease in a group (alternative offers): when the first of the group comes up, every open
  alternative is sized as it would be built now and the one worth most in total (discounted, over
  its whole term) is built; the others are dropped;
- fixed-payment leases: value per GPU-hour = payment / (block GPUs x H);
- whole-site leases are built by planner.greedy.whole_sites.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

from planner.greedy.ledger import EPS, Fleet, Ledger
from planner.greedy.ranking import Ranking, better
from planner.instance import Lease

if TYPE_CHECKING:
    from planner.greedy.whole_sites import WholeSites


def gpu_hour_value(fleet: Fleet, lease: Lease, g: int) -> float:
    """Value of one leased GPU-hour of generation g (a rate's input, not a price)."""
    if lease.payment_per_period is not None:
        return lease.payment_per_period / (max(lease.max_gpus or 0, 1) * fleet.H)
    price = lease.price_per_gpu_hour
    return float(price[fleet.inst.generations[g].name] if isinstance(price, dict) else price)


def _reachable(cells: list[tuple[int, int]], top: int) -> int:
    """Bitset (a Python int) of the totals up to `top` that `count` items of `size` each, per cell,
    can make: a bounded knapsack by binary splitting of the counts."""
    mask = (1 << (top + 1)) - 1 if top >= 0 else 0
    reach = 1 & mask
    for size, count in cells:
        count, piece = min(count, top // size if size else 0), 1
        while count > 0:
            step = min(piece, count)
            reach = (reach | (reach << (step * size))) & mask
            count -= step
            piece *= 2
    return reach


def _hits(reach: int, lo: int, hi: int) -> bool:
    """Whether the bitset has a total in [lo, hi]."""
    lo = max(lo, 0)
    return hi >= lo and (reach >> lo) & ((1 << (hi - lo + 1)) - 1) != 0


class Leases:
    def __init__(self, fleet: Fleet, ledger: Ledger, ranking: Ranking, whole: WholeSites):
        self.fleet, self.ledger, self.ranking, self.whole = fleet, ledger, ranking, whole

    def cell_rate(self, k: int, i: int) -> float:
        f, lease = self.fleet, self.fleet.inst.leases[k]
        span = f.t1[i] - f.t0[i]
        return self.ranking.rate(gpu_hour_value(f, lease, f.g[i]), f.g[i], f.s[i], not lease.lessee_pays_power,
                                 f.weight(i) / span)

    def fill_cell(self, k: int, i: int) -> int:
        """Add as many nodes of row i as fit the lease's max_gpus; returns GPUs added."""
        ledger = self.ledger
        room = ledger.lease_room(k)
        ns = int(self.fleet.ns[self.fleet.g[i]])
        n = ledger.avail(i)
        if room != math.inf:
            n = min(n, int(room // ns))
        if n > 0:
            ledger.take(i, n)
            ledger.held[k] += n * ns
        return n * ns

    def ranked_rows(self, k: int, positive: bool) -> list[int]:
        rows = self.fleet.rows_of("lease", k)
        rates = [self.cell_rate(k, i) for i in rows]
        order = sorted(range(len(rows)), key=lambda j: -rates[j])
        return [int(rows[j]) for j in order if rates[j] > 0 or not positive]

    def build(self, k: int, mandatory: bool) -> bool:
        """Build a lease's block from its cells, best ranked first: exactly max_gpus when all_or_nothing,
        else at least min_gpus (just that when mandatory; up to max_gpus otherwise). Node sizes may
        differ between generations (8 vs 72), so each cell takes the most nodes that still leave the
        rest of the range reachable by the cells after it. Undone (False) when it cannot be reached."""
        ledger, lease = self.ledger, self.fleet.inst.leases[k]
        rows = self.ranked_rows(k, positive=not mandatory)
        if not rows:  # nothing it may hold: acceptable only at zero GPUs
            if (lease.max_gpus if lease.all_or_nothing else lease.min_gpus) <= ledger.held[k]:
                ledger.accept(k)
                return True
            return False
        sizes = [int(self.fleet.ns[self.fleet.g[i]]) for i in rows]
        unit = math.gcd(*sizes)
        if lease.all_or_nothing:
            lo = hi = lease.max_gpus
        else:
            lo = lease.min_gpus
            hi = sum(ledger.avail(i) * n for i, n in zip(rows, sizes))  # Python ints: the bitsets shift by them
            if lease.max_gpus is not None:
                hi = min(hi, lease.max_gpus)
            if mandatory:
                hi = min(hi, lo + max(sizes) - 1)
        held = int(ledger.held[k])
        lo_u, hi_u = -(-(int(lo) - held) // unit), (int(hi) - held) // unit  # in units of `unit` GPUs
        if hi_u < max(lo_u, 0):
            return False
        with ledger.trial() as t:
            taken = 0
            for j, i in enumerate(rows):
                if mandatory and not lease.all_or_nothing and taken >= lo_u:
                    break  # a signed lease takes its minimum first; its cells extend it later
                a = sizes[j] // unit
                rest = _reachable([(sizes[q] // unit, ledger.avail(rows[q])) for q in range(j + 1, len(rows))],
                                  hi_u - taken)
                most = min(ledger.avail(i), (hi_u - taken) // a)
                n = next((n for n in range(most, -1, -1) if _hits(rest, lo_u - taken - n * a, hi_u - taken - n * a)),
                         None)
                if n is None:
                    break
                if n > 0:
                    ledger.take(i, n)
                    ledger.held[k] += n * sizes[j]
                    taken += n * a
            if lo_u <= taken <= hi_u:
                ledger.accept(k)
                t.commit()
        return t.committed

    def build_fully(self, k: int) -> bool:
        """Accept a lease as large as its positive-value cells allow (its block, or its whole sites)."""
        ledger, lease = self.ledger, self.fleet.inst.leases[k]
        if lease.whole_sites:
            return self.whole.lock(k)
        if (lease.all_or_nothing or lease.min_gpus > 0) and not self.build(k, mandatory=False):
            return False
        if not lease.all_or_nothing:
            for i in self.ranked_rows(k, positive=True):
                if ledger.lease_room(k) <= 0:
                    break
                self.fill_cell(k, i)
        if ledger.held[k] > 0 or lease.payment_per_period is not None:
            ledger.accept(k)
            return True
        return False

    def choose_in_group(self, group: str) -> None:
        """Size every open alternative of a group as it would be built now; build the one that scores
        best (`Ranking.score`), or drop them all when none is worth anything."""
        ledger = self.ledger
        best, best_score = None, (-math.inf, 0.0)
        for k in self.fleet.group_members[group]:
            if ledger.dead[k]:
                continue
            with ledger.trial() as t:
                if self.build_fully(k):
                    value = self.fleet.prices.value(ledger, "lease", k)
                    score = self.ranking.score(value, ledger, t)
                    if value > EPS and better(score, best_score):
                        best, best_score = k, score
        if best is None:
            for k in self.fleet.group_members[group]:
                ledger.dead[k] = True
            return
        self.build_fully(best)

    def place_signed(self, k: int) -> bool:
        """A signed lease at its minimum (its cells extend it later, as options)."""
        lease = self.fleet.inst.leases[k]
        if lease.all_or_nothing or lease.min_gpus > 0:
            return self.build(k, mandatory=True)
        self.ledger.accept(k)
        return True

    # ----- options -----
    def options(self) -> Iterator[tuple]:
        """(rate, kind, payload...) of every lease option: a whole-site lease as one, a lease's cells each."""
        ledger = self.ledger
        for k, lease in enumerate(self.fleet.inst.leases):
            if ledger.dead[k] or (lease.all_or_nothing and ledger.accepted[k]):
                continue
            if lease.whole_sites:
                if not ledger.accepted[k]:
                    rate = self.whole.rate(k)
                    if rate is not None:
                        yield rate, "whole", k
                continue
            for i in self.fleet.rows_of("lease", k):
                yield self.cell_rate(k, i), "lease", k, int(i)

    def take_whole(self, rate: float, k: int) -> None:
        ledger = self.ledger
        if not ledger.lease_open(k) or ledger.accepted[k]:
            return
        group = self.fleet.inst.leases[k].group
        if group is not None:
            self.choose_in_group(group)
        else:
            self.whole.lock(k)

    def take_cell(self, rate: float, k: int, i: int) -> None:
        ledger, lease = self.ledger, self.fleet.inst.leases[k]
        if not ledger.lease_open(k) or ledger.lease_room(k) <= 0:
            return
        if not ledger.accepted[k]:
            if lease.group is not None:
                self.choose_in_group(lease.group)
            elif lease.all_or_nothing or lease.min_gpus > 0:
                if not self.build(k, mandatory=False):
                    ledger.dead[k] = True  # resources only shrink: it will never fit later
            elif self.fill_cell(k, i) > 0:
                ledger.accept(k)
            return
        if not lease.all_or_nothing:
            self.fill_cell(k, i)
