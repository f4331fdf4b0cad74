"""The solver seam: one place imports solver libraries; one status/bound rule; time limits,
threads and interrupts honoured (or refused) the same way by every solving entry point."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from generated import generated

from planner import load_instance, parse_instance, solve
from planner.cli import cli
from planner.explain import explain
from planner.greedy import greedy_report
from planner.model import build_model
from planner.model.linear import LinearModel
from planner.options import MAX_THREADS
from planner.solvers import SolveOptions, Status, get_solver
from planner.solvers.base import settle
from planner.solvers.cbc import _cbc_bound

ROOT = Path(__file__).resolve().parent.parent
FEASIBLE = [p for p in sorted((ROOT / "instances").glob("*.yaml")) if not p.stem.startswith("teach_infeasible")]
INFEASIBLE = ROOT / "instances" / "teach_infeasible_requirements.yaml"
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


# ----- one seam ----------------------------------------------------------------------------------


def test_only_the_solvers_package_imports_a_solver_library() -> None:
    pattern = re.compile(r"import highspy|from highspy|ortools|import pulp")
    outside = [str(p.relative_to(ROOT)) for p in (ROOT / "planner").rglob("*.py")
               if "solvers" not in p.relative_to(ROOT / "planner").parts and pattern.search(p.read_text())]
    assert outside == []


def test_relaxed_and_fixed_copies_are_independent_of_the_model() -> None:
    lm = build_model(load_instance(ROOT / "instances" / "teach_power_bound.yaml")).lm
    rows, shape, terms = lm.n_rows, lm.matrix().shape, {k: v.copy() for k, v in lm.objective_terms.items()}
    for copy in (lm.relaxed(), lm.with_fixed(np.array([0]), np.array([0.0]))):
        copy.add_variables("extra", 2)
        copy.add_constraints("extra", np.array([0, 0]), np.array([0, 1]), np.array([1.0, 1.0]), 0.0, 1.0)
        copy.relax("power", 1.0)
        copy.add_objective("lease_revenue", np.array([0]), np.array([5.0]))
    assert (lm.n_rows, lm.matrix().shape) == (rows, shape)
    assert all(np.array_equal(lm.objective_terms[k], v) for k, v in terms.items())


def test_capabilities_are_declared() -> None:
    highs = get_solver("highs")
    assert highs.gives_duals and highs.computes_iis and highs.cancellable
    assert not get_solver("cbc").computes_iis
    with pytest.raises(NotImplementedError, match="cbc computes no irreducible infeasible set"):
        get_solver("cbc").iis(LinearModel(), SolveOptions())


# ----- one status and bound rule -----------------------------------------------------------------


def test_optimal_only_when_the_bound_proves_the_gap() -> None:
    x = np.zeros(1)
    assert settle("s", Status.OPTIMAL, SolveOptions(gap=1e-6), x, 100.0, None).status == Status.FEASIBLE
    assert settle("s", Status.OPTIMAL, SolveOptions(gap=1e-6), x, 100.0, 101.0).status == Status.FEASIBLE
    proven = settle("s", Status.FEASIBLE, SolveOptions(gap=1e-2), x, 100.0, 100.5)
    assert (proven.status, proven.best_bound, proven.mip_gap) == (Status.OPTIMAL, 100.5, pytest.approx(5e-3))
    assert settle("s", Status.FEASIBLE, SolveOptions(), x, 100.0, 99.0).best_bound == 100.0  # rounding, clamped


def test_cbc_stopped_within_its_gap_reports_that_gap_not_its_incumbent() -> None:
    log = "Cbc0011I Exiting as integer gap of 214.08639 less than 1e-10 or 1%\nResult - Optimal solution found (within gap tolerance)\n"
    assert _cbc_bound(log, 1.0e10) == pytest.approx(1.0e10 + 214.08639)
    assert _cbc_bound("Result - Optimal solution found\n", 5.0) == 5.0
    result = solve(load_instance(ROOT / "instances" / "colossus1.yaml"), solver="cbc", gap=0.01)
    assert result.best_bound > result.objective and 0 < result.mip_gap <= 0.01


# ----- threads -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", FEASIBLE, ids=lambda p: p.stem)
def test_one_thread_and_the_default_give_the_same_optimum(path: Path) -> None:
    inst = load_instance(path)
    default, one = solve(inst), solve(inst, threads=1)  # HiGHS's scheduler already runs: it must restart
    assert default.status == one.status == Status.OPTIMAL
    assert one.objective == pytest.approx(default.objective, rel=1e-6)


@pytest.mark.parametrize("threads", [0, MAX_THREADS + 1, 10**20, 2.5])
def test_impossible_thread_counts_are_refused(threads) -> None:
    with pytest.raises(ValueError, match=r"threads must be a whole number in \[1, 4096\]"):
        solve(ROOT / "instances" / "teach_power_bound.yaml", threads=threads)


def test_more_threads_than_cores_are_refused() -> None:
    """4,096 threads on 2 cores ran 69 s past a 20 s limit, for a worse plan than the default's."""
    from planner.options import usable_cores

    with pytest.raises(ValueError, match=f"more than the {usable_cores()} cores"):
        solve(ROOT / "instances" / "teach_power_bound.yaml", threads=usable_cores() + 1)


