"""One function per SPEC rule: `define_<rule>(m)` adds the rows (and helper variables) of that rule.

Notation in docstrings: x = allocation nodes, y = run placed, a = lease accepted,
N = usable nodes, ns = GPUs per node. All rows are built as (row, col, coef) arrays.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner.model.knapsack import whole_node_facets
from planner.model.linear import INF
from planner.model.sets import PlanModel


def _keyed_rows(*codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row index per entry for the distinct key tuples, and the first entry of each key."""
    key = np.stack(codes, axis=1) if codes else np.zeros((0, 0))
    _, first, rows = np.unique(key, axis=0, return_index=True, return_inverse=True)
    return rows.ravel(), first


def define_inventory(m: PlanModel) -> None:
    """Inventory (SPEC 3.1): sum over consumers of x[g,s,t] <= N[g,s,t]."""
    u = m.usage
    g, s, t = (u[c].to_numpy() for c in ("g", "s", "t"))
    rows, first = _keyed_rows(g, s, t)
    m.lm.add_constraints(
        "inventory", rows, u["var"].to_numpy(), np.ones(len(u)), -INF, m.nodes[g[first], s[first], t[first]],
        keys=pd.DataFrame({"g": g[first], "s": s[first], "t": t[first]}),
    )


def define_power(m: PlanModel) -> None:
    """Power (SPEC 3.2): sum x * ns * power_kw * pue / 1000 <= power_mw, per site and period."""
    u = m.usage
    g, s, t = (u[c].to_numpy() for c in ("g", "s", "t"))
    rows, first = _keyed_rows(s, t)
    power_mw = np.array([site.power_mw for site in m.instance.sites])
    m.lm.add_constraints(
        "power", rows, u["var"].to_numpy(), m.node_mw[g, s], -INF, power_mw[s[first]],
        keys=pd.DataFrame({"s": s[first], "t": t[first]}),
    )


def define_power_whole_nodes(m: PlanModel, lifted: bool = True) -> None:
    """Valid inequalities of power (3.2) with granularity (3.3), over each generation's total nodes at a
    site in a period: where one or two generations draw its power, the facets of the hull of their
    whole node counts under its power and inventory; where more do and `lifted`, each pair's lifted over
    the others (planner.model.knapsack). They cut no plan."""
    u = m.usage
    present = u[["s", "t", "g"]].drop_duplicates()
    present = present[m.node_mw[present["g"], present["s"]] > 0]  # a GPU that draws no power is not in the row
    facets, cut_rows, cut_gens, cut_coefs, rhs = {}, [], [], [], []  # facets: per (generations, site, inventory)
    for (s, t), gens in present.groupby(["s", "t"])["g"]:
        gens = tuple(sorted(gens))
        if len(gens) > 2 and not lifted:
            continue
        caps = tuple(m.nodes[gens, s, t].tolist())
        if (gens, s, caps) not in facets:
            facets[gens, s, caps] = whole_node_facets(tuple(m.node_mw[gens, s]), m.instance.sites[s].power_mw, caps)
        for coef, hi in facets[gens, s, caps]:
            cut_rows += [len(rhs)] * len(gens)
            cut_gens += [(s, t, g) for g in gens]
            cut_coefs += list(coef)
            rhs.append(hi)
    if not rhs:
        return
    cuts = pd.DataFrame(cut_gens, columns=["s", "t", "g"]).assign(row=cut_rows, coef=cut_coefs)
    entries = cuts[cuts["coef"] != 0].merge(u[["s", "t", "g", "var"]], on=["s", "t", "g"])
    keys = cuts.drop_duplicates("row")[["s", "t"]].reset_index(drop=True)
    m.lm.add_constraints("power_whole_nodes", entries["row"].to_numpy(), entries["var"].to_numpy(),
                         entries["coef"].to_numpy(dtype=float), -INF, np.array(rhs, dtype=float), n_rows=len(rhs),
                         keys=keys)


def define_training_placement(m: PlanModel) -> None:
    """A run is placed (y=1) iff it holds >= 1 node: sum x >= y, sum x <= (sum ub) * y."""
    runs = m.instance.training
    m.placed = m.lm.add_variables("training_placed", len(runs), 0.0, 1.0, integer=True)
    for r in range(len(runs)):
        cells = m.cells("training", r)
        rows, cols = np.zeros(len(cells) + 1), np.r_[cells["var"].to_numpy(), m.placed[r]]
        ones = np.ones(len(cells))
        m.lm.add_constraints("training_placed_min_one_node", rows, cols, np.r_[ones, -1.0], 0.0, INF, n_rows=1)
        m.lm.add_constraints("training_placed_link", rows, cols, np.r_[ones, -cells["ub"].sum()], -INF, 0.0, n_rows=1)


