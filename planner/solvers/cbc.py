"""CBC through PuLP (PuLP 3.x bundles the CBC binary)."""

from __future__ import annotations

import re
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pulp

from planner.model.linear import LinearModel
from planner.solvers.base import SolveOptions, Solver, SolverReport, Status, settle


class CbcSolver(Solver):
    """Runs as a child process of PuLP: not cancellable from here, but Ctrl-C at a terminal reaches
    it too (same process group) and it stops with its best plan."""

    name = "cbc"

    def solve(self, lm: LinearModel, options: SolveOptions) -> SolverReport:
        start = time.perf_counter()
        prob, columns = _pulp_problem(lm)
        if prob is None:  # an empty row that can never hold
            return SolverReport(self.name, Status.INFEASIBLE, seconds=time.perf_counter() - start)
        with tempfile.TemporaryDirectory() as tmp:
            log = Path(tmp) / "cbc.log"
            with warnings.catch_warnings():  # PuLP 3.x deprecates its bundled CBC, which we pin on purpose
                warnings.simplefilter("ignore", DeprecationWarning)
                cmd = pulp.PULP_CBC_CMD(
                    msg=False, timeLimit=None if options.time_limit is None else max(0.01, options.time_limit), gapRel=options.gap, logPath=str(log),
                    threads=options.threads,
                )
            prob.solve(cmd)
            text = log.read_text() if log.exists() else ""
        if options.verbose or options.progress:  # CBC logs only at the end through PuLP
            sys.stderr.write(text)
        sol = prob.sol_status
        if sol in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible):
            status = Status.FEASIBLE  # settle() decides optimal from the bound
        elif sol == pulp.LpSolutionInfeasible or prob.status == pulp.LpStatusInfeasible:
            status = Status.INFEASIBLE
        elif sol == pulp.LpSolutionUnbounded:
            status = Status.UNBOUNDED
        else:
            status = Status.NO_SOLUTION
        x = np.array([v.value() or 0.0 for v in columns]) if status.has_solution else None
        objective = None if x is None else float(lm.objective() @ x)
        bound = None if x is None else _cbc_bound(text, objective)
        if bound is None and sol == pulp.LpSolutionOptimal and not lm.integrality().any():
            bound = objective  # an LP solved to optimality (CBC may log no summary for it) is its own bound
        return settle(self.name, status, options, x, objective, bound, time.perf_counter() - start)


def _cbc_bound(log: str, objective: float) -> float | None:
    """CBC minimises -objective. Its log proves a bound in one of three ways: a search stopped
    within the gap says by how much ("integer gap of G"), a partial search or a summary gives the
    best possible value ("best possible X", "Lower bound: X", the negated bound), and a finished
    search says "Optimal solution found" (the plan is its own bound). None when the log says none."""
    within = re.findall(r"integer gap of\s+(-?[\d.]+(?:[eE][+-]?\d+)?)", log)
    if within:
        return objective + abs(float(within[-1]))
    if re.search(r"Result - Optimal solution found\s*$", log, re.MULTILINE):
        return objective  # a finished search: the "best possible" lines before it are its progress, not its end
    found = re.findall(r"(?:best possible|Lower bound:)\s+(-?[\d.]+(?:[eE][+-]?\d+)?)", log)
    return max(objective, -float(found[-1])) if found else None


def _pulp_problem(lm: LinearModel) -> tuple[pulp.LpProblem | None, list[pulp.LpVariable]]:
    lb, ub = lm.bounds()
    integer = lm.integrality()
    prob = pulp.LpProblem("planner", pulp.LpMaximize)
    columns = [
        prob.add_variable(f"x{j}", None if np.isinf(lb[j]) else lb[j], None if np.isinf(ub[j]) else ub[j],
                          cat=pulp.LpInteger if integer[j] else pulp.LpContinuous)
        for j in range(lm.n_vars)
    ]
    c = lm.objective()
    prob.setObjective(pulp.LpAffineExpression([(columns[j], c[j]) for j in np.flatnonzero(c)]))
    a = lm.matrix()
    row_lo, row_hi = lm.row_bounds()
    for i in range(lm.n_rows):
        cols, vals = a.indices[a.indptr[i]:a.indptr[i + 1]], a.data[a.indptr[i]:a.indptr[i + 1]]
        if len(cols) == 0:
            if row_lo[i] > 1e-9 or row_hi[i] < -1e-9:
                return None, columns
            continue
        expr = pulp.LpAffineExpression([(columns[j], v) for j, v in zip(cols, vals)])
        if row_lo[i] == row_hi[i]:
            prob.addConstraint(expr == row_lo[i], f"r{i}")
            continue
        if np.isfinite(row_lo[i]):
            prob.addConstraint(expr >= row_lo[i], f"r{i}_lo")
        if np.isfinite(row_hi[i]):
            prob.addConstraint(expr <= row_hi[i], f"r{i}_hi")
    return prob, columns
