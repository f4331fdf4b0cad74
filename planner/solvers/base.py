"""The one small interface every solver backend implements, and the honest status it reports."""

from __future__ import annotations

import contextlib
import os
import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import Enum
from typing import ClassVar, Iterator

import numpy as np

from planner.model.linear import LinearModel


class Status(str, Enum):
    """SPEC section 5 statuses. `feasible` = a solution not proven optimal (e.g. time limit)."""

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    NO_SOLUTION = "no_solution"

    @property
    def has_solution(self) -> bool:
        return self in (Status.OPTIMAL, Status.FEASIBLE)


@dataclass
class SolveOptions:
    time_limit: float | None = None  # seconds
    gap: float = 1e-6  # relative MIP gap at which a solution counts as proven optimal
    threads: int | None = None
    verbose: bool = False  # solver log on stderr
    progress: bool = False  # incumbent, bound, gap and elapsed time on stderr while solving
    warm_start: np.ndarray | None = None  # a feasible x to start from, where the backend accepts one


@dataclass
class SolverReport:
    """What came back from a solver, in the model's own columns."""

    solver: str
    status: Status
    x: np.ndarray | None = None
    objective: float | None = None
    best_bound: float | None = None
    mip_gap: float | None = None
    seconds: float = 0.0
    duals: np.ndarray | None = None  # row duals (d objective / d row bound), for an LP only


class Solver(ABC):
    """A MILP backend: takes a LinearModel (maximise), returns a SolverReport."""

    name: ClassVar[str]
    accepts_start: ClassVar[bool] = False

    @abstractmethod
    def solve(self, lm: LinearModel, options: SolveOptions) -> SolverReport: ...


def relative_gap(objective: float | None, bound: float | None) -> float | None:
    """|bound - objective| / max(1, |objective|), the usual MIP gap definition."""
    if objective is None or bound is None or not np.isfinite(bound):
        return None
    return abs(bound - objective) / max(1.0, abs(objective))


@contextlib.contextmanager
def native_output(verbose: bool) -> Iterator[None]:
    """Whatever a native solver library prints to stdout goes to stderr when verbose, else nowhere:
    stdout carries data only."""
    sys.stdout.flush()
    saved = os.dup(1)
    sink = os.open(os.devnull, os.O_WRONLY) if not verbose else os.dup(2)
    try:
        os.dup2(sink, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(sink)
