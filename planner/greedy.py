"""The greedy baseline: the plan a careful spreadsheet user would build, respecting every SPEC rule.

It serves twice: as a plan of its own (`solve(..., solver="greedy")`, status `feasible`, no bound)
and as the warm start handed to MILP backends that accept one, so that a time-limited MILP
never returns less than the spreadsheet.

How one pass fills the fleet
----------------------------
State: remaining usable nodes R[g, s, t] and facility MW P[s, t]; what each consumer holds;
which lease groups are taken; serving capacity per (pool, period).

1. Mandatory items first: signed whole-site leases (they need empty sites), required training
   runs (one block each, at their minimum), the other signed leases (min_gpus, or exactly
   max_gpus when all_or_nothing), then every inference pool's min_units in each period. When
   one does not fit, the pass restarts with that item first (a few times); if it still does not
   fit, the greedy gives up (None).
2. Every optional use is an *option* ranked by its net value per facility MW-hour: value per
   GPU-hour (lease price, compute units x value, served units x tier value), less the energy
   cost when the operator pays it, divided by the facility MW of one GPU, and weighted by the
   discount weight of the periods it runs in. Options are taken best first from a lazy priority
   queue, each as far as resources allow:
   - per-GPU lease cells: a lease holds the same nodes in every term period, so a cell gives
     min over the term of R and P / node_mw; min_gpus and all_or_nothing blocks are built over
     the lease's cells best first and undone when they cannot be reached;
   - a lease in a group (alternative offers): when the first of the group comes up, every open
     alternative is sized as it would be built now and the one worth most in total (discounted,
     over its whole term) is built; the others are dropped;
   - fixed-payment leases: value per GPU-hour = payment / (block GPUs x H);
   - whole-site leases: only when every GPU at their sites is free over the term (nothing else
     runs there) and the sites can power the leased GPUs; those sites are then locked;
   - training runs: when a run's best option comes up, each block it may take is sized as it
     would be built now (as large as max_units and resources allow, at least min_units over the
     window) and the one worth most in total is built. Blocks: every (generation, site) cell
     alone, which satisfies every training rule; for a homogeneous multi-site run, one generation
     over its sites; for a run that may mix generations, per pace L (per site when single_site)
     every cell at least as fast as L, all counted at L. Required runs are placed at their
     minimum first and grow in their block here;
   - inference: per (pool, period, cell), re-ranked as tiers fill (an option whose rate fell
     since it was queued is pushed back); the last node may overshoot into the next tier.
   Ties between the blocks or alternatives of one choice go to the one taking less capacity.

A small local search over passes keeps the best plan (`search`): both rankings (per MW-hour,
right where power binds; per GPU-hour, right where nodes bind); each whole-site lease forced in
(or kept out), as a planner prices a whole-site offer against the internal use of its sites;
then each training run or threshold lease (min_gpus, all_or_nothing) the best plan leaves out,
placed before the ranked options, since the ranking is myopic about all-or-nothing sizes.
Finally the node counts and accepted flags are fixed in the MILP, which completes every other
column (placed, choice and pace binaries, served units). A completion that is infeasible
means the greedy broke a rule: a bug (`GreedyError`), never hidden.
"""

from __future__ import annotations

import heapq
import math
import threading
import time
from dataclasses import dataclass, replace

import numpy as np

from planner.model import PlanModel
from planner.solvers import SolveOptions, SolverReport, Status, linear_solver

EPS = 1e-9
RANKINGS = ("mw", "gpu")  # net value per facility MW-hour, per GPU-hour
MAX_PASSES = 24  # passes of the local search (about 0.6 s each on the generated L instance)


class GreedyError(RuntimeError):
    """The greedy plan breaks a rule of the model: a bug in the greedy, never a property of the instance."""


@dataclass
class GreedyPlan:
    x: np.ndarray          # the full column vector (completed by the fixed-node MILP)
    objective: float
    seconds: float
    label: str             # the pass that gave this plan
    nodes: np.ndarray      # node count per allocation row (m.alloc order)
    accepted: np.ndarray   # 0/1 per lease


