"""The four backends agree on every shipped instance, and each plan passes the independent checker."""

from pathlib import Path

import pytest

from planner import load_instance, solve
from planner.solvers import SOLVERS, get_solver

INSTANCES = sorted(Path(__file__).parent.parent.joinpath("instances").glob("*.yaml"))


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