def define_training_required(m: PlanModel) -> None:
    """A required run must be placed: y >= 1."""
    runs = [r for r, run in enumerate(m.instance.training) if run.required]
    m.lm.add_constraints("training_required", np.arange(len(runs)), m.placed[runs], np.ones(len(runs)), 1.0, INF,
                         keys=pd.DataFrame({"run": runs}))


def _choose_one(m: PlanModel, rule: str, by: str, wanted: callable) -> None:
    """For each run where `wanted(run)`: one binary per distinct value of column `by`,
    exactly one chosen when placed (sum = y), and x <= ub * chosen."""
    for r, run in enumerate(m.instance.training):
        cells = m.cells("training", r)
        options = np.unique(cells[by].to_numpy())
        if not wanted(run) or len(options) <= 1:
            continue
        pick = m.lm.add_variables(f"{rule}[{run.name}]", len(options), 0.0, 1.0, integer=True)
        m.choices.setdefault(r, []).append((by, options, pick))
        which = pick[np.searchsorted(options, cells[by].to_numpy())]
        m.lm.add_constraints(
            f"{rule}_choose_one", np.zeros(len(pick) + 1), np.append(pick, m.placed[r]),
            np.append(np.ones(len(pick)), -1.0), 0.0, 0.0,
        )
        k = np.arange(len(cells))
        m.lm.add_constraints(
            f"{rule}_link", np.concatenate([k, k]), np.concatenate([cells["var"].to_numpy(), which]),
            np.concatenate([np.ones(len(k)), -cells["ub"].to_numpy()]), -INF, 0.0,
        )


def define_training_homogeneous(m: PlanModel) -> None:
    """Homogeneous run: all its GPUs of one generation (one generation binary chosen when placed)."""
    _choose_one(m, "training_homogeneous", "g", lambda run: run.homogeneous)


def define_training_single_site(m: PlanModel) -> None:
    """Single-site run: all its GPUs at one site (one site binary chosen when placed)."""
    _choose_one(m, "training_single_site", "s", lambda run: run.single_site)


def _speeds(m: PlanModel, cells: pd.DataFrame) -> np.ndarray:
    return np.array([m.instance.generations[g].train_speed for g in cells["g"]], dtype=float)


