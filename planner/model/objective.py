"""The SPEC's objective (section 4), kept as four named terms so the breakdown is exact.

objective = lease_revenue + training_value + inference_value - energy_cost, every term a sum
over periods of w_t * (H * hourly amount), plus w_t * payment_per_period for fixed payments.
"""

from __future__ import annotations

import numpy as np

from planner.model.sets import PlanModel


def _window_weight(m: PlanModel, consumer) -> float:
    """Sum of discount weights over a consumer's active periods."""
    return float(m.weights[list(m.instance.window(consumer))].sum())


def define_lease_revenue(m: PlanModel) -> None:
    """Per GPU-hour: GPUs * price * H per period of the term; fixed: payment_per_period * a per period."""
    H = m.instance.horizon.period_hours
    for k, lease in enumerate(m.instance.leases):
        weight = _window_weight(m, lease)
        if lease.payment_per_period is not None:
            m.lm.add_objective("lease_revenue", [m.accepted[k]], [weight * lease.payment_per_period])
            continue
        cells = m.cells("lease", k)
        price = lease.price_per_gpu_hour
        names = [m.instance.generations[g].name for g in cells["g"]]
        per_gpu = np.array([price[n] for n in names]) if isinstance(price, dict) else np.full(len(cells), price)
        coef = weight * H * per_gpu * m.node_gpus[cells["g"].to_numpy()]
        m.lm.add_objective("lease_revenue", cells["var"].to_numpy(), coef)


def define_training_value(m: PlanModel) -> None:
    """Compute units * value_per_unit_hour * H in every period of the run."""
    H = m.instance.horizon.period_hours
    for r, run in enumerate(m.instance.training):
        cols, coefs = m.units[r]
        m.lm.add_objective("training_value", cols, coefs * run.value_per_unit_hour * H * _window_weight(m, run))


def define_inference_value(m: PlanModel) -> None:
    """Served units * tier value * H, per period (tiers worth <= 0 have no served variable)."""
    H = m.instance.horizon.period_hours
    for served in m.served:
        pool = m.instance.inference[int(served["pool"].iloc[0])]
        value = np.array([pool.demand[j].value_per_unit_hour for j in served["tier"]])
        m.lm.add_objective("inference_value", served["var"].to_numpy(), value * H * m.weights[served["t"].to_numpy()])


def define_energy_cost(m: PlanModel) -> None:
    """Facility MW drawn * H * energy price, except GPUs of leases whose lessee pays power."""
    inst = m.instance
    u = m.usage
    pays = np.array([lease.lessee_pays_power for lease in inst.leases] + [False])
    lessee_pays = (u["use"] == "lease").to_numpy() & pays[np.where(u["use"] == "lease", u["consumer"], -1)]
    u = u[~lessee_pays]
    g, s, t = (u[c].to_numpy() for c in ("g", "s", "t"))
    price = np.array([site.energy_price_per_mwh for site in inst.sites])
    coef = m.weights[t] * inst.horizon.period_hours * price[s] * m.node_mw[g, s]
    m.lm.add_objective("energy_cost", u["var"].to_numpy(), coef)
