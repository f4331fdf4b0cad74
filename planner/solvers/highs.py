"""HiGHS through its own bindings (highspy): the default, fed the CSR matrix directly."""

from __future__ import annotations

import sys
import time

import highspy
import numpy as np

from planner.model.linear import LinearModel
from planner.solvers.base import SolveOptions, Solver, SolverReport, Status, native_output, run_cancellable, settle

_S = highspy.HighsModelStatus
SMALL_MIP = 300  # columns: up to this size a MILP runs without feasibility jump (see solve)
_scheduler_threads: list[int | None] = [None]  # the thread count HiGHS's process-wide scheduler was started with


class HighsSolver(Solver):
    name = "highs"
    accepts_start = True
    gives_duals = True
    computes_iis = True
    cancellable = True

    def solve(self, lm: LinearModel, options: SolveOptions) -> SolverReport:
        start = time.perf_counter()
        is_mip = bool(lm.integrality().any())
        if lm.n_vars == 0:  # HiGHS calls an empty model "empty", not optimal: decide it here
            lo, hi = lm.row_bounds()
            ok = bool((lo <= 1e-9).all() and (hi >= -1e-9).all())
            return settle(self.name, Status.OPTIMAL if ok else Status.INFEASIBLE, options, np.zeros(0), 0.0, 0.0,
                          time.perf_counter() - start)
        with native_output(options.verbose):
            h, scale = _highs(lm, options)
            h.setOptionValue("mip_rel_gap", options.gap)
            if is_mip:  # measured on generated M fleets (seeds 0-2): 2-4x faster to proven optimality
                h.setOptionValue("presolve", "off")
            if is_mip and lm.n_vars <= SMALL_MIP:  # its fixed cost was half of a 10-column MILP's 10 ms; XL
                # seed 2's 1,458 block solves (planner.block_rounding) took 26.5 s without it, 34.9 s with it
                h.setOptionValue("mip_heuristic_run_feasibility_jump", False)
            if not options.heuristics and is_mip:  # RINS and RENS too: an effort of 0 leaves them at the root (L
                # mixed 19's relaxation: 15.2 s with the effort 0 alone, 6.2 s without them too)
                h.setOptionValue("mip_heuristic_effort", 0.0)
                h.setOptionValue("mip_heuristic_run_rins", False)
                h.setOptionValue("mip_heuristic_run_rens", False)
            if options.target is not None and is_mip:
                h.setOptionValue("objective_target", options.target / scale)
            if options.progress:
                _report_progress(h, scale)
            if options.warm_start is not None:
                sol = highspy.HighsSolution()
                sol.col_value = list(options.warm_start)
                sol.value_valid = True
                h.setSolution(sol)
            run_cancellable(h.run, h.cancelSolve, options)
            status, info = h.getModelStatus(), h.getInfo()
            has_x = info.primal_solution_status == 2  # kSolutionStatusFeasible
            solution = h.getSolution()
            x = np.array(solution.col_value) if has_x else None
            duals = np.array(solution.row_dual) * scale if solution.dual_valid and not is_mip else None
        if options.verbose:
            print(f"highs: {h.modelStatusToString(status)}", file=sys.stderr)
        objective = info.objective_function_value * scale if has_x else None
        if status in (_S.kInfeasible, _S.kUnboundedOrInfeasible):
            result = Status.INFEASIBLE
        elif status == _S.kUnbounded:
            result = Status.UNBOUNDED
        else:
            result = Status.FEASIBLE if has_x else Status.NO_SOLUTION
        proven = status == _S.kOptimal
        bound = info.mip_dual_bound * scale if is_mip else (objective if proven else None)
        return settle(self.name, result, options, x, objective, bound, time.perf_counter() - start, duals)

    def iis(self, lm: LinearModel, options: SolveOptions) -> list[int]:
        """HiGHS computes an IIS of an LP only (integrality conflicts have none): of the relaxation."""
        with native_output(options.verbose):
            h, _ = _highs(lm.relaxed(), options)
            h.setOptionValue("presolve", "off")  # an infeasibility found in presolve leaves the IIS empty
            h.setOptionValue("iis_strategy", 2)  # from the LP (measured: the default returned no rows)
            status, iis = run_cancellable(h.getIis, h.cancelSolve, options)
        if status != highspy.HighsStatus.kOk or not iis.valid_:
            return []
        return [int(row) for row in iis.row_index_]


