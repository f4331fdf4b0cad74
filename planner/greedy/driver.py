"""One greedy pass, the local search over passes, and the completion of the best plan.

A pass places the mandatory items first: signed whole-site leases (they need empty sites),
required training runs (one block each, at their minimum), the other signed leases (min_gpus, or
exactly max_gpus when all_or_nothing), then every inference pool's min_units in each period. When
one does not fit, the pass restarts with that item first (a few times); if it still does not fit,
the greedy gives up (None). Then every optional use is queued as an option by its rate
(planner.greedy.ranking) and taken best first, each as far as resources allow, by its builder.

A small local search over passes keeps the best plan (`search`), by what each is worth in the
model's own objective (planner.greedy.pricing). Finally the node counts and accepted flags are
fixed in the MILP, which completes every other column (placed, choice and pace binaries, served
units). A completion that is infeasible means the greedy broke a rule: a bug (`GreedyError`),
never hidden.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, replace

import numpy as np

from planner.greedy.inference import Inference
from planner.greedy.leases import Leases
from planner.greedy.ledger import Fleet, Ledger
from planner.greedy.ranking import RANKINGS, Queue, Ranking
from planner.greedy.training import Training
from planner.greedy.whole_sites import WholeSites
from planner.instance import Instance
from planner.model import PlanModel
from planner.solvers import SolveOptions, SolverReport, Status, linear_solver

MAX_PASSES = 24  # passes of the local search (about 0.6 s each on the generated L instance)

Item = tuple[str, int]  # ("whole" | "run" | "lease" | "pool", index)


class GreedyError(RuntimeError):
    """The greedy plan breaks a rule of the model: a bug in the greedy, never a property of the instance."""


@dataclass
class GreedyPlan:
    x: np.ndarray          # the full column vector (completed by the fixed-node MILP)
    objective: float
    label: str             # the pass that gave this plan


def mandatory_items(inst: Instance) -> list[Item]:
    signed = [k for k, lease in enumerate(inst.leases) if lease.signed]
    return ([("whole", k) for k in signed if inst.leases[k].whole_sites]
            + [("run", r) for r, run in enumerate(inst.training) if run.required]
            + [("lease", k) for k in signed if not inst.leases[k].whole_sites]
            + [("pool", p) for p, pool in enumerate(inst.inference) if pool.min_units > 0])


class Pass:
    """One greedy pass over a model with one ranking: its ledger and the builders that fill it."""

    def __init__(self, fleet: Fleet, ranking: str = "mw", forbid: frozenset[int] = frozenset()):
        self.fleet = fleet
        self.ledger = ledger = Ledger(fleet, forbid)
        self.ranking = rank = Ranking(fleet, ranking)
        self.queue = Queue()
        self.whole = WholeSites(fleet, ledger, rank)
        self.leases = Leases(fleet, ledger, rank, self.whole)
        self.training = Training(fleet, ledger, rank)
        self.inference = Inference(fleet, ledger, rank, self.queue)

    def place_mandatory(self, item: Item) -> bool:
        kind, k = item
        if kind in ("whole", "lease") and not self.ledger.lease_open(k):
            return False  # another signed lease of its group is already accepted
        if kind == "whole":
            return self.whole.lock(k)
        if kind == "run":
            return self.training.place_required(k)
        if kind == "lease":
            return self.leases.place_signed(k)
        return self.inference.place_min(k)

    def mandatory(self, order: list[Item]) -> Item | None:
        """Place the mandatory items in this order; the first that does not fit, or None."""
        for item in order:
            if not self.place_mandatory(item):
                return item
        return None

    def place_optional(self, item: Item) -> None:
        kind, k = item
        ledger = self.ledger
        if kind == "run" and ledger.runs[k].block is None:
            self.training.choose(k)
        elif kind == "lease" and ledger.lease_open(k) and not ledger.accepted[k]:
            self.leases.build_fully(k)

    def value_of(self, item: Item) -> float:
        kind, k = item
        return self.fleet.prices.value(self.ledger, "training" if kind == "run" else "lease", k)

    def optional(self) -> None:
        """Queue every option (leases, then runs, then inference cells) and take them best first."""
        take = {"whole": self.leases.take_whole, "lease": self.leases.take_cell, "train": self.training.take,
                "infer": self.inference.take}
        for builder in (self.leases, self.training, self.inference):
            for rate, kind, *payload in builder.options():
                self.queue.push(rate, kind, *payload)
        for rate, kind, payload in self.queue.drain():
            take[kind](rate, *payload)

    def worth(self) -> float:
        """The model's objective of this plan (planner.greedy.pricing)."""
        return self.fleet.prices.worth(self.ledger)


# ----- passes, completion and the public entry points ----------------------------------------


