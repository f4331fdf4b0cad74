"""The benchmark's M instance (10 sites x 6 generations x 12 periods x 60 consumers) solves to a
proven optimum (gap <= 1e-4) and the plan passes the independent checker. Timings belong to
scripts/bench.py, not here."""

from generated import generated

from planner import solve


def test_generated_m_instance_is_solved_to_proven_optimality_and_verified():
    result = solve(generated("M", 0), gap=1e-4)
    assert result.status.value == "optimal"
    assert result.mip_gap is not None and result.mip_gap <= 1e-4
    assert result.verified
    assert result.best_bound >= result.objective