def _highs(lm: LinearModel, options: SolveOptions) -> tuple[highspy.Highs, float]:
    """A Highs object holding `lm`, with the options every call honours (time limit, threads, log,
    cancellation), and the factor its objective was divided by."""
    _use_threads(options.threads)
    h = highspy.Highs()
    h.setOptionValue("output_flag", options.verbose)
    if options.verbose:
        h.setOptionValue("log_to_console", True)
    if options.time_limit is not None:
        h.setOptionValue("time_limit", max(0.0, float(options.time_limit)))
    if options.threads:
        h.setOptionValue("threads", int(options.threads))
    h.HandleUserInterrupt = True  # cancelSolve() then stops the run at its next interrupt check
    lp, scale = _highs_lp(lm)
    h.passModel(lp)
    return h, scale


def _use_threads(threads: int | None) -> None:
    """HiGHS starts one scheduler per process with the first run's thread count and then ignores
    the `threads` option of later runs (it returns no solution instead): restart it on a change."""
    if _scheduler_threads[0] != threads:
        highspy.Highs.resetGlobalScheduler(True)
        _scheduler_threads[0] = threads


def _report_progress(h: highspy.Highs, scale: float, every: float = 1.0) -> None:
    """One stderr line per new incumbent, and at most one a second otherwise (in the model's units)."""
    last = [-every]

    def show(event: highspy.cb.HighsCallbackEvent) -> None:
        out = event.data_out
        improving = event.callback_type == highspy.cb.HighsCallbackType.kCallbackMipImprovingSolution
        if not improving and out.running_time - last[0] < every:
            return
        last[0] = out.running_time
        def shown(v: float, fmt: str = "{:.6g}") -> str:
            return fmt.format(v) if np.isfinite(v) else "-"

        print(f"[{out.running_time:8.1f} s] incumbent {shown(out.mip_primal_bound * scale)}  bound {shown(out.mip_dual_bound * scale)}  "
              f"gap {shown(out.mip_gap, '{:.3%}')}{'  (new incumbent)' if improving else ''}", file=sys.stderr, flush=True)

    h.cbMipImprovingSolution.subscribe(show)
    h.cbMipInterrupt.subscribe(show)


def _highs_lp(lm: LinearModel) -> tuple[highspy.HighsLp, float]:
    """The model as a HighsLp, its objective divided by a power of ten (returned) so that the
    largest cost is about 1e3: money in dollars over years spans 1e9, beyond HiGHS's tolerances."""
    a = lm.matrix()
    c = lm.objective()
    largest = float(np.abs(c).max()) if c.size else 0.0
    scale = 10.0 ** max(0, np.floor(np.log10(largest)) - 3) if largest > 0 else 1.0
    lb, ub = lm.bounds()
    row_lo, row_hi = lm.row_bounds()
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = lm.n_vars, lm.n_rows
    lp.sense_ = highspy.ObjSense.kMaximize
    lp.col_cost_ = c / scale
    lp.col_lower_, lp.col_upper_ = lb, ub
    lp.row_lower_, lp.row_upper_ = row_lo, row_hi
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = lm.n_vars, lm.n_rows
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = a.indptr, a.indices, a.data
    integer = lm.integrality()
    if integer.any():
        lp.integrality_ = np.where(integer, highspy.HighsVarType.kInteger, highspy.HighsVarType.kContinuous).tolist()
    return lp, scale


def start_scheduler(threads: int) -> None:
    """Size HiGHS's process-wide thread scheduler now. HiGHS sizes it at the first run in a process and
    refuses other sizes later, so a batch worker calls this before its first task: one thread a task,
    and the tasks, not HiGHS's threads, fill the cores."""
    lp = highspy.HighsLp()
    lp.num_col_ = 1
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = np.zeros(1), np.zeros(1), np.ones(1)
    with native_output(False):
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("threads", int(threads))
        h.passModel(lp)
        h.run()
