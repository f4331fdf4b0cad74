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
    """Per GPU-hour: held GPUs * price * H in each period it runs; fixed: payment_per_period per period
    it runs (a, less the periods after an end: -payment on each end binary for the periods it cuts)."""
    inst = m.instance
    H = inst.horizon.period_hours
    u = m.usage[m.usage["use"] == "lease"]
    for k, lease in enumerate(inst.leases):
        ends = m.ends.get(k)
        if lease.payment_per_period is not None:
            window = np.arange(inst.window(lease).start, inst.window(lease).stop if ends is None or ends.exit is None else ends.exit)
            m.lm.add_objective("lease_revenue", [m.accepted[k]], [m.weights[window].sum() * lease.payment_per_period])
            if ends is not None and len(ends.choices):
                cut = (m.weights[window][None, :] * (window[None, :] >= ends.choices[:, None])).sum(axis=1)
                m.lm.add_objective("lease_revenue", ends.end, -cut * lease.payment_per_period)
            continue
        rows = u[u["consumer"] == k]
        g = rows["g"].to_numpy()
        price = lease.price_per_gpu_hour
        names = [inst.generations[i].name for i in g]
        per_gpu = np.array([price[n] for n in names]) if isinstance(price, dict) else np.full(len(rows), price)
        coef = m.weights[rows["t"].to_numpy()] * H * per_gpu * m.node_gpus[g]
        m.lm.add_objective("lease_revenue", rows["var"].to_numpy(), coef)


def define_training_value(m: PlanModel) -> None:
    """Compute units * value_per_unit_hour * H in every period of the run."""
    H = m.instance.horizon.period_hours
    for r, run in enumerate(m.instance.training):
        units = m.units[r]
        m.lm.add_objective("training_value", units["var"].to_numpy(),
                           units["coef"].to_numpy() * run.value_per_unit_hour * H * _window_weight(m, run))


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


def define_termination_fees(m: PlanModel) -> None:
    """SPEC section 6: an operator's end at e costs the lease's fee once, weighted by w_e."""
    for k, ends in m.ends.items():
        if len(ends.choices):  # the operator may end it: it has a termination right
            m.lm.add_objective("termination_fees", ends.end, m.weights[ends.choices] * m.instance.leases[k].termination.fee)