def _better(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Score a beats score b: more value (beyond rounding), or as much for less capacity."""
    tol = 1e-9 * max(1.0, abs(b[0])) if math.isfinite(b[0]) else 0.0
    return a[0] > b[0] + tol or (a[0] >= b[0] - tol and a[1] > b[1])


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


# ----- one pass -----------------------------------------------------------------------------


class _Fill:
    """One greedy pass over a built model with one ranking."""

    def __init__(self, m: PlanModel, ranking: str = "mw", forbid: frozenset[int] = frozenset()):
        inst = m.instance
        self.m, self.inst, self.ranking = m, inst, ranking
        self.H = inst.horizon.period_hours
        self.w = m.weights
        self.wl = m.weights.tolist()
        self.R = m.nodes.astype(np.int64).copy()
        self.power = np.array([s.power_mw for s in inst.sites], dtype=float)
        self.P = np.repeat(self.power[:, None], inst.T, axis=1)
        self.node_mw = m.node_mw
        self.ns = m.node_gpus.astype(np.int64)
        self.energy_price = np.array([s.energy_price_per_mwh for s in inst.sites], dtype=float)
        self.gpu_mw = m.node_mw / m.node_gpus[:, None]                      # facility MW of one GPU, (G, S)
        self.gpu_energy = self.gpu_mw * self.energy_price[None, :]          # energy cost per GPU-hour, (G, S)
        a = m.alloc
        # per-row attributes as Python lists: the passes index them one at a time
        self.g, self.s = a["g"].tolist(), a["s"].tolist()
        self.t0, self.t1 = a["t0"].tolist(), a["t1"].tolist()
        self.ub = a["ub"].astype(np.int64).tolist()
        self.unit = [float(n * gen.infer_speed) for n, gen in zip(self.ns, inst.generations)]  # serving units per node
        self.x = np.zeros(len(a), dtype=np.int64)
        self.rows = {key: np.asarray(idx) for key, idx in a.groupby(["use", "consumer"]).indices.items()}
        # leases
        n_leases = len(inst.leases)
        self.held = np.zeros(n_leases, dtype=np.int64)        # GPUs per period of the term
        self.accepted = np.zeros(n_leases, dtype=bool)
        self.dead = np.zeros(n_leases, dtype=bool)
        self.dead[list(forbid)] = True
        self.groups_taken: set[str] = set()
        self.group_members: dict[str, list[int]] = {}
        for k, lease in enumerate(inst.leases):
            if lease.group is not None:
                self.group_members.setdefault(lease.group, []).append(k)
        # training: GPUs per period, the pace they run at, the rows used, the block chosen
        self.train_speed = [float(gen.train_speed) for gen in inst.generations]
        self.run_gpus = [0] * len(inst.training)
        self.run_slowest = [math.inf] * len(inst.training)
        self.run_rows: list[set[int]] = [set() for _ in inst.training]
        self.run_block: list[tuple | None] = [None] * len(inst.training)
        self.run_grow = [False] * len(inst.training)
        self.blocks = [self.run_blocks(r) for r in range(len(inst.training))]
        # inference: tiers worth > 0 per pool (highest value first), capacity per (pool, period)
        self.cap = [[0.0] * inst.T for _ in inst.inference]
        self.tiers = [sorted(((t.value_per_unit_hour, t.units) for t in pool.demand
                              if t.value_per_unit_hour > 0 and t.units > 0), key=lambda vt: -vt[0])
                      for pool in inst.inference]
        self.scales = [[float(v) for v in pool.demand_scale] if pool.demand_scale else [1.0] * inst.T
                       for pool in inst.inference]
        self.heap: list = []
        self.seq = 0

    # ----- resources -----
    def rows_of(self, use: str, k: int) -> np.ndarray:
        return self.rows.get((use, k), np.zeros(0, dtype=np.int64))

    def avail(self, i: int) -> int:
        """Nodes row i could still add in every period it spans (inventory, power, its upper bound)."""
        g, s, t0, t1 = self.g[i], self.s[i], self.t0[i], self.t1[i]
        if t1 - t0 == 1:
            n, p = int(self.R[g, s, t0]), float(self.P[s, t0])
        else:
            n, p = int(self.R[g, s, t0:t1].min()), float(self.P[s, t0:t1].min())
        mw = self.node_mw[g, s]
        if mw > 0:
            n = min(n, int(math.floor(p / mw + EPS)))
        return max(0, min(n, int(self.ub[i] - self.x[i])))

    def take(self, i: int, n: int) -> None:
        g, s, t0, t1 = self.g[i], self.s[i], self.t0[i], self.t1[i]
        self.x[i] += n
        self.R[g, s, t0:t1] -= n
        self.P[s, t0:t1] -= n * self.node_mw[g, s]

    def snapshot(self) -> tuple:
        return self.x.copy(), self.R.copy(), self.P.copy(), self.held.copy()

    def restore(self, snap: tuple) -> None:
        self.x, self.R, self.P, self.held = (v.copy() for v in snap)

    def weight(self, i: int) -> float:
        """Sum of discount weights over the periods row i spans."""
        return float(self.w[self.t0[i]:self.t1[i]].sum())

    # ----- ranking -----
    def rate(self, value_per_gpu_hour: float, g: int, s: int, pays_energy: bool, weight: float) -> float:
        """Net value of one GPU-hour at (g, s) per MW-hour (or per GPU-hour), times the mean discount weight."""
        net = (value_per_gpu_hour - (self.gpu_energy[g, s] if pays_energy else 0.0)) * weight
        if self.ranking == "gpu":
            return net
        mw = self.gpu_mw[g, s]
        if mw <= 0:
            return math.inf if net > 0 else net
        return net / mw

    def push(self, rate: float, kind: str, *payload) -> None:
        if rate > 0:
            heapq.heappush(self.heap, (-rate, self.seq, kind, payload))
            self.seq += 1

    # ----- leases -----
    def lease_value(self, k: int, g: int) -> float:
        """Value of one leased GPU-hour of generation g."""
        lease = self.inst.leases[k]
        if lease.payment_per_period is not None:
            return lease.payment_per_period / (max(lease.max_gpus or 0, 1) * self.H)
        price = lease.price_per_gpu_hour
        return float(price[self.inst.generations[g].name] if isinstance(price, dict) else price)

    def lease_cell_rate(self, k: int, i: int) -> float:
        lease = self.inst.leases[k]
        span = self.t1[i] - self.t0[i]
        return self.rate(self.lease_value(k, self.g[i]), self.g[i], self.s[i], not lease.lessee_pays_power,
                         self.weight(i) / span)

    def lease_open(self, k: int) -> bool:
        lease = self.inst.leases[k]
        return not self.dead[k] and (self.accepted[k] or lease.group is None or lease.group not in self.groups_taken)

    def accept(self, k: int) -> None:
        lease = self.inst.leases[k]
        self.accepted[k] = True
        if lease.group is not None:
            self.groups_taken.add(lease.group)

    def lease_room(self, k: int) -> float:
        lease = self.inst.leases[k]
        return math.inf if lease.max_gpus is None else lease.max_gpus - self.held[k]

    def fill_lease_cell(self, k: int, i: int) -> int:
        """Add as many nodes of row i as fit the lease's max_gpus; returns GPUs added."""
        room = self.lease_room(k)
        ns = int(self.ns[self.g[i]])
        n = self.avail(i)
        if room != math.inf:
            n = min(n, int(room // ns))
        if n > 0:
            self.take(i, n)
            self.held[k] += n * ns
        return n * ns

    def ranked_lease_rows(self, k: int, positive: bool) -> list[int]:
        rows = self.rows_of("lease", k)
        rates = [self.lease_cell_rate(k, i) for i in rows]
        order = sorted(range(len(rows)), key=lambda j: -rates[j])
        return [int(rows[j]) for j in order if rates[j] > 0 or not positive]

    def build_lease(self, k: int, mandatory: bool) -> bool:
        """Build a lease's block from its cells, best ranked first: exactly max_gpus when all_or_nothing,
        else at least min_gpus (just that when mandatory; up to max_gpus otherwise). Node sizes may
        differ between generations (8 vs 72), so each cell takes the most nodes that still leave the
        rest of the range reachable by the cells after it. Undone (False) when it cannot be reached."""
        lease = self.inst.leases[k]
        rows = self.ranked_lease_rows(k, positive=not mandatory)
        if not rows:  # nothing it may hold: acceptable only at zero GPUs
            if (lease.max_gpus if lease.all_or_nothing else lease.min_gpus) <= self.held[k]:
                self.accept(k)
                return True
            return False
        sizes = [int(self.ns[self.g[i]]) for i in rows]
        unit = math.gcd(*sizes)
        if lease.all_or_nothing:
            lo = hi = lease.max_gpus
        else:
            lo = lease.min_gpus
            hi = sum(self.avail(i) * n for i, n in zip(rows, sizes))  # Python ints: the bitsets shift by them
            if lease.max_gpus is not None:
                hi = min(hi, lease.max_gpus)
            if mandatory:
                hi = min(hi, lo + max(sizes) - 1)
        held = int(self.held[k])
        lo_u, hi_u = -(-(int(lo) - held) // unit), (int(hi) - held) // unit  # in units of `unit` GPUs
        if hi_u < max(lo_u, 0):
            return False
        snap = self.snapshot()
        taken = 0
        for j, i in enumerate(rows):
            if mandatory and not lease.all_or_nothing and taken >= lo_u:
                break  # a signed lease takes its minimum first; its cells extend it later
            a = sizes[j] // unit
            rest = _reachable([(sizes[q] // unit, self.avail(rows[q])) for q in range(j + 1, len(rows))], hi_u - taken)
            most = min(self.avail(i), (hi_u - taken) // a)
            n = next((n for n in range(most, -1, -1) if _hits(rest, lo_u - taken - n * a, hi_u - taken - n * a)), None)
            if n is None:
                break
            if n > 0:
                self.take(i, n)
                self.held[k] += n * sizes[j]
                taken += n * a
        if not (lo_u <= taken <= hi_u):
            self.restore(snap)
            return False
        self.accept(k)
        return True

    def build_lease_fully(self, k: int) -> bool:
        """Accept a lease as large as its positive-value cells allow (its block, or its whole sites)."""
        lease = self.inst.leases[k]
        if lease.whole_sites:
            return self.lock_whole_site(k)
        if lease.all_or_nothing or lease.min_gpus > 0:
            if not self.build_lease(k, mandatory=False):
                return False
        if not lease.all_or_nothing:
            for i in self.ranked_lease_rows(k, positive=True):
                if self.lease_room(k) <= 0:
                    break
                self.fill_lease_cell(k, i)
        if self.held[k] > 0 or lease.payment_per_period is not None:
            self.accept(k)
            return True
        return False

    def lease_total(self, k: int) -> float:
        """Discounted net value of what lease k holds now (revenue less the operator's energy)."""
        lease = self.inst.leases[k]
        rows = self.rows_of("lease", k)
        total = 0.0
        if lease.payment_per_period is not None and self.accepted[k]:
            total += lease.payment_per_period * float(self.w[list(self.inst.window(lease))].sum())
        for i in rows:
            if self.x[i] == 0:
                continue
            g, s = self.g[i], self.s[i]
            per_gpu = (0.0 if lease.payment_per_period is not None else self.lease_value(k, g)) \
                - (0.0 if lease.lessee_pays_power else self.gpu_energy[g, s])
            total += self.x[i] * self.ns[g] * per_gpu * self.H * self.weight(i)
        return total

    def choose_in_group(self, group: str) -> None:
        """Size every open alternative of a group as it would be built now; build the one that scores
        best (`score`)."""
        best, best_score = None, (-math.inf, 0.0)
        for k in self.group_members[group]:
            if self.dead[k]:
                continue
            snap, groups = self.snapshot(), set(self.groups_taken)
            if self.build_lease_fully(k):
                value = self.lease_total(k)
                score = self.score(value, snap)
                if value > EPS and _better(score, best_score):
                    best, best_score = k, score
            self.restore(snap)
            self.accepted[k], self.groups_taken = False, groups
        if best is None:
            for k in self.group_members[group]:
                self.dead[k] = True
            return
        self.build_lease_fully(best)

    def score(self, value: float, before: tuple) -> tuple[float, float]:
        """How a choice ranks against its alternatives: its total value, then (on a tie) the less
        capacity it takes since `before`, in MW-hours (GPU-hours when ranking per GPU).
        (Charging that capacity at the rate of the best option still queued was tried: worse on
        the generated instances than plain value.)"""
        if self.ranking == "gpu":
            used = float(((before[1] - self.R) * self.ns[:, None, None]).sum())
        else:
            used = float((before[2] - self.P).sum())
        return value, -used

    def whole_site_block(self, k: int) -> tuple[list[tuple[int, int]], float, float, float] | None:
        """The block a whole-site lease would take now: [(row, nodes)], value/h, energy/h, MW,
        or None when its sites are not entirely free or its rules cannot hold."""
        inst, lease = self.inst, self.inst.leases[k]
        gens, sites, window = inst.allowed_generations(lease), inst.allowed_sites(lease), inst.window(lease)
        t0, t1 = window.start, window.stop
        nodes = self.m.nodes
        row_of = {(self.g[i], self.s[i]): i for i in self.rows_of("lease", k)}
        block, value, energy, mw, gpus = [], 0.0, 0.0, 0.0, 0
        for s in sites:
            if (self.R[:, s, t0:t1] != nodes[:, s, t0:t1]).any():
                return None  # something else runs there
            site_mw = 0.0
            for g in gens:
                n = nodes[g, s, t0:t1]
                if not n.any():
                    continue
                if (n != n[0]).any() or (g, s) not in row_of or self.ub[row_of[(g, s)]] < n[0]:
                    return None  # the same block cannot hold every usable GPU in every period
                block.append((row_of[(g, s)], int(n[0])))
                site_mw += n[0] * self.node_mw[g, s]
                gpus += int(n[0] * self.ns[g])
                if lease.payment_per_period is None:
                    value += self.lease_value(k, g) * n[0] * self.ns[g]
                if not lease.lessee_pays_power:
                    energy += n[0] * self.node_mw[g, s] * self.energy_price[s]
            if site_mw > self.P[s, t0:t1].min() + EPS:
                return None  # the site cannot power all its GPUs
            mw += site_mw
        if gpus < lease.min_gpus or (lease.max_gpus is not None and gpus > lease.max_gpus):
            return None
        if lease.all_or_nothing and gpus != lease.max_gpus:
            return None
        if lease.payment_per_period is not None:
            value = lease.payment_per_period / self.H
        return block, value, energy, mw

    def whole_site_rate(self, k: int) -> float | None:
        found = self.whole_site_block(k)
        if found is None:
            return None
        block, value, energy, mw = found
        window = self.inst.window(self.inst.leases[k])
        net = (value - energy) * float(self.w[window.start:window.stop].mean())
        if self.ranking == "gpu":
            gpus = sum(n * self.ns[self.g[i]] for i, n in block)
            return net / gpus if gpus else (math.inf if net > 0 else net)
        return net / mw if mw > 0 else (math.inf if net > 0 else net)

    def lock_whole_site(self, k: int) -> bool:
        if self.dead[k]:
            return False
        found = self.whole_site_block(k)
        if found is None:
            return False
        block, *_ = found
        for i, n in block:
            self.take(i, n)
            self.held[k] += n * int(self.ns[self.g[i]])
        window = self.inst.window(self.inst.leases[k])
        for s in self.inst.allowed_sites(self.inst.leases[k]):
            self.R[:, s, window.start:window.stop] = 0  # nothing else runs there; other generations idle
        self.accept(k)
        return True

    # ----- training -----
    def run_blocks(self, r: int) -> list[tuple[tuple[int, ...], float]]:
        """The blocks a run may take, each (rows, pace): one (generation, site) cell at its own speed;
        a homogeneous multi-site run also one generation over all its sites; a run that may mix
        generations also, per pace L (per site if single_site), every cell at least as fast as L,
        all counted at L (the slowest generation used sets the pace)."""
        run = self.inst.training[r]
        rows = [int(i) for i in self.rows_of("training", r)]
        speed = {i: self.train_speed[self.g[i]] for i in rows}
        blocks = [((i,), speed[i]) for i in rows]
        if run.homogeneous and not run.single_site:
            for g in sorted({self.g[i] for i in rows}):
                same = tuple(i for i in rows if self.g[i] == g)
                if len(same) > 1:
                    blocks.append((same, self.train_speed[g]))
        elif not run.homogeneous:
            scopes = [[i for i in rows if self.s[i] == s] for s in sorted({self.s[i] for i in rows})] \
                if run.single_site else [rows]
            for scope in scopes:
                for level in sorted({speed[i] for i in scope}):
                    block = tuple(i for i in scope if speed[i] >= level)
                    if len(block) > 1:
                        blocks.append((block, level))
        return blocks

    def run_cell_rate(self, r: int, i: int, pace: float) -> float:
        g = self.g[i]
        return self.rate(self.inst.training[r].value_per_unit_hour * pace, g, self.s[i], True,
                         self.weight(i) / (self.t1[i] - self.t0[i]))

    def block_rate(self, r: int, block: tuple[tuple[int, ...], float]) -> float:
        rows, pace = block
        return max(self.run_cell_rate(r, i, pace) for i in rows)

    def build_run(self, r: int, block: tuple[tuple[int, ...], float], at_min: bool, positive: bool) -> bool:
        """Give run r nodes of the block's cells, best ranked first: just enough for min_units (at
        least one node) when `at_min`, else as many as max_units and resources allow. The slowest
        generation actually used sets the pace. Undone (False) when min_units is not reached."""
        run = self.inst.training[r]
        rows, pace = block
        snap = self.snapshot()
        gpus, slowest, used = self.run_gpus[r], self.run_slowest[r], set(self.run_rows[r])
        rates = {i: self.run_cell_rate(r, i, pace) for i in rows}
        for i in sorted(rows, key=lambda i: -rates[i]):
            if positive and rates[i] <= 0:
                break
            g = self.g[i]
            pace_now = min(slowest, self.train_speed[g])
            if pace_now <= 0 and run.min_units > 0:
                continue
            ns = int(self.ns[g])
            n = self.avail(i)
            if run.max_units is not None and pace_now > 0:
                n = min(n, int(math.floor((run.max_units / pace_now - gpus) / ns + EPS)))
            if at_min:
                short = max(run.min_units / pace_now if pace_now > 0 else 0.0, 1.0) - gpus
                if short <= EPS:
                    break
                n = min(n, math.ceil(short / ns - EPS))
            if n <= 0:
                continue
            self.take(i, n)
            gpus, slowest = gpus + n * ns, pace_now
            used.add(i)
        if gpus <= 0 or gpus * slowest < run.min_units * (1 - 1e-12) - EPS:
            self.restore(snap)
            return False
        self.run_gpus[r], self.run_slowest[r], self.run_rows[r], self.run_block[r] = gpus, slowest, used, block
        return True

    def run_total(self, r: int) -> float:
        """Discounted net value of what run r holds now."""
        run, H = self.inst.training[r], self.H
        if self.run_gpus[r] <= 0:
            return 0.0
        window = self.inst.window(run)
        weight = float(self.w[window.start:window.stop].sum())
        total = self.run_gpus[r] * self.run_slowest[r] * run.value_per_unit_hour * H * weight
        for i in self.run_rows[r]:
            total -= self.x[i] * self.node_mw[self.g[i], self.s[i]] * self.energy_price[self.s[i]] * H * self.weight(i)
        return total

    def reset_run(self, r: int) -> None:
        self.run_gpus[r], self.run_slowest[r], self.run_rows[r], self.run_block[r] = 0, math.inf, set(), None

    def choose_run(self, r: int) -> None:
        """Place a run on the block that scores best as it would be built now (`score`): a planner
        picks the run's configuration by its value, not by the rank of its best cell."""
        best, best_score = None, (-math.inf, 0.0)
        for block in self.blocks[r]:
            snap = self.snapshot()
            if self.build_run(r, block, at_min=False, positive=True):
                value = self.run_total(r)
                score = self.score(value, snap)
                if value > EPS and _better(score, best_score):
                    best, best_score = block, score
                self.restore(snap)
                self.reset_run(r)
        if best is not None:
            self.build_run(r, best, at_min=False, positive=True)

    # ----- inference -----
    def served(self, p: int, t: int, capacity: float) -> float:
        """Value per hour of the best split of `capacity` over the pool's tiers in period t."""
        scale = self.scales[p][t]
        out, start = 0.0, 0.0
        for value, units in self.tiers[p]:
            u = units * scale
            out += value * min(max(capacity - start, 0.0), u)
            start += u
        return out

    def node_units(self, g: int) -> float:
        return self.unit[g]

    def infer_rate(self, p: int, i: int) -> tuple[float, int]:
        """Rate of the next node of row i for pool p, and how many nodes share that rate
        (up to the end of the tier the pool's capacity is in)."""
        g, t = self.g[i], self.t0[i]
        u, c, scale = self.unit[g], self.cap[p][t], self.scales[p][t]
        gain, start, batch, found = 0.0, 0.0, 1, False
        for value, units in self.tiers[p]:
            end = start + units * scale
            overlap = min(c + u, end) - max(c, start)
            if overlap > 0:
                gain += value * overlap
            if not found and c < end - EPS:
                found = True
                if u > 0:
                    batch = max(1, int(math.floor((end - c) / u + EPS)))
            start = end
        return self.rate(gain / self.ns[g], g, self.s[i], True, self.wl[t]), batch

    def add_inference(self, p: int, i: int, n: int) -> None:
        self.take(i, n)
        self.cap[p][self.t0[i]] += n * self.unit[self.g[i]]

    # ----- the two phases -----
    def mandatory_items(self) -> list[tuple[str, int]]:
        inst = self.inst
        signed = [k for k, lease in enumerate(inst.leases) if lease.signed]
        return ([("whole", k) for k in signed if inst.leases[k].whole_sites]
                + [("run", r) for r, run in enumerate(inst.training) if run.required]
                + [("lease", k) for k in signed if not inst.leases[k].whole_sites]
                + [("pool", p) for p, pool in enumerate(inst.inference) if pool.min_units > 0])

    def place_mandatory(self, item: tuple[str, int]) -> bool:
        kind, k = item
        inst = self.inst
        if kind in ("whole", "lease") and not self.lease_open(k):
            return False  # another signed lease of its group is already accepted
        if kind == "whole":
            return self.lock_whole_site(k)
        if kind == "run":
            order = sorted(self.blocks[k], key=lambda b: -self.block_rate(k, b))
            self.run_grow[k] = any(self.build_run(k, block, at_min=True, positive=False) for block in order)
            return self.run_grow[k]
        if kind == "lease":
            lease = inst.leases[k]
            if lease.all_or_nothing or lease.min_gpus > 0:
                return self.build_lease(k, mandatory=True)
            self.accept(k)
            return True
        pool = inst.inference[k]
        rows = self.rows_of("inference", k)
        for t in inst.window(pool):
            need = pool.min_units * self.scales[k][t]
            cells = [i for i in rows if self.t0[i] == t and self.node_units(self.g[i]) > 0]
            cells.sort(key=lambda i: -self.infer_rate(k, i)[0])
            for i in cells:
                short = need - self.cap[k][t]
                if short <= EPS:
                    break
                n = min(self.avail(i), math.ceil(short / self.node_units(self.g[i]) - EPS))
                if n > 0:
                    self.add_inference(k, i, n)
            if need - self.cap[k][t] > EPS * max(1.0, need):
                return False
        return True

    def mandatory(self, order: list[tuple[str, int]]) -> tuple[str, int] | None:
        """Place the mandatory items in this order; the first that does not fit, or None."""
        for item in order:
            if not self.place_mandatory(item):
                return item
        return None

    def place_optional(self, item: tuple[str, int]) -> None:
        kind, k = item
        if kind == "run" and self.run_block[k] is None:
            self.choose_run(k)
        elif kind == "lease" and self.lease_open(k) and not self.accepted[k]:
            self.build_lease_fully(k)

    def promoted(self, items: tuple[tuple[str, int], ...]) -> None:
        for item in items:
            self.place_optional(item)

    def value_alone(self, item: tuple[str, int]) -> float:
        """What an item is worth placed now (the caller restores the state)."""
        kind, k = item
        self.place_optional(item)
        if kind == "run":
            value = self.run_total(k)
            self.reset_run(k)
            return value
        value = self.lease_total(k)
        self.accepted[k] = False
        return value

    def optional(self) -> None:
        inst = self.inst
        for k, lease in enumerate(inst.leases):
            if self.dead[k] or (lease.all_or_nothing and self.accepted[k]):
                continue
            if lease.whole_sites:
                if not self.accepted[k]:
                    rate = self.whole_site_rate(k)
                    if rate is not None:
                        self.push(rate, "whole", k)
                continue
            for i in self.rows_of("lease", k):
                self.push(self.lease_cell_rate(k, i), "lease", k, int(i))
        for r in range(len(inst.training)):
            if self.blocks[r]:
                self.push(max(self.block_rate(r, b) for b in self.blocks[r]), "train", r)
        for p in range(len(inst.inference)):
            for i in self.rows_of("inference", p):
                self.push(self.infer_rate(p, i)[0], "infer", p, int(i))
        while self.heap:
            neg, _, kind, payload = heapq.heappop(self.heap)
            getattr(self, f"_pop_{kind}")(-neg, *payload)

    def _pop_whole(self, rate: float, k: int) -> None:
        if not self.lease_open(k) or self.accepted[k]:
            return
        group = self.inst.leases[k].group
        if group is not None:
            self.choose_in_group(group)
        else:
            self.lock_whole_site(k)

    def _pop_lease(self, rate: float, k: int, i: int) -> None:
        lease = self.inst.leases[k]
        if not self.lease_open(k) or self.lease_room(k) <= 0:
            return
        if not self.accepted[k]:
            if lease.group is not None:
                self.choose_in_group(lease.group)
            elif lease.all_or_nothing or lease.min_gpus > 0:
                if not self.build_lease(k, mandatory=False):
                    self.dead[k] = True  # resources only shrink: it will never fit later
            elif self.fill_lease_cell(k, i) > 0:
                self.accept(k)
            return
        if not lease.all_or_nothing:
            self.fill_lease_cell(k, i)

    def _pop_train(self, rate: float, r: int) -> None:
        if self.run_block[r] is None:
            self.choose_run(r)
        elif self.run_grow[r]:  # a required run placed at its minimum grows in its block
            self.run_grow[r] = False
            self.build_run(r, self.run_block[r], at_min=False, positive=True)

    def _pop_infer(self, rate: float, p: int, i: int) -> None:
        now, batch = self.infer_rate(p, i)
        if now < rate - 1e-12 * abs(rate):
            self.push(now, "infer", p, i)  # its tier filled since it was queued
            return
        n = min(batch, self.avail(i))
        if n <= 0:
            return
        self.add_inference(p, i, n)
        self.push(self.infer_rate(p, i)[0], "infer", p, i)

    # ----- the plan's value -----
    def objective(self) -> float:
        """The SPEC objective of this plan (what the completion will report)."""
        inst, H = self.inst, self.H
        total = sum(self.lease_total(k) for k in range(len(inst.leases)))
        total += sum(self.run_total(r) for r in range(len(inst.training)))
        for p, pool in enumerate(inst.inference):
            for t in inst.window(pool):
                total += self.served(p, t, self.cap[p][t]) * H * self.w[t]
            for i in self.rows_of("inference", p):
                if self.x[i]:
                    g, s = self.g[i], self.s[i]
                    total -= self.x[i] * self.node_mw[g, s] * self.energy_price[s] * H * self.w[self.t0[i]]
        return float(total)


# ----- passes, completion and the public entry points ----------------------------------------


@dataclass(frozen=True)
class Setting:
    """What distinguishes one pass from another."""

    ranking: str = "mw"
    force: tuple[int, ...] = ()                    # whole-site leases locked before the mandatory items
    forbid: frozenset[int] = frozenset()           # leases never accepted
    promote: tuple[tuple[str, int], ...] = ()      # ("run", r) / ("lease", k) placed right after them

    def label(self, m: PlanModel) -> str:
        inst = m.instance
        parts = [f"per {'MW' if self.ranking == 'mw' else 'GPU'}"]
        parts += [f"with {inst.leases[k].name}" for k in self.force]
        parts += [f"without {inst.leases[k].name}" for k in sorted(self.forbid)]
        parts += [f"{(inst.training if kind == 'run' else inst.leases)[k].name} first" for kind, k in self.promote]
        return ", ".join(parts)


def fill(m: PlanModel, setting: Setting = Setting(), restarts: int = 8) -> _Fill | None:
    """One greedy pass; None when a mandatory item (signed lease, required run, inference
    min_units, or a lease in `force`) cannot be placed even first."""
    order = [("whole", k) for k in setting.force] + _Fill(m, setting.ranking).mandatory_items()
    for _ in range(restarts + 1):
        f = _Fill(m, setting.ranking, setting.forbid)
        failed = f.mandatory(order)
        if failed is None:
            f.promoted(setting.promote)
            f.optional()
            return f
        if failed == order[0]:
            return None
        order = [failed] + [item for item in order if item != failed]
    return None


def complete(m: PlanModel, nodes: np.ndarray, accepted: np.ndarray) -> SolverReport:
    """Every column of the model, with the allocation nodes and accepted flags fixed."""
    cols = np.r_[m.alloc["var"].to_numpy(), m.accepted].astype(np.int64)
    values = np.r_[nodes.astype(float), accepted.astype(float)]
    report = linear_solver().solve(m.lm.with_fixed(cols, values), SolveOptions(gap=1e-9))
    if not report.status.has_solution:
        raise GreedyError(f"the greedy plan for {m.instance.name} breaks a rule of the model: "
                          f"its completion is {report.status.value}")
    return report


def search(m: PlanModel, max_passes: int = MAX_PASSES, seconds: float | None = None,
           cancel: threading.Event | None = None) -> tuple[Setting, _Fill] | None:
    """The best pass found by a small local search over settings, at most `max_passes` passes (and,
    past the first two, none started after `seconds` or once `cancel` is set):
    1. each ranking;
    2. each (not signed) whole-site lease forced in, or kept out if the best plan has it: a planner
       prices a whole-site offer against the internal use of its sites;
    3. each threshold item the best plan leaves out (a training run, a lease with min_gpus or
       all_or_nothing), most valuable on its own first, placed before the ranked options: the
       ranking is myopic where a run's min_units or a block's size is all or nothing.
    A change is kept when the plan is worth more."""
    inst = m.instance
    budget, start = [max_passes], time.perf_counter()
    best: list = [None, None, -math.inf]  # setting, pass, objective

    def attempt(setting: Setting) -> None:
        late = best[1] is not None and ((seconds is not None and time.perf_counter() - start > seconds)
                                        or (cancel is not None and cancel.is_set()))
        if budget[0] <= 0 or late:
            return
        budget[0] -= 1
        f = fill(m, setting)
        if f is not None and (best[1] is None or f.objective() > best[2] + 1e-9 * max(1.0, abs(best[2]))):
            best[:] = [setting, f, f.objective()]

    for ranking in RANKINGS:
        attempt(Setting(ranking))
    if best[0] is None:
        return None
    for k, lease in enumerate(inst.leases):
        if lease.whole_sites and not lease.signed:
            s, f = best[0], best[1]
            attempt(replace(s, forbid=s.forbid | {k}) if f.accepted[k] else replace(s, force=s.force + (k,)))
    for kind, k in _left_out(m, best[0], best[1]):
        s, f = best[0], best[1]
        if (f.run_block[k] is None) if kind == "run" else not f.accepted[k]:  # not placed since
            attempt(replace(s, promote=s.promote + ((kind, k),)))
    return best[0], best[1]


def _left_out(m: PlanModel, setting: Setting, plan: _Fill) -> list[tuple[str, int]]:
    """Runs and threshold leases the plan leaves out, by their value on their own after the mandatory items."""
    inst = m.instance
    items = [("run", r) for r in range(len(inst.training)) if plan.run_block[r] is None]
    items += [("lease", k) for k, lease in enumerate(inst.leases)
              if not plan.accepted[k] and not lease.whole_sites and k not in setting.forbid
              and (lease.all_or_nothing or lease.min_gpus > 0)]
    if not items:
        return []
    alone = _Fill(m, setting.ranking, setting.forbid)
    if alone.mandatory([("whole", k) for k in setting.force] + alone.mandatory_items()) is not None:
        return []
    values = {}
    for item in items:
        snap = alone.snapshot()
        groups = set(alone.groups_taken)
        values[item] = alone.value_alone(item)
        alone.restore(snap)
        alone.groups_taken = groups
    return sorted((item for item in items if values[item] > 0), key=lambda item: -values[item])


def greedy(m: PlanModel, max_passes: int = MAX_PASSES, seconds: float | None = None,
           cancel: threading.Event | None = None) -> GreedyPlan | None:
    """The best greedy plan found (see `search`), completed into a full column vector; None if no
    pass places every mandatory item."""
    start = time.perf_counter()
    found = search(m, max_passes, seconds, cancel)
    if found is None:
        return None
    setting, best = found
    report = complete(m, best.x, best.accepted)
    return GreedyPlan(report.x, report.objective, time.perf_counter() - start, setting.label(m), best.x, best.accepted)


def greedy_report(m: PlanModel, seconds: float | None = None, cancel: threading.Event | None = None) -> SolverReport:
    """The greedy plan as a solver report: `feasible` with no bound, or `no_solution`. With
    `seconds` (a time limit), the local search starts no pass after it (the first two always run)."""
    start = time.perf_counter()
    plan = greedy(m, seconds=seconds, cancel=cancel)
    seconds = time.perf_counter() - start
    if plan is None:
        return SolverReport("greedy", Status.NO_SOLUTION, seconds=seconds)
    return SolverReport("greedy", Status.FEASIBLE, plan.x, plan.objective, None, None, seconds)
