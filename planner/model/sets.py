"""Index sets and allocation variables: what may go where, built once as tables.

Every allocation variable counts whole **nodes** (SPEC rule 3, granularity) of one generation
at one site for one consumer. Training runs and leases hold the same allocation in every
period of their window, so they get one variable per (generation, site) spanning the window;
inference pools may change every period, so they get one per (generation, site, period).
Variables exist only for eligible cells with usable nodes, bounded by the inventory.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from planner.instance import Instance, Lease, TrainingRun
from planner.model.linear import LinearModel
from planner.scenarios import operator_ends

USES = ("training", "inference", "lease")
CELL_KEYS = ["use", "consumer", "g", "s", "t0", "t1"]  # what an allocation cell is, across scenarios too


@dataclass(frozen=True)
class NodeCounts:
    """A model's node-count columns, and the two subsets relax-and-fix treats apart."""

    all: np.ndarray
    fine: np.ndarray    # the fleet's smallest nodes': below a gap of 1e-3 the relaxation makes only these continuous
    single: np.ndarray  # those that hold for one period: with the rest fixed they fall apart into small blocks


@dataclass
class PlanModel:
    """The MILP plus the tables that map its columns back to the plan."""

    instance: Instance
    lm: LinearModel
    nodes: np.ndarray          # usable nodes (G, S, T)
    weights: np.ndarray        # discount weight per period
    node_gpus: np.ndarray      # GPUs per node, per generation
    node_mw: np.ndarray        # facility MW drawn by one running node, (G, S)
    alloc: pd.DataFrame        # one row per allocation variable: var, use, consumer, g, s, t0, t1, ub
    usage: pd.DataFrame        # one row per (allocation variable, period it holds GPUs in): var, use, consumer, g, s, t
    placed: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))    # per training run
    accepted: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # per lease
    units: dict = field(default_factory=dict)   # per training run: units = sum coef * var; table var, coef, g, s, pace, cell
    choices: dict = field(default_factory=dict)  # per training run: (column, options, binaries) of each exactly-one choice
    served: list = field(default_factory=list)  # per inference pool: DataFrame var, pool, t, tier
    ends: dict = field(default_factory=dict)    # per lease that may end early: LeaseEnds
    _cell_index: dict | None = None

    def cells(self, use: str, consumer: int) -> pd.DataFrame:
        """The allocation variables of one consumer."""
        if self._cell_index is None:
            self._cell_index = self.alloc.groupby(["use", "consumer"]).indices
        rows = self._cell_index.get((use, consumer), np.zeros(0, dtype=np.int64))
        return self.alloc.iloc[rows]

    def fine_nodes(self) -> np.ndarray:
        """The node-count columns of the fleet's smallest nodes (fewest GPUs): those whose rounding
        moves the least capacity and power (planner.relax_and_fix relaxes only these)."""
        gpus = self.node_gpus[self.alloc["g"].to_numpy()]
        return self.alloc["var"].to_numpy()[gpus <= gpus.min(initial=np.inf)]

    def node_counts(self) -> NodeCounts:
        """The node-count columns for planner.relax_and_fix (and planner.block_rounding)."""
        periods = (self.alloc["t1"] - self.alloc["t0"]).to_numpy()
        return NodeCounts(self.alloc["var"].to_numpy(), self.fine_nodes(), self.alloc["var"].to_numpy()[periods == 1])