def define_training_pace(m: PlanModel) -> None:
    """Mixed run: every GPU runs at the slowest generation used.

    Binaries v[g] (generation used: x <= ub*v, sum_s x >= v) and w[L] (pace level L, one per
    distinct speed: sum w = y, w[L] <= sum of v at that speed, v[g] <= sum of w at levels <= speed g).
    Each cell's GPUs are split by the pace they are counted at: z[c,L] for the levels L <= its
    speed, sum_L z[c,L] = GPUs of c, z[c,L] <= GPUs of c at most * w[L]. Units = sum L * z.
    Why per cell and level (a disaggregated disjunction), not one count per level: with one count
    per level bounded by all the run's GPUs, the LP relaxation counted every GPU at the fastest pace
    (1.3% above the optimum on generated M fleets, most of the root gap); this way each GPU may count
    at L only as far as w[L] allows, and define_training_size bounds each level's units by w[L].
    """
    gens = m.instance.generations
    for r, run in enumerate(m.instance.training):
        cells = m.cells("training", r)
        speeds, gpus = _speeds(m, cells), m.node_gpus[cells["g"].to_numpy()]
        x, ub = cells["var"].to_numpy(), cells["ub"].to_numpy()
        levels = np.unique(speeds)
        if run.homogeneous or len(levels) <= 1:
            m.units[r] = cells[["g", "s"]].assign(var=x, coef=gpus * speeds, pace=speeds, cell=cells.index).reset_index(drop=True)
            continue
        used_g = np.unique(cells["g"].to_numpy())
        v = m.lm.add_variables(f"training_generation_used[{run.name}]", len(used_g), 0.0, 1.0, integer=True)
        w = m.lm.add_variables(f"training_pace[{run.name}]", len(levels), 0.0, 1.0, integer=True)
        m.choices.setdefault(r, []).append(("pace", levels, w))
        cell_v = v[np.searchsorted(used_g, cells["g"].to_numpy())]
        k = np.arange(len(cells))
        m.lm.add_constraints("training_generation_used_link", np.r_[k, k], np.r_[x, cell_v],
                             np.r_[np.ones(len(k)), -ub], -INF, 0.0)
        gi = np.searchsorted(used_g, cells["g"].to_numpy())
        m.lm.add_constraints("training_generation_used_holds_a_node", np.r_[gi, np.arange(len(v))], np.r_[x, v],
                             np.r_[np.ones(len(x)), -np.ones(len(v))], 0.0, INF, n_rows=len(v))
        m.lm.add_constraints("training_pace_choose_one", np.zeros(len(w) + 1), np.r_[w, m.placed[r]],
                             np.r_[np.ones(len(w)), -1.0], 0.0, 0.0)
        g_speed = np.array([gens[g].train_speed for g in used_g])
        g_level = np.searchsorted(levels, g_speed)
        # w[L] <= sum of v[g] with speed == L: the pace is set by a generation actually used.
        m.lm.add_constraints("training_pace_is_used", np.r_[np.arange(len(w)), g_level], np.r_[w, v],
                             np.r_[np.ones(len(w)), -np.ones(len(v))], -INF, 0.0, n_rows=len(w))
        # v[g] <= sum of w[L] with L <= speed g: nothing used is slower than the pace.
        gg, ll = np.nonzero(levels[None, :] <= g_speed[:, None])
        m.lm.add_constraints("training_pace_is_slowest", np.r_[np.arange(len(v)), gg], np.r_[v, w[ll]],
                             np.r_[np.ones(len(v)), -np.ones(len(gg))], -INF, 0.0, n_rows=len(v))
        cc, ll = np.nonzero(levels[None, :] <= speeds[:, None])  # the levels each cell may count at
        most = gpus[cc] * ub[cc]
        z = m.lm.add_variables(f"training_paced_gpus[{run.name}]", len(cc), 0.0, most)
        m.lm.add_constraints("training_paced_gpus_total", np.r_[k, cc], np.r_[x, z],
                             np.r_[gpus, -np.ones(len(z))], 0.0, 0.0, n_rows=len(k))
        e = np.arange(len(z))
        m.lm.add_constraints("training_paced_gpus_link", np.r_[e, e], np.r_[z, w[ll]],
                             np.r_[np.ones(len(z)), -most], -INF, 0.0)
        m.units[r] = pd.DataFrame({"g": cells["g"].to_numpy()[cc], "s": cells["s"].to_numpy()[cc],
                                   "var": z, "coef": levels[ll], "pace": levels[ll], "cell": cells.index[cc]})


def define_training_size(m: PlanModel) -> None:
    """min_units * y <= units <= max_units * y, the same in every period of the run.

    A run with choices (generation, site, pace level: exactly one option taken when placed) gets
    these rows per option instead, with the option's binary for y and its units alone: summed over
    the options they are the rows above, and they are much tighter in the LP relaxation (a run
    half-placed at two options can no longer pass max_units at each)."""
    _, ub = m.lm.bounds()  # this rule adds rows only
    for r, run in enumerate(m.instance.training):
        units = m.units[r]
        sets = m.choices.get(r) or [(None, np.zeros(1), m.placed[[r]])]
        for by, options, pick in sets:
            option = np.zeros(len(units), dtype=np.int64) if by is None else np.searchsorted(options, units[by].to_numpy())
            rows, cols = np.r_[option, np.arange(len(pick))], np.r_[units["var"].to_numpy(), pick]
            coefs = units["coef"].to_numpy()
            keys = pd.DataFrame({"run": np.full(len(pick), r)} | ({by: options} if by in ("g", "s") else {}))
            m.lm.add_constraints("training_min_units", rows, cols, np.r_[coefs, np.full(len(pick), -run.min_units)],
                                 0.0, INF, n_rows=len(pick), keys=keys)
            if run.max_units is not None:
                # no option reaches more units than its GPUs give: a cap above that is the same row with a
                # big-M of 1e12 (a valid max_units), which crashed HiGHS (segfault)
                reach = np.bincount(option, weights=np.abs(coefs) * ub[units["var"].to_numpy()],
                                    minlength=len(pick))
                cap = np.minimum(run.max_units, reach)
                m.lm.add_constraints("training_max_units", rows, cols, np.r_[coefs, -cap],
                                     -INF, 0.0, n_rows=len(pick), keys=keys)