@pytest.mark.parametrize("command", ["solve", "explain", "sweep", "evaluate"])
def test_every_solving_command_refuses_absurd_threads_and_limits(command: str) -> None:
    extra = {"sweep": ["--vary", "horizon.discount_rate=0:0.1:0.1"], "evaluate": ["old-lease"]}.get(command, [])
    for option, value in (("--threads", str(10**20)), ("--time-limit", "nan"), ("--time-limit", "0")):
        result = CliRunner().invoke(cli, [command, str(ROOT / "instances" / "teach_power_bound.yaml"), *extra, option, value])
        assert result.exit_code == 2, (option, value, result.output)
        assert option in result.output


# ----- time limits -------------------------------------------------------------------------------


def test_longer_limits_never_give_worse_plans_and_statuses_are_honest() -> None:
    inst = generated("M", 0)
    floor = greedy_report(build_model(inst), seconds=0.0).objective  # the greedy passes that always run
    results = [solve(inst, time_limit=limit) for limit in (0.05, 0.1, 0.2, 0.5, 1.0, 2.0)]
    objectives = [r.objective for r in results]
    assert all(r.verified for r in results)
    assert objectives == sorted(objectives) and objectives[0] >= floor * (1 - 1e-9)
    best = max(objectives)
    for r in results:
        assert r.best_bound is None or r.best_bound >= best * (1 - 1e-9)  # a bound bounds every plan found
        assert r.status == Status.FEASIBLE or r.mip_gap <= 1e-6


@pytest.mark.parametrize("solver", ["highs", "cbc", "scip", "cpsat"])
def test_a_tiny_limit_never_claims_optimal_without_proof(solver: str) -> None:
    for path in FEASIBLE:
        r = solve(load_instance(path), solver=solver, time_limit=1e-3)
        assert r.status != Status.OPTIMAL or (r.best_bound is not None and r.mip_gap <= 1e-6), path.name


def test_every_phase_stays_within_the_limit() -> None:
    inst = generated("M", 1)
    started = time.perf_counter()
    result = solve(inst, time_limit=1.0, check=False)
    build_and_floor = result.build_seconds + greedy_report(build_model(inst), seconds=0.0).seconds
    assert time.perf_counter() - started <= 1.0 + build_and_floor + 1.0  # the stated overhead, loaded machine


# ----- explain within its limit ------------------------------------------------------------------


def test_the_infeasible_teaching_instance_is_explained_as_derived() -> None:
    diagnosis = explain(load_instance(INFEASIBLE), time_limit=60)
    assert diagnosis.feasible is False and not diagnosis.unfinished
    assert len(diagnosis.requirements) == 1
    assert re.match(r"required training run frontier|inference pool chat", diagnosis.requirements[0])
    assert any("site memphis" in line and "GB200" in line for line in diagnosis.shortfalls)


def test_explain_answers_within_its_time_limit() -> None:
    data = generated("M", 0).model_dump(exclude_none=True)
    data["inference"][0]["min_units"] = 1e9  # no fleet can serve this
    started = time.perf_counter()
    diagnosis = explain(parse_instance(data), time_limit=2.0)
    assert time.perf_counter() - started < 2.0 + 5.0  # the model builds are the overhead (shared machine)
    assert diagnosis.feasible is not True


def test_solves_in_threads_leave_stdout_where_it_was() -> None:
    """Native solver output is kept off stdout by redirecting file descriptor 1 while a solve runs. With
    solves in several threads at once (a service, a notebook's thread pool), the last one out once
    restored the /dev/null another had put there: the process's stdout was lost for good."""
    from concurrent.futures import ThreadPoolExecutor

    m = build_model(generated("S", 0))
    before = os.fstat(1)
    with ThreadPoolExecutor(4) as pool:
        reports = list(pool.map(lambda _: get_solver("highs").solve(m.lm, SolveOptions(gap=1e-6)), range(48)))
    after = os.fstat(1)
    assert all(r.status == Status.OPTIMAL for r in reports)
    assert (after.st_dev, after.st_ino) == (before.st_dev, before.st_ino)