@dataclass
class LeaseEnds:
    """A lease that may end before its term in this scenario (SPEC section 6). Its first-stage block
    (the alloc columns) holds only while the lease runs, so each period gets a `held` column:
    held = block before the end, 0 from it on."""

    choices: np.ndarray   # periods the operator may end it at
    end: np.ndarray       # one binary column per choice: the operator ends it there
    exit: int | None      # the period the lessee ends it, if it does in this scenario
    held: pd.DataFrame    # var (held nodes), cell (the block's column), g, s, t, ub

    def ended_by(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(entry, choice) pairs with choice period <= t[entry]: sum of those end columns = ended by t."""
        return np.nonzero(self.choices[None, :] <= np.asarray(t)[:, None])


def _size_cap(inst: Instance, c: TrainingRun | Lease, gens: list[int]) -> np.ndarray:
    """Most nodes per generation a consumer could ever hold, from its own size limits."""
    sizes = np.array([inst.generations[g].node_size for g in gens], dtype=float)
    cap = np.full(len(gens), np.inf)
    if isinstance(c, Lease) and c.max_gpus is not None:
        cap = np.floor(c.max_gpus / sizes)
    if isinstance(c, TrainingRun) and c.max_units is not None:
        speeds = np.array([inst.generations[g].train_speed for g in gens])
        slowest = speeds if c.homogeneous else np.full(len(gens), speeds.min())
        with np.errstate(divide="ignore", invalid="ignore"):
            cap = np.where(slowest > 0, np.floor(c.max_units / (sizes * slowest) + 1e-9), np.inf)
    return cap


def earliest_ends(inst: Instance, exits: dict[int, int], reveal: int) -> dict[int, int]:
    """Lease index -> the first period at which it may end early (the operator's right, or the lessee's
    exit in this scenario): its block needs to fit the inventory only before that period."""
    ends = {}
    for k, lease in enumerate(inst.leases):
        periods = operator_ends(inst, lease, reveal) + ([exits[k]] if k in exits else [])
        if periods:
            ends[k] = min(periods)
    return ends


def allocation_table(inst: Instance, nodes: np.ndarray, ends: dict[int, int] | None = None) -> pd.DataFrame:
    """Eligible (consumer, generation, site[, period]) cells with their node upper bound: the nodes
    usable in every period the consumer surely holds them (for a lease that may end, see `ends`,
    from planner.model.sets.earliest_ends, the periods before its earliest end, at least the first)."""
    ends = ends or {}
    frames = []
    for use, consumers in zip(USES, (inst.training, inst.inference, inst.leases)):
        for k, c in enumerate(consumers):
            gens, sites, window = inst.allowed_generations(c), inst.allowed_sites(c), inst.window(c)
            if not gens or not sites:
                continue
            surely = window
            if use == "lease" and k in ends:
                surely = range(window.start, max(ends[k], window.start + 1))
            block = nodes[np.ix_(gens, sites, list(surely))]
            if use == "inference":
                gi, si, ti = np.nonzero(block)
                ub, t0 = block[gi, si, ti], np.asarray(window)[ti]
                t1 = t0 + 1
            else:
                ub = np.minimum(block.min(axis=2), _size_cap(inst, c, gens)[:, None])
                gi, si = np.nonzero(ub > 0)
                ub = ub[gi, si]
                t0, t1 = np.full(len(gi), window.start), np.full(len(gi), window.stop)
            frames.append(pd.DataFrame({
                "use": use, "consumer": k, "g": np.asarray(gens)[gi], "s": np.asarray(sites)[si],
                "t0": t0, "t1": t1, "ub": ub.astype(float),
            }))
    columns = ["use", "consumer", "g", "s", "t0", "t1", "ub"]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    return table.astype({"consumer": int, "g": int, "s": int, "t0": int, "t1": int, "ub": float})


def expand_periods(alloc: pd.DataFrame) -> pd.DataFrame:
    """One row per (variable, period) it holds GPUs in."""
    span = (alloc["t1"] - alloc["t0"]).to_numpy()
    rep = alloc.loc[alloc.index.repeat(span), ["var", "use", "consumer", "g", "s", "t0"]]
    offset = np.arange(span.sum()) - np.repeat(np.cumsum(span) - span, span)
    rep = rep.assign(t=rep["t0"].to_numpy() + offset).drop(columns="t0")
    return rep.reset_index(drop=True)


def create_sets(inst: Instance, bound_scale: float = 1.0, alloc: pd.DataFrame | None = None,
                exits: dict[int, int] | None = None, reveal: int = 0) -> PlanModel:
    """Derive the fleet arrays and create one integer node variable per eligible cell.

    `bound_scale` > 1 loosens the node columns' bounds (and the big-M values built on them),
    never the inventory rows: explain's capacity relaxation lets a consumer exceed the inventory.
    `alloc` gives the cells instead (the scenarios of one instance share them, each with its own ub);
    `exits` (lease index -> period) and `reveal` say when leases may end (SPEC section 6)."""
    nodes = inst.usable_nodes()
    gens, sites = inst.generations, inst.sites
    node_gpus = np.array([g.node_size for g in gens], dtype=float)
    it_mw = node_gpus * np.array([g.power_kw for g in gens]) / 1000.0
    node_mw = it_mw[:, None] * np.array([s.pue for s in sites])[None, :]
    lm = LinearModel()
    if alloc is None:
        alloc = allocation_table(inst, nodes * bound_scale if bound_scale != 1.0 else nodes,
                                 earliest_ends(inst, exits or {}, reveal))
    alloc = alloc.reset_index(drop=True)
    alloc["var"] = lm.add_variables(
        "nodes", len(alloc), 0.0, alloc["ub"].to_numpy(), integer=True,
        keys=alloc[CELL_KEYS],
    )
    m = PlanModel(
        instance=inst, lm=lm, nodes=nodes, weights=inst.discount_weights(), node_gpus=node_gpus,
        node_mw=node_mw, alloc=alloc, usage=expand_periods(alloc),
    )
    create_lease_ends(m, exits or {}, reveal)
    return m


def create_lease_ends(m: PlanModel, exits: dict[int, int], reveal: int) -> None:
    """For each lease that may end early: its end binaries, and per-period held columns that replace
    the block's column in the usage table (so inventory, power and energy see only the held periods)."""
    u = m.usage
    for k, lease in enumerate(m.instance.leases):
        exit_ = exits.get(k)
        choices = np.array([e for e in operator_ends(m.instance, lease, reveal) if exit_ is None or e < exit_], dtype=int)
        if exit_ is None and not len(choices):
            continue
        end = m.lm.add_variables(f"lease_end[{lease.name}]", len(choices), 0.0, 1.0, integer=True,
                                 keys=pd.DataFrame({"lease": k, "period": choices}))
        rows = np.flatnonzero(((u["use"] == "lease") & (u["consumer"] == k)).to_numpy())
        held = u.iloc[rows][["var", "g", "s", "t"]].rename(columns={"var": "cell"}).reset_index(drop=True)
        held["ub"] = m.alloc["ub"].to_numpy()[held["cell"].to_numpy()]
        if exit_ is not None:
            held.loc[held["t"] >= exit_, "ub"] = 0.0
        held["var"] = m.lm.add_variables(f"lease_held[{lease.name}]", len(held), 0.0, held["ub"].to_numpy(),
                                         keys=held[["g", "s", "t"]].assign(lease=k))
        u.loc[u.index[rows], "var"] = held["var"].to_numpy()
        m.ends[k] = LeaseEnds(choices, end, exit_, held)
