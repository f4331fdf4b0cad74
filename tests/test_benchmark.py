"""The benchmark's M instance (10 sites x 6 generations x 12 periods x 60 consumers) solves to a
proven optimum (gap <= 1e-4) and the plan passes the independent checker. Timings belong to
scripts/bench.py, not here."""

import pytest
from generated import generated

from planner import solve


@pytest.mark.parametrize("time_limit", [None, 300.0], ids=["no limit", "limit: relax-and-fix first, as bench.py runs"])
def test_generated_m_instance_is_solved_to_proven_optimality_and_verified(time_limit):
    result = solve(generated("M", 0), gap=1e-4, time_limit=time_limit)
    assert result.status.value == "optimal"
    assert result.mip_gap is not None and result.mip_gap <= 1e-4
    assert result.verified
    assert result.best_bound >= result.objective