def define_inference_capacity(m: PlanModel) -> None:
    """Served units per tier <= tier units * demand_scale[t]; sum of tiers <= capacity (sum x * ns * infer_speed);
    capacity >= min_units * demand_scale[t] in every active period."""
    inst = m.instance
    speed = np.array([g.infer_speed for g in inst.generations]) * m.node_gpus
    for p, pool in enumerate(inst.inference):
        cells = m.cells("inference", p)
        window = np.arange(inst.window(pool).start, inst.window(pool).stop)
        scale = np.asarray(pool.demand_scale or np.ones(inst.T))[window]
        row_of_cell = np.searchsorted(window, cells["t0"].to_numpy())
        x, cap = cells["var"].to_numpy(), speed[cells["g"].to_numpy()]
        need = pool.min_units * scale
        active = np.flatnonzero(need > 0)
        on = np.isin(row_of_cell, active)
        m.lm.add_constraints("inference_min_units", np.searchsorted(active, row_of_cell[on]), x[on], cap[on],
                             need[active], INF, n_rows=len(active), keys=pd.DataFrame({"pool": p, "t": window[active]}))
        tiers = [(j, tier) for j, tier in enumerate(pool.demand) if tier.value_per_unit_hour > 0 and tier.units > 0]
        if not tiers:
            continue
        tt, jj = np.repeat(window, len(tiers)), np.tile([j for j, _ in tiers], len(window))
        units = np.tile([tier.units for _, tier in tiers], len(window)) * np.repeat(scale, len(tiers))
        served = m.lm.add_variables(f"inference_served[{pool.name}]", len(tt), 0.0, units)
        m.served.append(pd.DataFrame({"var": served, "pool": p, "t": tt, "tier": jj}))
        row_of_served = np.repeat(np.arange(len(window)), len(tiers))
        m.lm.add_constraints("inference_capacity", np.r_[row_of_served, row_of_cell], np.r_[served, x],
                             np.r_[np.ones(len(served)), -cap], -INF, 0.0, n_rows=len(window))


def _lease_gpus(m: PlanModel, lease_index: int) -> tuple[pd.DataFrame, np.ndarray]:
    cells = m.cells("lease", lease_index)
    return cells, m.node_gpus[cells["g"].to_numpy()]


def define_lease_size(m: PlanModel) -> None:
    """Accepted a: min_gpus * a <= GPUs <= max_gpus * a; all_or_nothing: GPUs = max_gpus * a."""
    leases = m.instance.leases
    m.accepted = m.lm.add_variables("lease_accepted", len(leases), 0.0, 1.0, integer=True)
    for k, lease in enumerate(leases):
        cells, gpus = _lease_gpus(m, k)
        x, a = cells["var"].to_numpy(), m.accepted[k]
        cap = float((cells["ub"].to_numpy() * gpus).sum()) if lease.max_gpus is None else float(lease.max_gpus)
        lo = cap if lease.all_or_nothing else float(lease.min_gpus)
        m.lm.add_constraints(
            "lease_size", np.r_[np.zeros(len(x)), np.ones(len(x)), 0, 1], np.r_[x, x, a, a],
            np.r_[gpus, gpus, -lo, -cap], np.array([0.0, -INF]), np.array([INF, 0.0]), n_rows=2,
        )


def define_lease_signed(m: PlanModel) -> None:
    """A signed contract must be honoured: a >= 1."""
    signed = [k for k, lease in enumerate(m.instance.leases) if lease.signed]
    m.lm.add_constraints("lease_signed", np.arange(len(signed)), m.accepted[signed], np.ones(len(signed)), 1.0, INF,
                         keys=pd.DataFrame({"lease": signed}))


