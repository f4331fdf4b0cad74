"""How the options of a pass rank: by net value per facility MW-hour or per GPU-hour.

Every optional use is an *option* ranked by its net value per facility MW-hour: value per GPU-hour
(lease price, compute units x value, served units x tier value), less the energy cost when the
operator pays it, divided by the facility MW of one GPU, and weighted by the discount weight of the
periods it runs in. Per MW-hour is right where power binds, per GPU-hour where nodes bind; the
search tries both. Options are taken best first from a lazy priority queue.

Rates order options; they are heuristics, never what a plan is worth (planner.greedy.pricing).
Ties between the blocks or alternatives of one choice go to the one taking less capacity.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator

from planner.greedy.ledger import Fleet, Ledger, Trial

RANKINGS = ("mw", "gpu")  # net value per facility MW-hour, per GPU-hour


def better(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Score a beats score b: more value (beyond rounding), or as much for less capacity."""
    tol = 1e-9 * max(1.0, abs(b[0])) if math.isfinite(b[0]) else 0.0
    return a[0] > b[0] + tol or (a[0] >= b[0] - tol and a[1] > b[1])


def _unbounded(net: float) -> float:
    """The rate of a net value that takes no capacity."""
    return math.inf if net > 0 else net


class Ranking:
    def __init__(self, fleet: Fleet, per: str = "mw"):
        self.per = per
        self.gpu_mw = fleet.node_mw / fleet.m.node_gpus[:, None]                # facility MW of one GPU, (G, S)
        self.gpu_energy = self.gpu_mw * fleet.energy_price[None, :]             # energy cost per GPU-hour, (G, S)

    def rate(self, value_per_gpu_hour: float, g: int, s: int, pays_energy: bool, weight: float) -> float:
        """Net value of one GPU-hour at (g, s) per MW-hour (or per GPU-hour), times the mean discount weight."""
        net = (value_per_gpu_hour - (self.gpu_energy[g, s] if pays_energy else 0.0)) * weight
        if self.per == "gpu":
            return net
        mw = self.gpu_mw[g, s]
        return net / mw if mw > 0 else _unbounded(net)

    def per_capacity(self, net: float, mw: float, gpus: int) -> float:
        """Rate of a block worth `net` per hour that takes `mw` facility MW and `gpus` GPUs."""
        amount = gpus if self.per == "gpu" else mw
        return net / amount if amount > 0 else _unbounded(net)

    def score(self, value: float, ledger: Ledger, t: Trial) -> tuple[float, float]:
        """How a choice ranks against its alternatives (`better`): its total value, then (on a tie) the
        less capacity it took since `t` began, in MW-hours (GPU-hours when ranking per GPU).
        (Charging that capacity at the rate of the best option still queued was tried: worse on
        the generated instances than plain value.)"""
        return value, -ledger.used_since(t, per_gpu=self.per == "gpu")


class Queue:
    """The options still open, best rate first. Lazy: an option whose rate fell since it was queued
    is pushed back by its builder at the rate it has now."""

    def __init__(self):
        self.heap: list = []
        self.seq = 0

    def push(self, rate: float, kind: str, *payload) -> None:
        if rate > 0:
            heapq.heappush(self.heap, (-rate, self.seq, kind, payload))
            self.seq += 1

    def drain(self) -> Iterator[tuple[float, str, tuple]]:
        while self.heap:
            neg, _, kind, payload = heapq.heappop(self.heap)
            yield -neg, kind, payload
