"""Training runs: when a run's best option comes up, each block it may take is sized as it would be
built now (as large as max_units and resources allow, at least min_units over the window) and the
one worth most in total is built: a planner picks the run's configuration by its value, not by the
rank of its best cell. Blocks: every (generation, site) cell alone, which satisfies every training
rule; for a homogeneous multi-site run, one generation over its sites; for a run that may mix
generations, per pace L (per site when single_site) every cell at least as fast as L, all counted
at L. Required runs are placed at their minimum first (a mandatory item) and grow in their block
when their option comes up.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from planner.greedy.ledger import EPS, Fleet, Hold, Ledger
from planner.greedy.ranking import Ranking, better

Block = tuple[tuple[int, ...], float]  # allocation rows, the pace they are counted at


class Training:
    def __init__(self, fleet: Fleet, ledger: Ledger, ranking: Ranking):
        self.fleet, self.ledger, self.ranking = fleet, ledger, ranking
        runs = fleet.inst.training
        self.blocks = [self.run_blocks(r) for r in range(len(runs))]
        self.grow = [False] * len(runs)  # a required run placed at its minimum, still to grow

    def run_blocks(self, r: int) -> list[Block]:
        """The blocks run r may take, each (rows, pace): one (generation, site) cell at its own speed;
        a homogeneous multi-site run also one generation over all its sites; a run that may mix
        generations also, per pace L (per site if single_site), every cell at least as fast as L,
        all counted at L (the slowest generation used sets the pace)."""
        f, run = self.fleet, self.fleet.inst.training[r]
        rows = [int(i) for i in f.rows_of("training", r)]
        speed = {i: f.train_speed[f.g[i]] for i in rows}
        blocks = [((i,), speed[i]) for i in rows]
        if run.homogeneous and not run.single_site:
            for g in sorted({f.g[i] for i in rows}):
                same = tuple(i for i in rows if f.g[i] == g)
                if len(same) > 1:
                    blocks.append((same, f.train_speed[g]))
        elif not run.homogeneous:
            scopes = [[i for i in rows if f.s[i] == s] for s in sorted({f.s[i] for i in rows})] \
                if run.single_site else [rows]
            for scope in scopes:
                for level in sorted({speed[i] for i in scope}):
                    block = tuple(i for i in scope if speed[i] >= level)
                    if len(block) > 1:
                        blocks.append((block, level))
        return blocks

    def cell_rate(self, r: int, i: int, pace: float) -> float:
        f = self.fleet
        return self.ranking.rate(f.inst.training[r].value_per_unit_hour * pace, f.g[i], f.s[i], True,
                                 f.weight(i) / (f.t1[i] - f.t0[i]))

    def block_rate(self, r: int, block: Block) -> float:
        rows, pace = block
        return max(self.cell_rate(r, i, pace) for i in rows)

    def build(self, r: int, block: Block, at_min: bool, positive: bool) -> bool:
        """Give run r nodes of the block's cells, best ranked first: just enough for min_units (at
        least one node) when `at_min`, else as many as max_units and resources allow. The slowest
        generation actually used sets the pace. Undone (False) when min_units is not reached."""
        f, ledger, run = self.fleet, self.ledger, self.fleet.inst.training[r]
        rows, pace = block
        hold = ledger.runs[r]
        gpus, slowest = hold.gpus, hold.pace
        rates = {i: self.cell_rate(r, i, pace) for i in rows}
        with ledger.trial() as t:
            for i in sorted(rows, key=lambda i: -rates[i]):
                if positive and rates[i] <= 0:
                    break
                g = f.g[i]
                pace_now = min(slowest, f.train_speed[g])
                if pace_now <= 0 and run.min_units > 0:
                    continue
                ns = int(f.ns[g])
                n = ledger.avail(i)
                if run.max_units is not None and pace_now > 0:
                    n = min(n, math.floor((run.max_units / pace_now - gpus) / ns + EPS))
                if at_min:
                    short = max(run.min_units / pace_now if pace_now > 0 else 0.0, 1.0) - gpus
                    if short <= EPS:
                        break
                    n = min(n, math.ceil(short / ns - EPS))
                if n <= 0:
                    continue
                ledger.take(i, n)
                gpus, slowest = gpus + n * ns, pace_now
            if gpus > 0 and gpus * slowest >= run.min_units * (1 - 1e-12) - EPS:
                ledger.runs[r] = Hold(gpus, slowest, block)
                t.commit()
        return t.committed

    def choose(self, r: int) -> None:
        """Place run r on the block that scores best as it would be built now (`Ranking.score`)."""
        ledger = self.ledger
        best, best_score = None, (-math.inf, 0.0)
        for block in self.blocks[r]:
            with ledger.trial() as t:
                if self.build(r, block, at_min=False, positive=True):
                    value = self.fleet.prices.value(ledger, "training", r)
                    score = self.ranking.score(value, ledger, t)
                    if value > EPS and better(score, best_score):
                        best, best_score = block, score
        if best is not None:
            self.build(r, best, at_min=False, positive=True)

    def place_required(self, r: int) -> bool:
        """A required run at its minimum, on the best ranked block that can hold it."""
        order = sorted(self.blocks[r], key=lambda b: -self.block_rate(r, b))
        self.grow[r] = any(self.build(r, block, at_min=True, positive=False) for block in order)
        return self.grow[r]

    # ----- options -----
    def options(self) -> Iterator[tuple]:
        for r in range(len(self.fleet.inst.training)):
            if self.blocks[r]:
                yield max(self.block_rate(r, b) for b in self.blocks[r]), "train", r

    def take(self, rate: float, r: int) -> None:
        hold = self.ledger.runs[r]
        if hold.block is None:
            self.choose(r)
        elif self.grow[r]:
            self.grow[r] = False
            self.build(r, hold.block, at_min=False, positive=True)