def define_lease_whole_sites(m: PlanModel) -> None:
    """whole_sites: accepted => the lease holds every usable node of its generations at its sites in
    every term period while it runs (held[g,s,t] = N[g,s,t] * active[t]), and nothing else runs there:
    sum of other consumers' x[g',s,t] + N[g',s,t] * active[t] <= N[g',s,t] for every generation g',
    where active[t] = a - (ended by t), and no row from the lessee's exit on."""
    inst = m.instance
    u = m.usage
    for k, lease in enumerate(inst.leases):
        if not lease.whole_sites:
            continue
        ends = m.ends.get(k)
        stop = inst.window(lease).stop if ends is None or ends.exit is None else ends.exit
        gens, sites, window = inst.allowed_generations(lease), inst.allowed_sites(lease), list(range(inst.window(lease).start, stop))
        gi, si, ti = np.nonzero(m.nodes[np.ix_(gens, sites, window)])
        g, s, t = (np.asarray(v, dtype=np.int64)[i] for v, i in ((gens, gi), (sites, si), (window, ti)))
        mine = u[(u["use"] == "lease") & (u["consumer"] == k)]
        var_of = dict(zip(zip(mine["g"], mine["s"], mine["t"]), mine["var"]))
        held = np.array([var_of.get(key, -1) for key in zip(g, s, t)], dtype=np.int64)
        n = len(g)
        has = held >= 0
        r, c, v = _active(m, k, t)
        m.lm.add_constraints(
            "lease_whole_sites_every_gpu", np.r_[np.arange(n)[has], r], np.r_[held[has], c],
            np.r_[np.ones(has.sum()), -m.nodes[g, s, t][r] * v], 0.0, 0.0, n_rows=n,
            keys=pd.DataFrame({"lease": k, "g": g, "s": s, "t": t}),
        )
        others = u[u["s"].isin(sites) & u["t"].isin(window) & ~((u["use"] == "lease") & (u["consumer"] == k))]
        if others.empty:
            continue
        og, os_, ot = (others[c].to_numpy() for c in ("g", "s", "t"))
        rows, first = _keyed_rows(og, os_, ot)
        cap = m.nodes[og[first], os_[first], ot[first]]
        r, c, v = _active(m, k, ot[first])
        m.lm.add_constraints(
            "lease_whole_sites_exclusive", np.r_[rows, r], np.r_[others["var"].to_numpy(), c],
            np.r_[np.ones(len(others)), cap[r] * v], -INF, cap,
            keys=pd.DataFrame({"lease": k, "g": og[first], "s": os_[first], "t": ot[first]}),
        )


def _active(m: PlanModel, k: int, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lease k runs in period t[i] (1) or not (0), as (entry, col, coef) triples: a - sum of ends <= t."""
    n = np.arange(len(t))
    ends = m.ends.get(k)
    if ends is None:
        return n, np.full(len(t), m.accepted[k]), np.ones(len(t))
    i, j = ends.ended_by(t)
    return np.r_[n, i], np.r_[np.full(len(t), m.accepted[k]), ends.end[j]], np.r_[np.ones(len(t)), -np.ones(len(i))]


def define_lease_ends(m: PlanModel) -> None:
    """A lease that may end early (SPEC section 6): at most one end, and only if accepted (sum e <= a);
    held[g,s,t] = block[g,s] while it runs, 0 once ended: held <= block, held <= ub * (1 - ended by t),
    held >= block - ub * (ended by t) before the lessee's exit (held's bound is 0 from the exit on)."""
    for k, ends in m.ends.items():
        m.lm.add_constraints("lease_end_once", np.zeros(len(ends.end) + 1), np.r_[ends.end, m.accepted[k]],
                             np.r_[np.ones(len(ends.end)), -1.0], -INF, 0.0, n_rows=1)
        h = ends.held
        n, hv, cell, ub = len(h), h["var"].to_numpy(), h["cell"].to_numpy(), h["ub"].to_numpy()
        keys = h[["g", "s", "t"]].assign(lease=k)
        m.lm.add_constraints("lease_held_within_block", np.r_[np.arange(n), np.arange(n)], np.r_[hv, cell],
                             np.r_[np.ones(n), -np.ones(n)], -INF, 0.0, keys=keys)
        i, j = ends.ended_by(h["t"].to_numpy())
        m.lm.add_constraints("lease_held_zero_once_ended", np.r_[np.arange(n), i], np.r_[hv, ends.end[j]],
                             np.r_[np.ones(n), ub[i]], -INF, ub, n_rows=n, keys=keys)
        live = np.flatnonzero(ub > 0)
        keep = np.isin(i, live)
        row = np.full(n, -1)
        row[live] = np.arange(len(live))
        m.lm.add_constraints("lease_held_block_while_running", np.r_[row[live], row[live], row[i[keep]]],
                             np.r_[hv[live], cell[live], ends.end[j[keep]]],
                             np.r_[np.ones(len(live)), -np.ones(len(live)), ub[i[keep]]], 0.0, INF, n_rows=len(live),
                             keys=keys.iloc[live].reset_index(drop=True))


def define_lease_groups(m: PlanModel) -> None:
    """Offers sharing a group are alternatives: sum of a over the group <= 1."""
    groups = [lease.group for lease in m.instance.leases]
    named = [k for k, grp in enumerate(groups) if grp is not None]
    if not named:
        return
    _, rows = np.unique([groups[k] for k in named], return_inverse=True)
    m.lm.add_constraints("lease_group", rows, m.accepted[named], np.ones(len(named)), -INF, 1.0)
