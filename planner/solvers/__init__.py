"""Solver backends behind one interface; `get_solver(name)` picks one."""

from __future__ import annotations

from planner.solvers.base import Budget, SolveOptions, Solver, SolverReport, Status, relative_gap
from planner.solvers.cbc import CbcSolver
from planner.solvers.highs import HighsSolver
from planner.solvers.or_tools import CpSatSolver, ScipSolver

SOLVERS: dict[str, type[Solver]] = {cls.name: cls for cls in (HighsSolver, CbcSolver, ScipSolver, CpSatSolver)}
ALIASES = {"cp-sat": "cpsat", "cp_sat": "cpsat", "pulp": "cbc"}
# Heuristics: they build a plan from the model's tables (planner.greedy), not from the matrix, so
# they are not `Solver` backends; `planner.api.solve` runs them. They never prove optimality.
HEURISTICS = ("greedy",)

__all__ = ["HEURISTICS", "SOLVERS", "Budget", "SolveOptions", "Solver", "SolverReport", "Status",
           "get_solver", "linear_solver", "relative_gap"]


def get_solver(name: str) -> Solver:
    """The backend registered under `name` (case-insensitive); ValueError lists the known ones."""
    key = ALIASES.get(name.lower(), name.lower())
    if key not in SOLVERS:
        raise ValueError(f"unknown solver {name!r}; choose one of {', '.join(SOLVERS)}")
    return SOLVERS[key]()


def linear_solver() -> Solver:
    """The backend of the auxiliary LPs (greedy completion, polish, shadow prices, IIS), whichever
    solver the MILP uses: HiGHS, a required dependency, exact and fast on LPs, with duals and IIS."""
    return HighsSolver()