@dataclass(frozen=True)
class Setting:
    """What distinguishes one pass from another."""

    ranking: str = "mw"
    force: tuple[int, ...] = ()                    # whole-site leases locked before the mandatory items
    forbid: frozenset[int] = frozenset()           # leases never accepted
    promote: tuple[Item, ...] = ()                 # ("run", r) / ("lease", k) placed right after them

    def label(self, m: PlanModel) -> str:
        inst = m.instance
        parts = [f"per {'MW' if self.ranking == 'mw' else 'GPU'}"]
        parts += [f"with {inst.leases[k].name}" for k in self.force]
        parts += [f"without {inst.leases[k].name}" for k in sorted(self.forbid)]
        parts += [f"{(inst.training if kind == 'run' else inst.leases)[k].name} first" for kind, k in self.promote]
        return ", ".join(parts)

    def mandatory(self, inst: Instance) -> list[Item]:
        """The mandatory items, after the whole-site leases this setting forces in."""
        return [("whole", k) for k in self.force] + mandatory_items(inst)


def fill(fleet: Fleet, setting: Setting = Setting(), restarts: int = 8) -> Pass | None:
    """One greedy pass; None when a mandatory item (signed lease, required run, inference
    min_units, or a lease in `force`) cannot be placed even first."""
    order = setting.mandatory(fleet.inst)
    for _ in range(restarts + 1):
        f = Pass(fleet, setting.ranking, setting.forbid)
        failed = f.mandatory(order)
        if failed is None:
            for item in setting.promote:
                f.place_optional(item)
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
           cancel: threading.Event | None = None) -> tuple[Setting, Pass] | None:
    """The best pass found by a small local search over settings, at most `max_passes` passes (and,
    past the first two, none started after `seconds` or once `cancel` is set):
    1. each ranking;
    2. each (not signed) whole-site lease forced in, or kept out if the best plan has it: a planner
       prices a whole-site offer against the internal use of its sites;
    3. each threshold item the best plan leaves out (a training run, a lease with min_gpus or
       all_or_nothing), most valuable on its own first, placed before the ranked options: the
       ranking is myopic where a run's min_units or a block's size is all or nothing.
    A change is kept when the plan is worth more."""
    inst, fleet = m.instance, Fleet(m)
    budget, start = [max_passes], time.perf_counter()
    best: list = [None, None, -math.inf]  # setting, pass, worth

    def attempt(setting: Setting) -> None:
        late = best[1] is not None and ((seconds is not None and time.perf_counter() - start > seconds)
                                        or (cancel is not None and cancel.is_set()))
        if budget[0] <= 0 or late:
            return
        budget[0] -= 1
        f = fill(fleet, setting)
        if f is None:
            return
        worth = f.worth()
        if best[1] is None or worth > best[2] + 1e-9 * max(1.0, abs(best[2])):
            best[:] = [setting, f, worth]

    for ranking in RANKINGS:
        attempt(Setting(ranking))
    if best[0] is None:
        return None
    for k, lease in enumerate(inst.leases):
        if lease.whole_sites and not lease.signed:
            s, f = best[0], best[1]
            attempt(replace(s, forbid=s.forbid | {k}) if f.ledger.accepted[k] else replace(s, force=s.force + (k,)))
    for kind, k in _left_out(fleet, best[0], best[1]):
        s, f = best[0], best[1]
        if (f.ledger.runs[k].block is None) if kind == "run" else not f.ledger.accepted[k]:  # not placed since
            attempt(replace(s, promote=s.promote + ((kind, k),)))
    return best[0], best[1]


def _left_out(fleet: Fleet, setting: Setting, plan: Pass) -> list[Item]:
    """Runs and threshold leases the plan leaves out, by their value on their own after the mandatory items."""
    inst = fleet.inst
    items = [("run", r) for r in range(len(inst.training)) if plan.ledger.runs[r].block is None]
    items += [("lease", k) for k, lease in enumerate(inst.leases)
              if not plan.ledger.accepted[k] and not lease.whole_sites and k not in setting.forbid
              and (lease.all_or_nothing or lease.min_gpus > 0)]
    if not items:
        return []
    alone = Pass(fleet, setting.ranking, setting.forbid)
    if alone.mandatory(setting.mandatory(inst)) is not None:
        return []
    values = {}
    for item in items:
        with alone.ledger.trial():
            alone.place_optional(item)
            values[item] = alone.value_of(item)
    return sorted((item for item in items if values[item] > 0), key=lambda item: -values[item])


def greedy(m: PlanModel, max_passes: int = MAX_PASSES, seconds: float | None = None,
           cancel: threading.Event | None = None) -> GreedyPlan | None:
    """The best greedy plan found (see `search`), completed into a full column vector; None if no
    pass places every mandatory item."""
    found = search(m, max_passes, seconds, cancel)
    if found is None:
        return None
    setting, best = found
    report = complete(m, best.ledger.x, best.ledger.accepted)
    return GreedyPlan(report.x, report.objective, setting.label(m))


def greedy_report(m: PlanModel, seconds: float | None = None, cancel: threading.Event | None = None) -> SolverReport:
    """The greedy plan as a solver report: `feasible` with no bound, or `no_solution`. With
    `seconds` (a time limit), the local search starts no pass after it (the first two always run)."""
    start = time.perf_counter()
    plan = greedy(m, seconds=seconds, cancel=cancel)
    seconds = time.perf_counter() - start
    if plan is None:
        return SolverReport("greedy", Status.NO_SOLUTION, seconds=seconds)
    return SolverReport("greedy", Status.FEASIBLE, plan.x, plan.objective, None, None, seconds)
