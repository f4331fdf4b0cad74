"""Seeded synthetic GPU fleets (SPEC section 2 instances) for benchmarks and tests.

    python scripts/generate_instance.py --size M --seed 1 -o fleet.yaml
    python scripts/generate_instance.py --sites 10 --generations 6 --periods 12 --training 10 \\
        --inference 20 --leases 30 --signed-share 0.2 --deliveries 5 -o fleet.json
    python scripts/generate_instance.py --size M --family lessor --scenarios 20 --power-cuts 0.2 -o s.yaml

or `generate("M", seed=1)` / `generate({"size": "S", "periods": 6, "scenarios": 5}, seed=1)` from Python.

Every number is drawn from the bands in planner/data/market_bands.csv (power, speeds, rental
prices, capex) and the facility notes of planner/data/SOURCES.md (PUE, energy prices, terms).
Each consumer sees a realistic, small scope (a few sites and generations), so the MILP stays
sparse. Hard commitments (signed leases, required training runs, inference `min_units`) are
sized from an explicit witness plan that uses at most half of any site's nodes and power, so
every instance is feasible. The same knobs and seed always give the same file, byte for byte.

A `--family` changes the fleet's structure (how its consumers split between training,
inference and lease offers). With `--scenarios N` the instance gains SPEC section 6: N weighted
scenarios (demand and price multipliers from the reveal period on, site power cuts, lessee
exits) and operator termination rights on some leases. Scenarios come from their own random
stream, so the fleet is the same whatever the scenario knobs; they keep the witness feasible
(power is never cut below the witness's share, serving floors never scale up).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import yaml

import planner

BANDS_CSV = Path(planner.__file__).parent / "data" / "market_bands.csv"
PERIOD_HOURS = 730  # one month
HARD_SHARE = 0.5  # hard commitments use at most this share of a site's nodes and power
PREFERENCE = ("H100", "H200", "GB200", "B200", "A100", "GB300", "VR200")  # which generations a k-generation fleet has
REGIONS = ("us-east", "us-central", "us-west", "us-south", "eu-north", "eu-west",
           "eu-central", "asia-east", "asia-south", "me-central", "latam-south", "oceania")
PRODUCTS = ("chat", "api", "code", "search", "agents", "vision", "voice", "embeddings")
WORKLOADS = ("pretrain", "finetune", "rl", "distill", "multimodal")
LESSEES = ("orbital-labs", "nimbus-ai", "kestrel", "tessellate", "quanta-cloud", "lumen-research",
           "halcyon", "meridian-ai", "polaris-compute", "arbor-labs", "cobalt-cloud", "vantage-ml")
TIER_VALUES = ((2.5, 3.5), (1.2, 2.0), (0.3, 0.8))  # USD per serving unit-hour: paid, free tier, batch
# Shares of the consumers going to training and inference (the rest are lease offers), by family.
FAMILIES = {"mixed": (0.15, 0.25), "lessor": (0.05, 0.15), "inference": (0.10, 0.55), "training": (0.35, 0.20)}
SCENARIO_STREAM = 6  # the scenarios' own random stream (with the seed): the fleet never depends on them


@dataclass(frozen=True)
class Knobs:
    """Size of a synthetic fleet; consumers = training + inference + leases."""

    sites: int
    generations: int
    periods: int
    training: int
    inference: int
    leases: int
    signed_share: float = 0.15
    deliveries: int = 0
    family: str = "mixed"  # a label: resolve_knobs splits a preset's consumers by FAMILIES[family]


@dataclass(frozen=True)
class ScenarioKnobs:
    """SPEC section 6 for a synthetic fleet; no `uncertainty` at all when scenarios is 0."""

    scenarios: int = field(default=0, metadata={"help": "number of scenarios (0: no uncertainty section)"})
    reveal_period: int | None = field(default=None, metadata={"help": "when the scenario is known (default: T // 4)"})
    demand_spread: float = field(default=0.3, metadata={
        "help": "inference demand x U(1 - spread, 1 + spread) from the reveal period on"})
    price_spread: float = field(default=0.2, metadata={
        "help": "open per-GPU lease prices and training values x U(1 - spread, 1 + spread)"})
    power_cuts: float = field(default=0.1, metadata={"help": "chance that a site loses 10-50%% of its power in a scenario"})
    exits: float = field(default=0.05, metadata={"help": "chance that a lessee ends its lease early in a scenario"})
    terminations: float = field(default=0.2, metadata={
        "help": "share of the leases (of two periods or more) with an operator termination right"})
    risk_weight: float = field(default=0.0, metadata={"help": "weight of CVaR in the objective"})
    cvar_alpha: float = field(default=0.9, metadata={"help": "CVaR is the mean of the worst 1 - alpha"})

    def __post_init__(self) -> None:
        shares = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("scenarios", "reveal_period")}
        bad = [f"{name} {v} is outside [0, 1)" if name.endswith(("spread", "alpha")) else f"{name} {v} is outside [0, 1]"
               for name, v in shares.items() if not (0 <= v < 1 if name.endswith(("spread", "alpha")) else 0 <= v <= 1)]
        if self.scenarios < 0:
            bad.append(f"scenarios {self.scenarios} < 0")
        if bad:
            raise ValueError("; ".join(bad))


def _preset(sites: int, generations: int, periods: int, consumers: int, deliveries: int, family: str = "mixed") -> Knobs:
    """Split consumers by family (mixed: about 15% training, 25% inference, 60% lease offers)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r} (families: {', '.join(FAMILIES)})")
    train_share, infer_share = FAMILIES[family]
    training, inference = round(train_share * consumers), round(infer_share * consumers)
    return Knobs(sites, generations, periods, training, inference, consumers - training - inference,
                 deliveries=deliveries, family=family)


