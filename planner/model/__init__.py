"""Build the SPEC's MILP. `build_model` reads like the SPEC's table of contents."""

from __future__ import annotations

import pandas as pd

from planner.instance import Instance
from planner.model import constraints as c
from planner.model import objective as o
from planner.model.linear import LinearModel
from planner.model.sets import PlanModel, create_sets

__all__ = ["LinearModel", "PlanModel", "build_model"]


def build_model(instance: Instance, bound_scale: float = 1.0, alloc: pd.DataFrame | None = None,
                exits: dict[int, int] | None = None, reveal: int = 0, cuts: bool = True, lifted: bool = True) -> PlanModel:
    """Allocation variables, then every rule of SPEC sections 3-4 (and 6's lease ends), then the
    objective terms. The keyword arguments are create_sets'; a scenario of an instance passes them.
    `cuts`: valid inequalities that cut no plan, only fractions of nodes (explain builds without them:
    its slacks on power and inventory would not reach them). `lifted`: those of three or more generations
    too (a scenario's model leaves them out: README, "Where the time goes", twelfth stop)."""
    m = create_sets(instance, bound_scale, alloc, exits, reveal)  # granularity (3.3): integer node variables
    c.define_inventory(m)  # 3.1
    c.define_power(m)  # 3.2
    if cuts:
        c.define_power_whole_nodes(m, lifted)
    c.define_training_placement(m)
    c.define_training_required(m)
    c.define_training_homogeneous(m)
    c.define_training_single_site(m)
    c.define_training_pace(m)
    c.define_training_size(m)
    c.define_inference_capacity(m)
    c.define_lease_size(m)
    c.define_lease_signed(m)
    c.define_lease_ends(m)
    c.define_lease_whole_sites(m)
    c.define_lease_groups(m)
    o.define_lease_revenue(m)
    o.define_training_value(m)
    o.define_inference_value(m)
    o.define_energy_cost(m)
    o.define_termination_fees(m)
    return m
