"""The four backends agree on every shipped instance, and each plan passes the independent checker."""

from pathlib import Path

import pytest

from planner import load_instance, solve
from planner.solvers import SOLVERS, get_solver

INSTANCES = [p for p in sorted(Path(__file__).parent.parent.joinpath("instances").glob("*.yaml")) if not p.stem.startswith("teach_infeasible")]  # the feasible ones


@pytest.fixture(scope="module")
def highs_objectives() -> dict[str, float]:
    return {p.name: solve(load_instance(p)).objective for p in INSTANCES}


@pytest.mark.parametrize("solver", [s for s in SOLVERS if s != "highs"])
@pytest.mark.parametrize("path", INSTANCES, ids=lambda p: p.stem)
def test_solvers_agree_on_shipped_instances(path: Path, solver: str, highs_objectives: dict[str, float]) -> None:
    result = solve(load_instance(path), solver=solver)
    assert result.status.value == "optimal"
    assert result.verified
    assert result.objective == pytest.approx(highs_objectives[path.name], rel=1e-6)


def test_unknown_solver_is_named() -> None:
    with pytest.raises(ValueError, match="unknown solver 'gurobi'; choose one of highs, cbc, scip, cpsat"):
        get_solver("gurobi")



def test_cbc_bound_is_read_from_its_log():
    """CBC minimises -objective: a partial search's 'best possible' is minus our best bound."""
    from planner.solvers.cbc import _cbc_bound

    partial = "Cbc0005I Partial search - best objective -1.6e+10 (best possible -1.6780823e+10), took 9 iterations"
    assert _cbc_bound(partial, 1.6e10) == pytest.approx(1.6780823e10)
    assert _cbc_bound("Lower bound:                   -105.5\n", 100.0) == pytest.approx(105.5)
    assert _cbc_bound("no summary", 100.0) is None