def test_verbose_sends_the_solver_log_to_stderr_and_keeps_stdout_data() -> None:
    proc = subprocess.run([sys.executable, "-m", "planner", "solve", str(ROOT / "instances" / "colossus1.yaml"), "-v",
                           "--format", "json"], capture_output=True, text=True, env=ENV, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["status"] == "optimal" and "Coefficient ranges" in proc.stderr  # HiGHS's log


# ----- interrupts ---------------------------------------------------------------------------------


def _solving(tmp_path: Path, *args: str) -> tuple[subprocess.Popen, list[str]]:
    """`planner solve` of a generated M fleet to a zero gap (minutes), once its MILP has an incumbent."""
    inst = tmp_path / "m.yaml"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "generate_instance.py"), "--size", "M", "--seed", "0",
                    "-o", str(inst)], check=True, env=ENV)
    proc = subprocess.Popen([sys.executable, "-m", "planner", "solve", str(inst), "--gap", "0", "--progress",
                             "--format", "json", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=ENV, cwd=tmp_path)
    lines = []
    watchdog = threading.Timer(120.0, proc.kill)  # a solve that never reaches its MILP fails the test, not hangs it
    watchdog.daemon = True
    watchdog.start()
    for line in proc.stderr:
        lines.append(line)
        if "incumbent" in line and "bound -" not in line:
            return proc, lines
    raise AssertionError("".join(lines))


def test_first_interrupt_reports_the_best_plan_found_and_exits_130(tmp_path: Path) -> None:
    proc, lines = _solving(tmp_path)
    proc.send_signal(signal.SIGINT)
    sent = time.perf_counter()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert time.perf_counter() - sent < 10
    doc = json.loads(out)
    incumbents = [float(m) for m in re.findall(r"incumbent (\S+)", "".join(lines) + err) if m != "-"]
    assert doc["status"] == "feasible" and doc["best_bound"] >= doc["objective"]
    # never a worse plan than one already found (the progress lines print 6 significant digits: up to 5e-6 off)
    assert doc["objective"] >= max(incumbents) * (1 - 1e-5)
    assert any(w.startswith("interrupted") for w in doc["warnings"])
    assert "interrupted" in err


def test_second_interrupt_aborts_without_writing(tmp_path: Path) -> None:
    previous = tmp_path / "plan.json"
    previous.write_text("the previous plan")
    proc, _ = _solving(tmp_path, "-o", str(previous))
    proc.send_signal(signal.SIGINT)
    time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert previous.read_text() == "the previous plan"


@pytest.mark.parametrize("command", [["evaluate", "nimbus-ai-signed"], ["sweep", "--vary", "horizon.discount_rate=0:0.1:0.05"]])
def test_other_commands_stop_at_the_first_interrupt_with_130_and_write_nothing(tmp_path: Path, command: list[str]) -> None:
    """evaluate hung after a Ctrl-C (waiting for its workers), or died of SIGABRT with "Aborted!" (a solver
    thread still running at exit); found by fuzzing."""
    inst = tmp_path / "m.yaml"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "generate_instance.py"), "--size", "M", "--seed", "6",
                    "-o", str(inst)], check=True, env=ENV)
    out = tmp_path / "out.json"
    proc = subprocess.Popen([sys.executable, "-m", "planner", command[0], str(inst), *command[1:], "-o", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, cwd=tmp_path)
    time.sleep(5.0)  # imports, the model, and into the first solves (each of these runs takes minutes)
    assert proc.poll() is None
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "interrupted; nothing written" in err and "Aborted" not in err
    assert "resource_tracker" not in err  # "There appear to be 5 leaked semaphore objects": it unlinks them anyway
    assert not out.exists()


def test_an_interrupt_before_any_plan_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """A scenario solve interrupted before relax-and-fix has a plan (it has no other start with a time
    limit) reports `no_solution`, and neither its warning nor the CLI claim a best plan was found."""
    import planner.cli as cli_module

    inst = load_instance(ROOT / "instances" / "colossus1_scenarios.yaml")
    cancel = threading.Event()
    cancel.set()
    result = solve(inst, time_limit=10.0, cancel=cancel)
    assert result.status == Status.NO_SOLUTION and result.warnings[-1] == "interrupted before any plan was found"
    real = cli_module.solve_plan

    def interrupted(*args, cancel: threading.Event, **kwargs):
        cancel.set()  # as the first Ctrl-C does
        return real(*args, cancel=cancel, **kwargs)

    monkeypatch.setattr(cli_module, "solve_plan", interrupted)
    run = CliRunner().invoke(cli, ["solve", str(ROOT / "instances" / "colossus1_scenarios.yaml"),
                                        "--time-limit", "10", "--format", "json"])
    assert run.exit_code == 130
    assert "no plan had been found yet (no_solution)" in run.stderr and "best plan found" not in run.stderr


def test_a_set_cancel_event_stops_a_library_solve() -> None:
    cancel = threading.Event()
    threading.Timer(1.0, cancel.set).start()
    started = time.perf_counter()
    result = solve(generated("M", 0), gap=0.0, cancel=cancel)
    assert time.perf_counter() - started < 1.0 + 5.0
    assert result.status == Status.FEASIBLE and result.verified
    assert any(w.startswith("interrupted") for w in result.warnings)