PRESETS = {
    "S": _preset(3, 3, 4, 12, 2),
    "M": _preset(10, 6, 12, 60, 8),
    "L": _preset(50, 7, 36, 340, 60),
    "XL": _preset(100, 7, 60, 700, 150),
}


def resolve_knobs(size_or_knobs: str | Knobs | dict) -> tuple[Knobs, ScenarioKnobs]:
    """A preset name, a Knobs, or a flat dict of fleet and scenario knobs (optionally with a base
    `size`, default M, and a `family` that splits the preset's consumers; explicit counts win)."""
    if isinstance(size_or_knobs, Knobs):
        return size_or_knobs, ScenarioKnobs()
    if isinstance(size_or_knobs, str):
        return PRESETS[size_or_knobs.upper()], ScenarioKnobs()
    overrides = dict(size_or_knobs)
    scenario = {f.name: overrides.pop(f.name) for f in fields(ScenarioKnobs) if f.name in overrides}
    base = PRESETS[str(overrides.pop("size", "M")).upper()]
    family = overrides.pop("family", "mixed")
    consumers = base.training + base.inference + base.leases
    base = _preset(base.sites, base.generations, base.periods, consumers, base.deliveries, family)
    return replace(base, **overrides), ScenarioKnobs(**scenario)


# ----- generations -----
def load_bands() -> list[dict]:
    """The reference table, one dict per generation, oldest first."""
    with BANDS_CSV.open(newline="") as fh:
        return list(csv.DictReader(fh))


def pick_bands(bands: list[dict], k: int) -> list[dict]:
    """The k generations a fleet has (by PREFERENCE), in the table's (age) order."""
    if not 1 <= k <= len(PREFERENCE):
        raise ValueError(f"generations must be 1..{len(PREFERENCE)}, got {k}")
    wanted = PREFERENCE[:k]
    return [row for row in bands if row["generation"] in wanted]


def _draw(rng: np.random.Generator, row: dict, column: str, digits: int = 3) -> float:
    """Uniform draw inside the band `column_low`..`column_high` of a table row."""
    return round(float(rng.uniform(float(row[f"{column}_low"]), float(row[f"{column}_high"]))), digits)


def make_generations(rng: np.random.Generator, rows: list[dict]) -> list[dict]:
    """Power, speeds and capex inside the bands; NVL72 generations allocate whole racks."""
    return [{
        "name": row["generation"],
        "power_kw": _draw(rng, row, "power_kw_all_in"),
        "node_size": int(row["nvlink_domain"]),
        "train_speed": _draw(rng, row, "train_vs_h100"),
        "infer_speed": _draw(rng, row, "infer_vs_h100"),
        "memory_gb": int(row["memory_gb"]),
        "capex_per_gpu": int(round(_draw(rng, row, "capex_per_gpu", 0), -3)),
        "depreciation_years": int(rng.choice([4, 5, 6])),
    } for row in rows]


