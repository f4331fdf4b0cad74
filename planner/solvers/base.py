"""The one small interface every solver backend implements, and the honest status it reports.

Only the modules of this package import a solver library (highspy, OR-Tools, PuLP). Everything
else asks a `Solver` for what it needs (a MILP or LP solve, row duals, an IIS) and learns what a
backend can do from its capability flags.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import ClassVar

import numpy as np

from planner.model.linear import LinearModel

GAP_TOLERANCE = 1e-9  # a gap this far past the target is the solvers' rounding, not a missing proof


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


@dataclass(frozen=True)
class SolveOptions:
    """What one solver call is asked for. Frozen: each phase derives its own with dataclasses.replace,
    so a shared default or a caller's options never change under it."""

    time_limit: float | None = None  # seconds
    gap: float = 1e-6  # relative MIP gap at which a solution counts as proven optimal
    threads: int | None = None
    verbose: bool = False  # solver log on stderr
    progress: bool = False  # incumbent, bound, gap and elapsed time on stderr while solving
    warm_start: np.ndarray | None = None  # a feasible x to start from, where the backend accepts one
    cancel: threading.Event | None = None  # set (by an interrupt): stop now, keeping the best plan found
    target: float | None = None  # a plan worth more is enough (the caller proves it): stop there, where the backend can
    heuristics: bool = True  # the backend's own search for plans; off where the caller makes them (where the backend can)

    @property
    def cancelled(self) -> bool:
        return self.cancel is not None and self.cancel.is_set()


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

    def unproven(self) -> SolverReport:
        """This plan as `feasible`, without a bound or gap: for a plan whose solver's bound does not hold
        for the model it is reported against (a restricted model's, or one below the plan)."""
        return replace(self, status=Status.FEASIBLE, best_bound=None, mip_gap=None)


class Solver(ABC):
    """A MILP backend: takes a LinearModel (maximise), returns a SolverReport.

    Every call honours `options.time_limit` and `options.threads` (or refuses them in
    `check_options`); the flags say what else a backend can do."""

    name: ClassVar[str]
    accepts_start: ClassVar[bool] = False  # uses options.warm_start
    gives_duals: ClassVar[bool] = False  # an LP solve returns row duals
    computes_iis: ClassVar[bool] = False  # iis() is implemented
    cancellable: ClassVar[bool] = False  # stops within a fraction of a second once options.cancel is set

    @abstractmethod
    def solve(self, lm: LinearModel, options: SolveOptions) -> SolverReport: ...

    def iis(self, lm: LinearModel, options: SolveOptions) -> list[int]:
        """Rows of an irreducible infeasible set of the LP `lm`; empty when there is none."""
        raise NotImplementedError(f"{self.name} computes no irreducible infeasible set")


def settle(solver: str, status: Status, options: SolveOptions, x: np.ndarray | None = None,
           objective: float | None = None, bound: float | None = None, seconds: float = 0.0,
           duals: np.ndarray | None = None) -> SolverReport:
    """The one status and bound rule of every backend. A plan's bound is the backend's proven
    bound (never below the plan: a lower one is rounding), or None when it has none; the plan is
    `optimal` only when that bound proves it within `options.gap`, else `feasible`."""
    if not status.has_solution or x is None or objective is None:
        status = Status.NO_SOLUTION if status.has_solution else status
        return SolverReport(solver, status, seconds=seconds)
    bound = max(bound, objective) if bound is not None and np.isfinite(bound) else None
    gap = relative_gap(objective, bound)
    proven = gap is not None and gap <= options.gap + GAP_TOLERANCE
    return SolverReport(solver, Status.OPTIMAL if proven else Status.FEASIBLE, x, objective, bound, gap, seconds,
                        duals if proven else None)


def relative_gap(objective: float | None, bound: float | None) -> float | None:
    """|bound - objective| / max(1, |objective|), the usual MIP gap definition."""
    if objective is None or bound is None or not np.isfinite(bound):
        return None
    return abs(bound - objective) / max(1.0, abs(objective))


@dataclass
class Budget:
    """One time limit shared by every phase of a solve, and the user's interrupt: each phase gets
    what is left (never a negative or unlimited time), and nothing is left once interrupted."""

    limit: float | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    start: float = field(default_factory=time.perf_counter)

    def remaining(self) -> float | None:
        if self.cancel.is_set():
            return 0.0
        return None if self.limit is None else max(0.0, self.limit - (time.perf_counter() - self.start))

    @property
    def exhausted(self) -> bool:
        return self.remaining() == 0.0

    def options(self, options: SolveOptions, share: float = 1.0) -> SolveOptions:
        """`options` for a phase that may take `share` of the time left."""
        left = self.remaining()
        return replace(options, time_limit=None if left is None else share * left, cancel=self.cancel)


def run_cancellable(work: Callable[[], object], stop: Callable[[], None], options: SolveOptions) -> object:
    """Run `work` (a native solve) in a thread while this one waits, so that a signal handler runs
    promptly and `stop` is called once `options.cancel` is set (linopy does the same)."""
    result: list = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            result.append(work())
        except BaseException as err:  # noqa: BLE001 - re-raised in the caller's thread
            failure.append(err)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    try:
        while thread.is_alive() and not options.cancelled:
            thread.join(0.05)
    finally:  # cancelled, or an exception here (KeyboardInterrupt): stop the native solve, then go on
        if thread.is_alive():
            stop()
            thread.join()
    if failure:
        raise failure[0]
    return result[0]


@dataclass
class _Redirect:
    """File descriptor 1 is one per process: solves running at once in threads share one redirect,
    made by the first in and undone by the last out (each undoing its own restored another's sink)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    inside: int = 0  # solves running inside the redirect
    saved: int = -1  # a copy of the stdout it replaced


_redirect = _Redirect()


@contextlib.contextmanager
def native_output(verbose: bool) -> Iterator[None]:
    """Whatever a native solver library prints to stdout goes to stderr when verbose, else nowhere:
    stdout carries data only. While solves overlap in threads, the first one's choice holds."""
    with _redirect.lock:
        if _redirect.inside == 0:
            sys.stdout.flush()
            _redirect.saved = os.dup(1)
            sink = os.open(os.devnull, os.O_WRONLY) if not verbose else os.dup(2)
            os.dup2(sink, 1)
            os.close(sink)
        _redirect.inside += 1
    try:
        yield
    finally:
        with _redirect.lock:
            _redirect.inside -= 1
            if _redirect.inside == 0:
                sys.stdout.flush()
                os.dup2(_redirect.saved, 1)
                os.close(_redirect.saved)