# ----- the fleet: sites, inventories, deliveries, and the witness ledger -----
class Fleet:
    """Generations, sites and installed GPUs per (generation, site, period), plus the ledger of
    the witness plan that every hard commitment is sized against."""

    def __init__(self, rng: np.random.Generator, knobs: Knobs, rows: list[dict]):
        self.rng, self.T = rng, knobs.periods
        self.rows = rows
        self.gens = make_generations(rng, rows)
        self.shipping = [g for g, row in enumerate(rows) if row["status"] == "shipping"]
        self.ns = np.array([g["node_size"] for g in self.gens])
        self.sites, self.region = make_sites(rng, knobs.sites)
        self.installed = np.zeros((len(self.gens), knobs.sites, self.T), dtype=np.int64)
        self.whole: list[int] = []

    @property
    def nodes(self) -> np.ndarray:
        return self.installed // self.ns[:, None, None]

    def node_mw(self, g: int, s: int) -> float:
        """Facility MW drawn by one running node."""
        gen = self.gens[g]
        return gen["node_size"] * gen["power_kw"] * self.sites[s]["pue"] / 1000.0

    def gpus_for_mw(self, g: int, s: int, mw: float) -> int:
        """Whole nodes of generation g that a facility budget of `mw` powers at site s, in GPUs."""
        return int(mw // self.node_mw(g, s)) * int(self.ns[g])

    def facility_mw(self, s: int, t: int) -> float:
        return sum(self.installed[g, s, t] / self.ns[g] * self.node_mw(g, s) for g in range(len(self.gens)))

    def open_ledger(self) -> None:
        """Hard commitments may use HARD_SHARE of nodes and power, never at whole-site offer sites."""
        self.hard_nodes = np.floor(HARD_SHARE * self.nodes).astype(np.int64)
        self.hard_mw = np.array([[HARD_SHARE * site["power_mw"]] * self.T for site in self.sites])
        self.hard_nodes[:, self.whole, :] = 0
        self.hard_mw[self.whole, :] = 0.0

    def room(self, g: int, s: int, window: range) -> int:
        """Nodes of (g, s) still free for hard commitments in every period of the window."""
        w = list(window)
        by_power = math.floor(self.hard_mw[s, w].min() / self.node_mw(g, s) + 1e-9)
        return int(max(0, min(self.hard_nodes[g, s, w].min(), by_power)))

    def reserve(self, g: int, s: int, window: range, k: int) -> None:
        w = list(window)
        self.hard_nodes[g, s, w] -= k
        self.hard_mw[s, w] -= k * self.node_mw(g, s)

    def cells(self, window: range, gens: list[int] | None = None) -> list[tuple[int, int]]:
        """(generation, site) cells with usable nodes in every period of the window."""
        block = self.nodes[:, :, list(window)].min(axis=2)
        keep = np.zeros(len(self.gens), dtype=bool)
        keep[gens if gens is not None else slice(None)] = True
        return [(int(g), int(s)) for g, s in zip(*np.nonzero(block * keep[:, None] > 0))]

    def pick_cell(self, window: range, gens: list[int] | None = None) -> tuple[int, int] | None:
        cells = self.cells(window, gens)
        return cells[int(self.rng.integers(len(cells)))] if cells else None

    def sites_with(self, g: int, window: range) -> list[int]:
        return [int(s) for s in np.flatnonzero(self.nodes[g][:, list(window)].min(axis=1) > 0)]


def make_sites(rng: np.random.Generator, n: int) -> tuple[list[dict], list[int]]:
    """Sites of 5-300 MW (log-uniform), PUE 1.1-1.4, energy 40-120 USD/MWh around a regional price."""
    n_regions = max(1, math.ceil(n / 4))
    names = [REGIONS[r % len(REGIONS)] + (f"-{r // len(REGIONS) + 1}" if r >= len(REGIONS) else "")
             for r in range(n_regions)]
    price = rng.uniform(45, 110, n_regions)
    sites, region = [], []
    for i in range(n):
        r = i % n_regions
        sites.append({
            "name": f"{names[r]}-{i // n_regions + 1}",
            "power_mw": round(float(np.exp(rng.uniform(np.log(5), np.log(300)))), 1),
            "pue": round(float(rng.uniform(1.1, 1.4)), 2),
            "energy_price_per_mwh": round(float(np.clip(price[r] * rng.uniform(0.9, 1.1), 40, 120)), 1),
            "inventory": {},
        })
        region.append(r)
    return sites, region


def fill_inventories(fleet: Fleet) -> None:
    """1-3 consecutive shipping generations per site, sized to 75-105% of its IT power."""
    rng = fleet.rng
    for s, site in enumerate(fleet.sites):
        newest = int(rng.integers(len(fleet.shipping)))
        gens = fleet.shipping[max(0, newest - int(rng.integers(3))): newest + 1]
        budget = site["power_mw"] * rng.uniform(0.75, 1.05)
        for g, share in zip(gens, rng.dirichlet(np.ones(len(gens)))):
            fleet.installed[g, s, :] = fleet.gpus_for_mw(g, s, budget * share)
        if not fleet.installed[:, s, 0].any():
            fleet.installed[gens[-1], s, :] = fleet.ns[gens[-1]]
        site["inventory"] = {fleet.gens[g]["name"]: int(fleet.installed[g, s, 0])
                             for g in gens if fleet.installed[g, s, 0] > 0}


def choose_whole_sites(fleet: Fleet, n: int) -> None:
    """Up to n small sites (<= 50 MW) that can power every GPU: candidates for whole-site offers."""
    small = sorted((site["power_mw"], s) for s, site in enumerate(fleet.sites) if site["power_mw"] <= 50)
    fleet.whole = [s for mw, s in small if fleet.facility_mw(s, 0) <= mw][:n]


def add_deliveries(fleet: Fleet, n: int) -> None:
    """n tranches over periods 1..T-1, about one in three a retirement of a site's oldest generation;
    deliveries bring the site's newest or a newer generation (announced ones only in the second half)."""
    rng, T = fleet.rng, fleet.T
    sites = [s for s in range(len(fleet.sites)) if s not in fleet.whole]
    if T < 2 or not sites:
        return
    for _ in range(n):
        s, p = sites[int(rng.integers(len(sites)))], int(rng.integers(1, T))
        present = np.flatnonzero(fleet.installed[:, s, p:].min(axis=1) > 0)
        if rng.random() < 1 / 3 and len(present) > 1:
            g = int(present[0])
            nodes = int(fleet.installed[g, s, p:].min() // fleet.ns[g])
            gpus = -int(max(1, round(nodes * rng.uniform(0.3, 1.0)))) * int(fleet.ns[g])
        else:
            newest = int(present.max()) if len(present) else 0
            later = p >= T // 2
            gens = [g for g, row in enumerate(fleet.rows) if g >= newest and (later or row["status"] == "shipping")]
            g = gens[int(rng.integers(len(gens)))]
            mw = fleet.sites[s]["power_mw"] * rng.uniform(0.1, 0.35)
            gpus = max(int(fleet.ns[g]), fleet.gpus_for_mw(g, s, mw))
        fleet.installed[g, s, p:] += gpus
        fleet.sites[s].setdefault("deliveries", []).append(
            {"period": p, "generation": fleet.gens[g]["name"], "gpus": gpus})
    for site in fleet.sites:
        site.get("deliveries", []).sort(key=lambda d: (d["period"], d["generation"], d["gpus"]))


# ----- helpers shared by the consumers -----
def _window(rng: np.random.Generator, T: int, longest: int, to_end: float = 0.0) -> range:
    """A [start, end) window of at most `longest` periods; with probability `to_end` it runs to the
    horizon's end instead (half of those from period 0)."""
    length = int(rng.integers(1, min(T, longest) + 1))
    if rng.random() < to_end:
        return range(T - length, T) if rng.random() < 0.5 else range(T)
    start = int(rng.integers(0, T - length + 1))
    return range(start, start + length)


def _periods(window: range, T: int) -> dict:
    """The `periods` field, left out when the window is the whole horizon."""
    return {} if (window.start, window.stop) == (0, T) else {"periods": [window.start, window.stop]}


def _neighbours(g: int, k: int, pool: list[int]) -> list[int]:
    """Generation g plus up to k-1 of its nearest neighbours in age that are in `pool`, oldest first."""
    near = sorted(pool, key=lambda h: (abs(h - g), h))
    return sorted(near[:k]) if g in pool else [g]


def _more_sites(fleet: Fleet, s: int, k: int, candidates: list[int]) -> list[int]:
    """Site s plus up to k-1 others from `candidates`, same region first."""
    others = fleet.rng.permutation([c for c in candidates if c != s])
    order = sorted(others, key=lambda c: fleet.region[c] != fleet.region[s])
    return sorted([s] + [int(c) for c in order[: k - 1]])


def _names(idx: list[int], table: list[dict]) -> list[str]:
    return [table[i]["name"] for i in idx]


def _unique(name: str, used: set[str]) -> str:
    out, k = name, 2
    while out in used:
        out, k = f"{name}-{k}", k + 1
    used.add(out)
    return out


def _price(fleet: Fleet, g: int) -> float:
    """A multi-year contract price per GPU-hour inside the generation's band."""
    return _draw(fleet.rng, fleet.rows[g], "rent_contract", 2)


def _lessee(k: int) -> str:
    base = LESSEES[k % len(LESSEES)]
    return base if k < len(LESSEES) else f"{base}-{k // len(LESSEES) + 1}"


def _available_gpus(fleet: Fleet, gens: list[int], sites: list[int], window: range) -> int:
    nodes = fleet.nodes[np.ix_(gens, sites, list(window))].min(axis=2)
    return int((nodes * fleet.ns[gens][:, None]).sum())


# ----- leases -----
def make_signed_lease(fleet: Fleet, name: str, lessee: str) -> dict | None:
    """A signed contract sized on a witness block of free nodes (reserved in the ledger)."""
    rng, T = fleet.rng, fleet.T
    window = _window(rng, T, T, to_end=0.7)
    cells = [(g, s) for g, s in fleet.cells(window, fleet.shipping) if fleet.room(g, s, window) > 0]
    if not cells:
        return None
    g, s = cells[int(rng.integers(len(cells)))]
    k, ns = max(1, int(fleet.room(g, s, window) * rng.uniform(0.2, 0.6))), int(fleet.ns[g])
    fleet.reserve(g, s, window, k)
    gpus = k * ns
    gens = _neighbours(g, int(rng.integers(1, 3)), fleet.shipping)
    lease = {"name": name, "lessee": lessee, "signed": True,
             "sites": _names(_more_sites(fleet, s, int(rng.integers(1, 3)), fleet.sites_with(g, window)),
                             fleet.sites)}
    if rng.random() < 0.5:
        lease["price_per_gpu_hour"] = {fleet.gens[h]["name"]: _price(fleet, h) for h in gens}
    else:
        lease |= {"generations": _names(gens, fleet.gens), "price_per_gpu_hour": _price(fleet, gens[0])}
    if rng.random() < 0.5:
        lease |= {"all_or_nothing": True, "max_gpus": gpus}
    else:
        lease |= {"min_gpus": gpus, "max_gpus": gpus + int(gpus * rng.uniform(0, 0.5)) // ns * ns}
    return lease | _periods(window, T) | {"lessee_pays_power": bool(rng.random() < 0.3)}


def make_whole_site_lease(fleet: Fleet, s: int, name: str, lessee: str) -> dict:
    """A fixed monthly payment for every GPU of a small site, at contract prices inside the bands."""
    rng = fleet.rng
    window = _window(rng, fleet.T, fleet.T, to_end=0.7)
    gpus = fleet.installed[:, s, window.start]
    payment = sum(int(n) * _price(fleet, g) * PERIOD_HOURS for g, n in enumerate(gpus) if n > 0)
    return {"name": name, "lessee": lessee, "payment_per_period": float(round(payment, -3)), "whole_sites": True,
            "sites": [fleet.sites[s]["name"]]} | _periods(window, fleet.T) | {
        "lessee_pays_power": bool(rng.random() < 0.3)}


def _offer_scope(fleet: Fleet, kind: str, window: range) -> tuple[list[int], list[int]] | None:
    """Generations (1-3, neighbours in age) and sites (1-3) of an offer, around a random cell."""
    rng = fleet.rng
    cell = fleet.pick_cell(window, fleet.shipping)
    if cell is None:
        return None
    g, s = cell
    same_node = [h for h in fleet.shipping if fleet.ns[h] == fleet.ns[g]]
    k = {"scalar": int(rng.integers(1, 3)), "mapping": int(rng.integers(1, 4)), "fixed": int(rng.integers(1, 3))}[kind]
    gens = _neighbours(g, k, same_node if kind == "fixed" else fleet.shipping)
    sites = _more_sites(fleet, s, int(rng.integers(1, 4)), fleet.sites_with(g, window))
    return gens, sites


def make_offer(fleet: Fleet, kind: str, name: str, lessee: str, window: range,
               scope: tuple[list[int], list[int]]) -> dict:
    """One open offer: a scalar price, a per-generation price mapping, or a fixed all-or-nothing payment."""
    rng, (gens, sites) = fleet.rng, scope
    ns = int(fleet.ns[gens[0]]) if kind == "fixed" else int(fleet.ns[gens].max())
    avail = _available_gpus(fleet, gens, sites, window)
    gpus = max(ns, int(avail * rng.uniform(0.1, 0.6)) // ns * ns)
    offer: dict = {"name": name, "lessee": lessee, "sites": _names(sites, fleet.sites)}
    if kind == "mapping":
        offer["price_per_gpu_hour"] = {fleet.gens[g]["name"]: _price(fleet, g) for g in gens}
    else:
        offer["generations"] = _names(gens, fleet.gens)
    if kind == "scalar":
        offer["price_per_gpu_hour"] = _price(fleet, gens[0])
    if kind == "fixed":
        payment = gpus * _price(fleet, gens[0]) * rng.uniform(1.0, 1.1) * PERIOD_HOURS
        offer |= {"payment_per_period": float(round(payment, -3)), "all_or_nothing": True, "max_gpus": gpus}
    else:
        if rng.random() < 0.3:
            offer["min_gpus"] = max(ns, int(gpus * rng.uniform(0.3, 0.7)) // ns * ns)
        offer["max_gpus"] = gpus
    return offer | _periods(window, fleet.T) | {"lessee_pays_power": bool(rng.random() < 0.3)}


def make_deal(fleet: Fleet, deal: int, n_offers: int, used: set[str]) -> list[dict]:
    """One lessee's offer, or a group of 2-3 alternatives (other term, size and price, same scope)."""
    rng, T = fleet.rng, fleet.T
    kind = str(rng.choice(["scalar", "mapping", "fixed"], p=[0.45, 0.4, 0.15]))
    lessee = _lessee(deal)
    window = _window(rng, T, T, to_end=0.6)
    scope = _offer_scope(fleet, kind, window)
    if scope is None:
        return []
    offers = []
    for i in range(n_offers):
        term = window if i == 0 else _window(rng, T, T, to_end=0.5)
        if not fleet.cells(term, scope[0]):
            continue
        offer = make_offer(fleet, kind, _unique(f"{lessee}-{kind}", used), lessee, term, scope)
        offers.append(offer | ({"group": f"{lessee}-deal-{deal}"} if n_offers > 1 else {}))
    return offers


def make_leases(fleet: Fleet, n: int, signed_share: float) -> list[dict]:
    """Signed contracts first (sized on the witness), then whole-site offers, then open deals."""
    rng, used = fleet.rng, set()
    leases = []
    for k in range(round(signed_share * n)):
        lessee = _lessee(k)
        lease = make_signed_lease(fleet, _unique(f"{lessee}-signed", used), lessee)
        leases += [lease] if lease else []
    for k, s in enumerate(fleet.whole[: max(0, n - len(leases))]):
        lessee = _lessee(len(leases) + k)
        leases.append(make_whole_site_lease(fleet, s, _unique(f"{lessee}-whole-site", used), lessee))
    deal = len(leases)
    while len(leases) < n:
        size = 1 if rng.random() < 0.6 else int(rng.integers(2, 4))
        leases += make_deal(fleet, deal, min(size, n - len(leases)), used)
        deal += 1
    return leases


# ----- training -----
def make_training(fleet: Fleet, k: int, value: float, used: set[str]) -> dict | None:
    """A run needing a sizeable block: min_units 30-80% of the (generation, site) block it is drawn
    around; rarely required (then sized on a reserved witness block); sometimes mixed or multi-site."""
    rng, T = fleet.rng, fleet.T
    window = _window(rng, T, 6)
    cell = fleet.pick_cell(window)
    if cell is None:
        return None
    g, s = cell
    speed = fleet.gens[g]["train_speed"] * fleet.ns[g]
    block = fleet.nodes[g, s, list(window)].min() * speed
    room = fleet.room(g, s, window)
    required = bool(rng.random() < 0.05) and room > 0
    units = room * speed if required else block * rng.uniform(0.3, 0.8)  # the witness block, or the size wanted
    run = {"name": _unique(f"{WORKLOADS[k % len(WORKLOADS)]}-{k:03d}", used),
           "value_per_unit_hour": round(value * float(rng.uniform(1.0, 1.15)), 2),
           "min_units": max(1, int(units * (0.9 if required else 1.0)))}
    if rng.random() < 0.6:
        run["max_units"] = math.ceil(units * rng.uniform(1.2, 2.0))
    if required:
        fleet.reserve(g, s, window, room)
        run["required"] = True
    else:
        run |= {"homogeneous": bool(rng.random() >= 0.15), "single_site": bool(rng.random() >= 0.1)}
    present = [h for h in range(len(fleet.gens)) if fleet.nodes[h, s, list(window)].min() > 0]
    gens = _neighbours(g, int(rng.integers(1, 4)), present)
    sites = _more_sites(fleet, s, int(rng.integers(1, 4)), fleet.sites_with(g, window))
    return run | {"generations": _names(gens, fleet.gens),
                  "sites": _names(sites, fleet.sites)} | _periods(window, T)


# ----- inference -----
def _demand_scale(rng: np.random.Generator, T: int) -> list[float]:
    """Monthly growth compounding 20-150% a year."""
    growth = rng.uniform(0.2, 1.5)
    return [round(float((1 + growth) ** (t * PERIOD_HOURS / 8760)), 4) for t in range(T)]


def _tiers(rng: np.random.Generator, units: float) -> list[dict]:
    """2-3 tiers (paid, free, batch) splitting `units` serving units."""
    n = int(rng.integers(2, 4))
    shares = rng.dirichlet(np.full(n, 3.0))
    return [{"units": int(max(1, units * share)), "value_per_unit_hour": round(float(rng.uniform(*band)), 2)}
            for share, band in zip(shares, TIER_VALUES)]


def _serving_units(fleet: Fleet, sites: list[int], t: int) -> float:
    """Serving capacity (H100-equivalent units) of every GPU at these sites in period t."""
    speed = np.array([g["infer_speed"] for g in fleet.gens]) * fleet.ns
    return float((fleet.nodes[:, sites, t] * speed[:, None]).sum())


def _min_units(fleet: Fleet, pool: dict, sites: list[int], window: range) -> int:
    """A hard serving floor backed by a witness block (reserved), at most the paid tier."""
    rng = fleet.rng
    scale = max(pool["demand_scale"][t] for t in window)
    cells = [(g, s) for g, s in fleet.cells(window) if s in sites and fleet.room(g, s, window) > 0]
    if not cells:
        return 0
    g, s = cells[int(rng.integers(len(cells)))]
    per_node = fleet.gens[g]["infer_speed"] * fleet.ns[g]
    floor = int(min(fleet.room(g, s, window) * per_node / scale * rng.uniform(0.3, 0.9), pool["demand"][0]["units"]))
    if floor > 0:
        fleet.reserve(g, s, window, math.ceil(floor * scale / per_node))
    return floor


def make_inference(fleet: Fleet, k: int, used: set[str]) -> dict:
    """A regional pool on 1-4 sites of one region, tiers sized at 5-30% of their serving capacity."""
    rng, T = fleet.rng, fleet.T
    r = int(rng.integers(max(fleet.region) + 1))
    region = [s for s, rr in enumerate(fleet.region) if rr == r]
    sites = sorted(int(s) for s in rng.permutation(region)[: int(rng.integers(1, min(4, len(region)) + 1))])
    window = range(T) if rng.random() < 0.8 else _window(rng, T, T, to_end=1.0)
    units = _serving_units(fleet, sites, window.start) * rng.uniform(0.05, 0.3)
    region_name = fleet.sites[sites[0]]["name"].rsplit("-", 1)[0]
    pool = {"name": _unique(f"{PRODUCTS[k % len(PRODUCTS)]}-{region_name}", used),
            "demand": _tiers(rng, units), "demand_scale": _demand_scale(rng, T)}
    if rng.random() < 0.4:
        floor = _min_units(fleet, pool, sites, window)
        pool |= {"min_units": floor} if floor > 0 else {}
    return pool | {"sites": _names(sites, fleet.sites)} | _periods(window, T)


# ----- uncertainty (SPEC section 6) -----
def _term(lease: dict, T: int) -> range:
    start, stop = lease.get("periods", (0, T))
    return range(start, stop)


def _period_value(lease: dict) -> float:
    """What one period of the lease pays: its fixed payment, or its largest block at its mean price."""
    if "payment_per_period" in lease:
        return float(lease["payment_per_period"])
    price = lease["price_per_gpu_hour"]
    mean = float(np.mean(list(price.values()))) if isinstance(price, dict) else float(price)
    return mean * lease["max_gpus"] * PERIOD_HOURS


def add_terminations(rng: np.random.Generator, leases: list[dict], share: float, T: int) -> None:
    """An operator termination right on `share` of the leases of two periods or more: 0-3 periods'
    notice, a fee of 10-100% of one period's value, sometimes a later earliest end."""
    for lease in leases:
        term = _term(lease, T)
        if len(term) < 2 or rng.random() >= share:
            continue
        right = {"notice_periods": int(rng.integers(0, 4)),
                 "fee": float(round(_period_value(lease) * rng.uniform(0.1, 1.0), -3))}
        if rng.random() < 0.3:
            right["earliest_period"] = int(rng.integers(term.start + 1, term.stop))
        lease["termination"] = right


def _probabilities(rng: np.random.Generator, n: int) -> list[float]:
    """n positive probabilities (6 decimals) that add up to 1 (the last takes the rounding)."""
    p = [float(x) for x in np.maximum(np.round(rng.dirichlet(np.full(n, 4.0)), 6), 1e-6)[: n - 1]]
    return p + [round(1.0 - sum(p), 6)]


def _scaled(scale: list[float], factor: float, reveal: int) -> list[float]:
    return [x if t < reveal else round(x * factor, 4) for t, x in enumerate(scale)]


def _move(rng: np.random.Generator, level: float, own: float) -> float:
    """A move in [-1, 1]: the market's `level`, plus an item's own noise of weight `own`."""
    return float(np.clip((1 - own) * level + own * rng.uniform(-1, 1), -1, 1))


def scenario_set(rng: np.random.Generator, inst: dict, k: ScenarioKnobs, reveal: int) -> dict:
    """One scenario's field replacements. A market level in [-1, 1] moves demand and prices together
    (a boom raises both), each item with some noise of its own: every multiplier stays within
    1 +/- its spread. Power cuts at some sites."""
    level = float(rng.uniform(-1, 1))
    out: dict = {}
    for pool in inst["inference"]:
        factor = 1 + k.demand_spread * _move(rng, level, 0.2)
        if pool.get("min_units"):  # the floor scales with demand: never above the witness's
            factor = min(factor, 1.0)
        out[f"inference.{pool['name']}.demand_scale"] = _scaled(pool["demand_scale"], factor, reveal)
    for lease in inst["leases"]:
        prices = lease.get("price_per_gpu_hour")
        if lease.get("signed") or prices is None:
            continue
        if isinstance(prices, dict):
            out |= {f"leases.{lease['name']}.price_per_gpu_hour.{g}": round(v * (1 + k.price_spread * _move(rng, level, 0.3)), 2)
                    for g, v in prices.items()}
        else:
            out[f"leases.{lease['name']}.price_per_gpu_hour"] = round(prices * (1 + k.price_spread * _move(rng, level, 0.3)), 2)
    for run in inst["training"]:
        factor = 1 + k.price_spread * _move(rng, level, 0.3)
        out[f"training.{run['name']}.value_per_unit_hour"] = round(run["value_per_unit_hour"] * factor, 2)
    for site in inst["sites"]:
        if rng.random() < k.power_cuts:  # never below the witness's share of the power
            keep = rng.uniform(HARD_SHARE, 0.9)
            out[f"sites.{site['name']}.power_mw"] = math.ceil(site["power_mw"] * keep * 10) / 10
    return out


def lessee_exits(rng: np.random.Generator, leases: list[dict], chance: float, T: int, reveal: int) -> dict:
    """Leases whose lessee walks in this scenario, at a period after the reveal and inside the term."""
    out = {}
    for lease in leases:
        term = _term(lease, T)
        first = max(term.start + 1, reveal)
        if first < term.stop and rng.random() < chance:
            out[lease["name"]] = int(rng.integers(first, term.stop))
    return out


def make_uncertainty(inst: dict, k: ScenarioKnobs, seed: int) -> dict:
    """The `uncertainty` section, and termination rights added to `inst`'s leases."""
    rng = np.random.default_rng([seed, SCENARIO_STREAM])
    T = inst["horizon"]["periods"]
    reveal = T // 4 if k.reveal_period is None else k.reveal_period
    if not 0 <= reveal <= T:
        raise ValueError(f"reveal_period {reveal} is outside 0..{T} (the horizon)")
    add_terminations(rng, inst["leases"], k.terminations, T)
    scenarios = []
    for i, p in enumerate(_probabilities(rng, k.scenarios)):
        scenario = {"name": f"s{i + 1:02d}", "probability": p, "set": scenario_set(rng, inst, k, reveal)}
        exits = lessee_exits(rng, inst["leases"], k.exits, T, reveal)
        scenarios.append(scenario | ({"lessee_exits": exits} if exits else {}))
    return {"reveal_period": reveal, "cvar_alpha": k.cvar_alpha, "risk_weight": k.risk_weight, "scenarios": scenarios}


# ----- the instance -----
def describe(k: Knobs, seed: int, sk: ScenarioKnobs) -> str:
    """The instance's description: how it was made."""
    family = "" if k.family == "mixed" else f" {k.family} family:"
    scenarios = "" if not sk.scenarios else (
        f" {sk.scenarios} scenarios (demand x 1 +/- {sk.demand_spread}, prices x 1 +/- {sk.price_spread}, power cuts"
        f" {sk.power_cuts:.0%}, exits {sk.exits:.0%}; termination rights on {sk.terminations:.0%} of the leases).")
    return (f"Synthetic fleet (scripts/generate_instance.py, seed {seed}):{family} {k.sites} sites x"
            f" {k.generations} generations x {k.periods} monthly periods; {k.training} training runs, {k.inference} inference pools,"
            f" {k.leases} lease offers ({k.signed_share:.0%} signed); {k.deliveries} deliveries/retirements.{scenarios}")


def label(k: Knobs, sk: ScenarioKnobs) -> str:
    """`M`, `M-lessor`, `M-20sc`: the preset the fleet's sizes come from (or its dimensions), family, scenarios."""
    size = next((name for name, p in PRESETS.items()
                 if _preset(p.sites, p.generations, p.periods, p.training + p.inference + p.leases, p.deliveries,
                            k.family) == k), None)
    return ((size or f"{k.sites}x{k.generations}x{k.periods}") + ("" if k.family == "mixed" else f"-{k.family}")
            + (f"-{sk.scenarios}sc" if sk.scenarios else ""))


def generate(size_or_knobs: str | Knobs | dict, seed: int) -> dict:
    """A feasible synthetic instance dict (SPEC section 2, and section 6 with scenario knobs) for a
    preset name or explicit knobs."""
    knobs, sk = resolve_knobs(size_or_knobs)
    rng = np.random.default_rng(seed)
    bands = load_bands()
    fleet = Fleet(rng, knobs, pick_bands(bands, knobs.generations))
    fill_inventories(fleet)
    n_whole = min(2, knobs.sites // 3, knobs.leases // 4)
    choose_whole_sites(fleet, n_whole)
    add_deliveries(fleet, knobs.deliveries)
    fleet.open_ledger()
    leases = make_leases(fleet, knobs.leases, knobs.signed_share)
    h100_rate = float(next(row for row in bands if row["generation"] == "H100")["rent_contract_high"])
    used: set[str] = set()
    training = [run for k in range(knobs.training) if (run := make_training(fleet, k, h100_rate, used))]
    inference = [make_inference(fleet, k, used) for k in range(knobs.inference)]
    inst = {
        "name": f"synthetic-{label(knobs, sk)}-seed{seed}",
        "description": describe(knobs, seed, sk),
        "currency": "USD",
        "horizon": {"periods": knobs.periods, "period_hours": PERIOD_HOURS,
                    "discount_rate": round(float(rng.uniform(0.05, 0.10)), 3)},
        "generations": fleet.gens,
        "sites": fleet.sites,
        "training": training,
        "inference": inference,
        "leases": leases,
    }
    if sk.scenarios:
        inst["uncertainty"] = make_uncertainty(inst, sk, seed)
    return inst


def dump(instance: dict, path: str | None) -> None:
    """Write YAML, or JSON for a `.json` path; stdout without a path."""
    if path and path.endswith(".json"):
        text = json.dumps(instance, indent=2) + "\n"
    else:
        text = yaml.safe_dump(instance, sort_keys=False, default_flow_style=None, width=120)
    if path:
        Path(path).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="M", choices=sorted(PRESETS), help="preset the knobs start from")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", help="file to write (.json for JSON, else YAML); stdout if omitted")
    parser.add_argument("--family", default="mixed", choices=list(FAMILIES),
                        help="how the consumers split between training, inference and lease offers")
    knobs = [f for f in fields(Knobs) if f.name != "family"] + list(fields(ScenarioKnobs))
    for f in knobs:
        kind = float if "float" in str(f.type) else int
        what = (f"override the preset's {f.name}" if "help" not in f.metadata
                else f.metadata["help"] + ("" if f.default is None else f" (default {f.default})"))
        parser.add_argument(f"--{f.name.replace('_', '-')}", type=kind, help=what)
    args = parser.parse_args(argv)
    overrides = {f.name: getattr(args, f.name) for f in knobs if getattr(args, f.name) is not None}
    try:
        instance = generate({"size": args.size, "family": args.family, **overrides}, args.seed)
    except ValueError as err:
        parser.error(str(err))
    dump(instance, args.output)


if __name__ == "__main__":
    main()
