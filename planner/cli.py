"""The `planner` command: thin click wrappers around the API; I/O and exit codes live here only.

Exit codes (SPEC section 5): 0 optimal or feasible, 1 infeasible / no solution (or a plan that
fails verification), 2 bad input or usage.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import click
import yaml

from planner import sweep as sweeps
from planner import workbook
from planner.api import solve as solve_plan
from planner.batch import ENV_CLUSTER, BatchError, ClusterError
from planner.diff import diff_results, diff_sections
from planner.evaluate import OfferError, OfferEvaluation, evaluate_offer, requested_block
from planner.evaluate_scenarios import ScenarioEvaluation, evaluate_under_uncertainty, forced, removed
from planner.explain import TIME_LIMIT as EXPLAIN_TIME_LIMIT
from planner.explain import explain as explain_plan
from planner.files import is_stream
from planner.files import write_output as write_file
from planner.htmlreport import render_evaluation, render_plan
from planner.instance import Instance, InstanceError, Lease, decode, load_instance, parse_instance
from planner.options import check_gap, check_threads, check_time_limit
from planner.ranges import excerpt
from planner.report import evaluation_sections, money, render, render_document
from planner.results import PlanResult
from planner.scenario_report import evaluation_sections as scenario_evaluation_sections
from planner.solvers import ALIASES, HEURISTICS, SOLVERS
from planner.verify import VerificationError, check

EXIT_OK, EXIT_NO_PLAN, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
SOLVER_NAMES = [*SOLVERS, *ALIASES]
SOLVE_NAMES = [*SOLVERS, *HEURISTICS, *ALIASES]  # `solve` also runs the greedy baseline on its own


class Checked(click.ParamType):
    """A number checked by one of planner.options' checkers: what the API refuses, the CLI refuses (exit 2)."""

    def __init__(self, checker, kind: type = float):
        self.checker, self.kind, self.name = checker, kind, kind.__name__

    def convert(self, value, param, ctx):
        try:
            number = self.kind(value)
        except (TypeError, ValueError, OverflowError):
            self.fail(f"{excerpt(value)} is not a valid {self.name}", param, ctx)
        try:
            return self.checker(number)
        except ValueError as err:
            self.fail(str(err), param, ctx)


def fail(message: str, code: int) -> None:
    click.echo(f"planner: {message}", err=True)
    sys.exit(code)


def read_instance(path: str) -> Instance:
    try:
        return load_instance(path)
    except InstanceError as err:
        click.echo(str(err), err=True)
        click.echo(f"planner: {len(err.problems)} problem(s) in {err.source}", err=True)
        sys.exit(EXIT_BAD_INPUT)


def output_problem(path: Path, protected: list[str]) -> str | None:
    """Why an output path cannot be written, or None: checked before any solve, so no work is lost."""
    if is_stream(path):
        return None
    target = path.resolve()
    if any(target == Path(p).resolve() for p in protected):
        return "refusing to overwrite an input file"
    if target.is_dir():
        return "is a directory"
    if not target.parent.is_dir():
        return f"cannot write: no folder {target.parent}"
    return None


def check_outputs(paths: list[Path], protected: list[str]) -> None:
    """Refuse (exit 2) the first output path that cannot be written, and two outputs of one command
    given one regular file (the second silently replaced the first)."""
    files: dict[str, Path] = {}
    for path in paths:
        problem = output_problem(path, protected)
        if problem:
            fail(f"{path}: {problem}", EXIT_BAD_INPUT)
        if path.exists() and not path.is_file():
            continue  # a device or pipe (/dev/null) may take several outputs
        same = files.setdefault(os.path.realpath(path), path)
        if same is not path:
            fail(f"{path}: given for two outputs (also as {same}); give each its own file", EXIT_BAD_INPUT)


def write_output(path: Path, content: str | bytes, protected: list[str]) -> None:
    """Write a regular file atomically, a device or pipe in place, never over an input file."""
    check_outputs([path], protected)
    try:
        write_file(path, content)
    except OSError as err:
        fail(f"{path}: cannot write: {err.strerror or err}", EXIT_BAD_INPUT)


def say(text: str) -> None:
    """Data to stdout; a failed write (full disk, file size limit) is an error, never a truncated document."""
    try:
        write_all(text.encode("utf-8"))
    except OSError as err:
        _drop_stdout()
        fail(f"cannot write to stdout: {err.strerror or err}", EXIT_BAD_INPUT)


def write_all(data: bytes) -> None:
    """os.write on fd 1 until every byte is out: a short write (file size limit) must not pass as success,
    as it does through Python's buffered stdout."""
    stdout = sys.stdout
    try:
        fd = stdout.fileno()
    except (OSError, ValueError):  # an in-memory stdout (tests): no file descriptor to check
        click.echo(data.decode("utf-8"), nl=False)
        return
    stdout.flush()
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _drop_stdout() -> None:
    """Point fd 1 at /dev/null, so the interpreter's last flush of the unwritable stdout cannot fail again."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):  # no file descriptor (tests capture stdout in memory)
        pass


def emit(text: str | bytes, output: str | None, protected: list[str]) -> None:
    if output:
        write_output(Path(output), text, protected)
    else:
        say(text)


def needs_file(fmt: str, output: str | None,
               option: str = "--format xlsx writes an Excel workbook: give --output") -> None:
    """A workbook is binary: refuse, before any work, an output that would garble a terminal or that Excel
    would not open (and that a slip of the keyboard could have aimed at an instance file). `option`
    says, in the command's own words, where the FILE.xlsx goes."""
    if fmt == "xlsx" and not (output and output.lower().endswith(".xlsx")):
        fail(f"{option} FILE.xlsx (got {output or 'stdout'})", EXIT_BAD_INPUT)


def plan_document(doc: dict, inst: Instance, fmt: str) -> str | bytes:
    """The shared views of a plan: a self-contained HTML report or an Excel workbook."""
    return render_plan(doc, inst) if fmt == "html" else workbook.plan_workbook(doc, inst)


def solving_options(default_limit: float | None = None) -> Callable:
    """--time-limit, --threads and --progress: the same on every command that solves."""
    shown = f"[default: {default_limit:g}]" if default_limit else "[default: none]"

    def add(command: Callable) -> Callable:
        for option in reversed([
            click.option("--time-limit", type=Checked(check_time_limit), default=default_limit,
                         help=f"Seconds for the whole command's solving (per solve for evaluate and sweep); "
                              f"the best plan found by then is reported, `feasible` unless proven {shown}."),
            click.option("--threads", type=Checked(check_threads, int),
                         help="Solver threads [default: the solver's choice]."),
            click.option("--progress/--no-progress", default=None,
                         help="Phases, incumbent, bound and gap on stderr while solving [default: when stderr is a terminal]."),
        ]):
            command = option(command)
        return command
    return add


def solving(time_limit: float | None, threads: int | None, progress: bool | None) -> dict:
    """The solving options (checked by their click types) as planner.solve takes them."""
    return {"time_limit": time_limit, "threads": threads, "progress": sys.stderr.isatty() if progress is None else progress}


@contextlib.contextmanager
def first_interrupt_stops(cancel: threading.Event) -> Iterator[None]:
    """The first Ctrl-C (SIGINT) sets `cancel`: the solve stops and its best plan is reported; a
    second one aborts at once (exit 130, nothing written). At once means os._exit: a native solver
    thread still unwinding would abort the interpreter's normal exit (C++ terminate, SIGABRT)."""
    def handler(signum: int, frame: object) -> None:
        if cancel.is_set():
            click.echo("planner: aborted: interrupted twice; nothing written", err=True)
            sys.stderr.flush()
            os._exit(EXIT_INTERRUPTED)
        cancel.set()
        click.echo("planner: interrupted: stopping the solver to report the best plan found "
                   "(interrupt again to abort without writing)", err=True)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="planner")
def cli() -> None:
    """Capacity planning for GPU fleets: who gets which GPUs, and which lease offers to take."""


def cluster_option(command: Callable) -> Callable:
    """--cluster, shared by every command that runs a batch of solves (planner.batch)."""
    return click.option("--cluster", envvar=ENV_CLUSTER, metavar="tcp://HOST:PORT",
                        help=f"Send the solves to this Dask scheduler [env {ENV_CLUSTER}; default: local processes]; "
                             "needs `pip install 'planner[cluster]'`.")(command)


def workers_option(command: Callable) -> Callable:
    """--workers: local processes for a batch of solves (planner.batch)."""
    return click.option("--workers", type=click.IntRange(min=1),
                        help="Parallel local solves [default: one per core].")(command)


def batch_target(workers: int | None, cluster: str | None) -> dict:
    """--workers and --cluster as planner.batch takes them; both at once is a usage error."""
    if cluster and workers:
        fail(f"--workers {workers}: the cluster {cluster} decides how many solves run at once; drop one of them",
             EXIT_BAD_INPUT)
    return {"workers": workers, "cluster": cluster}


@contextlib.contextmanager
def batch_errors() -> Iterator[None]:
    """Around a batch: a cluster that cannot be used is a usage error (exit 2), a batch it lost is exit 1."""
    try:
        yield
    except ClusterError as err:
        fail(str(err), EXIT_BAD_INPUT)
    except BatchError as err:
        fail(f"{err}; nothing was written", EXIT_NO_PLAN)


@cli.command()
@click.argument("instance", type=click.Path(dir_okay=False))
@click.option("--solver", type=click.Choice(SOLVE_NAMES, case_sensitive=False), default="highs", show_default=True,
              help="MILP backend, or `greedy` for the spreadsheet baseline alone (feasible, no bound).")
@solving_options()
@click.option("--gap", type=Checked(check_gap), default=1e-6, show_default=True, help="Relative MIP gap that counts as optimal.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "markdown", "html", "xlsx"]), default="table",
              show_default=True, help="html: a self-contained report; xlsx: a workbook (needs --output).")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write here (atomically) instead of stdout.")
@click.option("--verbose", "-v", is_flag=True, help="Solver log on stderr.")
@click.option("--duals", is_flag=True, help="Add shadow prices of site power and inventory (local LP duals).")
@click.option("--metrics", is_flag=True, help="With scenarios (SPEC section 6): add EVPI and VSS (one more solve per scenario).")
@workers_option
@cluster_option
def solve(instance: str, solver: str, time_limit: float | None, threads: int | None, progress: bool | None,
          gap: float, fmt: str, output: str | None, verbose: bool, duals: bool, metrics: bool, workers: int | None,
          cluster: str | None) -> None:
    """Solve INSTANCE (YAML or JSON) and print the optimal, verified plan.

    Ctrl-C stops the solver: the best plan found is reported (`feasible` unless proven, with an
    `interrupted` warning) and the exit code is 130; a second Ctrl-C aborts without writing."""
    options = solving(time_limit, threads, progress)
    target = batch_target(workers, cluster)
    needs_file(fmt, output)
    inst = read_instance(instance)
    if metrics and inst.uncertainty is None:
        fail(f"{instance}: --metrics needs scenarios (an `uncertainty` section, SPEC section 6)", EXIT_BAD_INPUT)
    if (duals or solver.lower() in HEURISTICS) and inst.uncertainty is not None:
        fail(f"{instance}: {'--duals' if duals else '--solver ' + solver} is not available for an instance with "
             f"scenarios (SPEC section 6)", EXIT_BAD_INPUT)
    check_outputs([Path(output)] if output else [], [instance])
    cancel = threading.Event()
    try:
        with first_interrupt_stops(cancel), batch_errors():
            result = solve_plan(inst, solver=solver, gap=gap, verbose=verbose, duals=duals, metrics=metrics,
                                cancel=cancel, **options, **target)
    except VerificationError as err:
        fail(f"the {solver} plan for {instance} FAILED independent verification; not reporting it:\n{err}", EXIT_NO_PLAN)
    content = plan_document(result.to_dict(), inst, fmt) if fmt in ("html", "xlsx") else render(result, inst, fmt)
    emit(content, output, [instance])
    if cancel.is_set():
        found = "reported the best plan found" if result.status.has_solution else "no plan had been found yet"
        fail(f"{instance}: interrupted: {found} ({result.status.value})", EXIT_INTERRUPTED)
    exit_without_plan(instance, result.status.value)


def exit_without_plan(instance: str, status: str) -> None:
    """Exit 1, with a pointer to `explain`, when there is no plan to show."""
    if status not in ("optimal", "feasible"):
        hint = f"; run `planner explain {instance}` to see which requirements conflict" if status == "infeasible" else ""
        click.echo(f"planner: {instance}: {status}{hint}", err=True)
        sys.exit(EXIT_NO_PLAN)


@cli.command()
@click.argument("instance", type=click.Path(dir_okay=False))
@click.argument("result", type=click.Path(dir_okay=False), required=False)
@click.option("--html", "html_path", type=click.Path(dir_okay=False), help="Write the self-contained HTML report here.")
@click.option("--xlsx", "xlsx_path", type=click.Path(dir_okay=False), help="Write the Excel workbook here.")
@click.option("--solver", type=click.Choice(SOLVE_NAMES, case_sensitive=False), default="highs", show_default=True,
              help="When no RESULT is given: the solver of the fresh solve.")
@solving_options()
@click.option("--gap", type=Checked(check_gap), default=1e-6, show_default=True, help="For the fresh solve.")
@click.option("--duals", is_flag=True, help="Include shadow prices (fresh solve only).")
@click.option("--metrics", is_flag=True, help="With scenarios: include EVPI and VSS (fresh solve only).")
def report(instance: str, result: str | None, html_path: str | None, xlsx_path: str | None, solver: str,
           time_limit: float | None, threads: int | None, progress: bool | None, gap: float, duals: bool,
           metrics: bool) -> None:
    """Write the shareable report of INSTANCE's plan: RESULT.json when given (verified first), else a fresh solve."""
    options = solving(time_limit, threads, progress)
    if not (html_path or xlsx_path):
        fail("give --html FILE and/or --xlsx FILE", EXIT_BAD_INPUT)
    if xlsx_path:
        needs_file("xlsx", xlsx_path, "--xlsx writes an Excel workbook: give")
    protected = [instance, *([result] if result else [])]
    check_outputs([Path(p) for p in (html_path, xlsx_path) if p], protected)
    inst = read_instance(instance)
    if metrics and inst.uncertainty is None:
        fail(f"{instance}: --metrics needs scenarios (an `uncertainty` section, SPEC section 6)", EXIT_BAD_INPUT)
    if result and (duals or metrics):
        fail("--duals and --metrics apply to a fresh solve: solve with them, then report that RESULT", EXIT_BAD_INPUT)
    if result:
        doc = read_plan(result, inst, instance)
        violations = check(inst, doc)
        for v in violations:
            click.echo(f"{result}: {v.rule}: {v.message}", err=True)
        if violations:
            fail(f"{result}: {len(violations)} violation(s) of the SPEC against {instance}; not reporting it",
                 EXIT_NO_PLAN)
    else:
        try:
            doc = solve_plan(inst, solver=solver, gap=gap, duals=duals, metrics=metrics, **options).to_dict()
        except VerificationError as err:
            fail(f"the {solver} plan for {instance} FAILED independent verification; not reporting it:\n{err}",
                 EXIT_NO_PLAN)
    for path, fmt in ((html_path, "html"), (xlsx_path, "xlsx")):
        if path:
            write_output(Path(path), plan_document(doc, inst, fmt), protected)
            click.echo(f"{path}: {fmt} report of {inst.name} ({doc['status']})")
    exit_without_plan(instance, doc["status"])


@cli.command()
@click.argument("instance", type=click.Path(dir_okay=False))
@click.option("--solver", type=click.Choice(SOLVER_NAMES, case_sensitive=False), default="highs", show_default=True)
@solving_options(EXPLAIN_TIME_LIMIT)
def explain(instance: str, solver: str, time_limit: float | None, threads: int | None, progress: bool | None) -> None:
    """Say which requirements of an infeasible INSTANCE cannot be met together, and what capacity is short."""
    options = solving(time_limit, threads, progress)
    diagnosis = explain_plan(read_instance(instance), solver=solver, **options)
    say("\n".join(diagnosis.lines()) + "\n")
    if not diagnosis.feasible:
        sys.exit(EXIT_NO_PLAN)


def read_offer(path: str, inst: Instance) -> Lease:
    """One lease entry in the SPEC format, checked on its own and against the instance."""
    try:
        data = decode(Path(path).read_text(encoding="utf-8"), path)
    except OSError as err:
        fail(f"{path}: cannot read file: {err.strerror}", EXIT_BAD_INPUT)
    except UnicodeDecodeError as err:
        fail(f"{path}: cannot read file: not UTF-8 text ({err.reason} at byte {err.start})", EXIT_BAD_INPUT)
    except InstanceError as err:
        fail(str(err), EXIT_BAD_INPUT)
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    if not isinstance(data, dict):
        fail(f"{path}: expected one lease entry (a mapping), got {type(data).__name__}", EXIT_BAD_INPUT)
    if any(lease.name == data.get("name") for lease in inst.leases):
        fail(f"{path}: name: the instance already has a lease named {excerpt(data.get('name'))}", EXIT_BAD_INPUT)
    try:
        combined = parse_instance({**inst.model_dump(exclude_none=True), "leases": [
            *inst.model_dump(exclude_none=True)["leases"], data]}, path)
    except InstanceError as err:
        offer_index = f"leases[{len(inst.leases)}]"
        problems = [(p.replace(offer_index, "offer", 1), m) for p, m in err.problems]
        click.echo(str(InstanceError(path, problems)), err=True)
        sys.exit(EXIT_BAD_INPUT)
    return combined.leases[-1]


@cli.command()
@click.argument("instance", type=click.Path(dir_okay=False))
@click.argument("offer", required=False)
@click.option("--offer-file", type=click.Path(dir_okay=False), help="A YAML/JSON file holding one lease entry to add.")
@click.option("--gpus", type=click.IntRange(min=1),
              help="Evaluate at this block [default: the offer's max_gpus, else its best block].")
@click.option("--solver", type=click.Choice(SOLVER_NAMES, case_sensitive=False), default="highs", show_default=True)
@solving_options()
@click.option("--format", "fmt", type=click.Choice(["table", "json", "markdown", "html", "xlsx"]), default="table",
              show_default=True, help="html: a self-contained report; xlsx: a workbook (needs --output).")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write here (atomically) instead of stdout.")
@workers_option
@cluster_option
def evaluate(instance: str, offer: str | None, offer_file: str | None, gpus: int | None, solver: str,
             time_limit: float | None, threads: int | None, progress: bool | None, fmt: str, output: str | None,
             workers: int | None, cluster: str | None) -> None:
    """Is lease OFFER (a name in INSTANCE, or --offer-file) worth taking at the block its lessee asks for?
    Value, break-even, economics."""
    options = solving(time_limit, threads, progress)
    target = batch_target(workers, cluster)
    needs_file(fmt, output)
    inst = read_instance(instance)
    if (offer is None) == (offer_file is None):
        fail("give exactly one of OFFER (a lease name in the instance) and --offer-file", EXIT_BAD_INPUT)
    check_outputs([Path(output)] if output else [], [instance, *([offer_file] if offer_file else [])])
    if offer_file:
        lease = read_offer(offer_file, inst)
        inst = inst.model_copy(update={"leases": [*inst.leases, lease]})
        offer = lease.name
    elif offer not in {lease.name for lease in inst.leases}:
        fail(f"{instance}: leases: no lease named {offer!r} (known: {', '.join(l.name for l in inst.leases)})",
             EXIT_BAD_INPUT)
    try:
        if inst.uncertainty is not None:
            requested_block(inst, next(lease for lease in inst.leases if lease.name == offer), gpus)  # same refusals
            with batch_errors():
                ev = evaluate_under_uncertainty(inst, offer, solver=solver, gpus=gpus, **target, **options)
            parts = scenario_evaluation_sections(ev, inst)
        else:
            with batch_errors():
                ev = evaluate_offer(inst, offer, solver=solver, gpus=gpus, **target, **options)
            parts = evaluation_sections(ev, inst)
    except OfferError as err:
        fail(f"{instance}: {err}", EXIT_BAD_INPUT)
    except ValueError as err:  # nothing to compare against: the instance is infeasible without the offer
        fail(f"{instance}: {err}; run `planner explain {instance}`", EXIT_NO_PLAN)
    if fmt in ("html", "xlsx"):
        plan = decision_plan(ev, inst, solver).to_dict()
        render_shared = render_evaluation if fmt == "html" else workbook.evaluation_workbook
        content = render_shared(json.loads(json.dumps(ev.to_dict(), default=float)), plan, inst)
    else:
        content = render_document(ev.to_dict(), parts, fmt)
    emit(content, output, [instance, *([offer_file] if offer_file else [])])


def decision_plan(ev: OfferEvaluation | ScenarioEvaluation, inst: Instance, solver: str) -> PlanResult:
    """The plan the decision leads to: kept by a plain evaluation; with scenarios, solved once more."""
    taken = ev.decision != "reject"  # "accept", or "signed": a contract is honoured whatever it is worth
    if isinstance(ev, OfferEvaluation):
        return ev.accepted_plan if taken else ev.rejected_plan
    chosen = forced(inst, ev.offer, ev.block_gpus) if taken else removed(inst, ev.offer)
    return solve_plan(chosen, solver=solver)


def read_plan(path: str, inst: Instance, instance: str) -> dict:
    """A result document for `inst`; a plan of another instance is bad input (exit 2): one line, not
    every rule it breaks."""
    plan = read_json(path, "result")
    if plan.get("instance") != inst.name:
        fail(f"{path}: is a plan for instance {plan.get('instance')!r}, not for {instance} (instance {inst.name!r})",
             EXIT_BAD_INPUT)
    return plan


def read_json(path: str, what: str) -> dict:
    """A JSON document given on the command line; unreadable or malformed is bad input (exit 2)."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        fail(f"{path}: cannot read file: {err.strerror}", EXIT_BAD_INPUT)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        fail(f"{path}: not a JSON {what}: {err}", EXIT_BAD_INPUT)
    except RecursionError:
        fail(f"{path}: not a JSON {what}: nested deeper than the parser's limit", EXIT_BAD_INPUT)
    if not isinstance(doc, dict) or "status" not in doc:
        fail(f"{path}: not a planner result (expected a JSON object with a `status`)", EXIT_BAD_INPUT)
    return doc


@cli.command()
@click.argument("instance", type=click.Path(dir_okay=False))
@click.option("--vary", required=True, multiple=True, metavar="PATH=START:STOP:STEP",
              help="e.g. leases.anthropic.price_per_gpu_hour=1:8:0.5 or sites.memphis-1.power_mw=200:400:25; "
                   "twice for a grid of two parameters.")
@click.option("--solver", type=click.Choice(SOLVER_NAMES, case_sensitive=False), default="highs", show_default=True)
@solving_options()
@workers_option
@cluster_option
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), default="csv", show_default=True,
              help="The table's format: CSV, or an Excel workbook (sheets Summary, Sweep).")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Table file [default: INSTANCE-stem.sweep.FORMAT].")
@click.option("--plot", "plot_file", type=click.Path(dir_okay=False),
              help="Plot file, PNG, SVG or PDF by its suffix [default: a PNG next to the table].")
def sweep(instance: str, vary: tuple[str, ...], solver: str, time_limit: float | None, threads: int | None,
          progress: bool | None, workers: int | None, cluster: str | None, fmt: str, output: str | None,
          plot_file: str | None) -> None:
    """Solve INSTANCE for every value of one parameter (or every pair of two); write a table and a PNG."""
    options = solving(time_limit, threads, progress)
    inst = read_instance(instance)
    if len(vary) > 2:
        fail(f"--vary: given {len(vary)} times; a sweep varies one or two parameters", EXIT_BAD_INPUT)
    batch_target(workers, cluster)
    csv_path = Path(output or f"{Path(instance).stem}.sweep.{fmt}")
    plot_path = Path(plot_file or csv_path.with_suffix(".png"))
    check_outputs([csv_path, plot_path], [instance])
    try:
        sweeps.plot_format(plot_path)
    except ValueError as err:
        fail(f"--plot {err}", EXIT_BAD_INPUT)
    try:
        axes = [sweeps.parse_vary(text) for text in vary]
        with batch_errors():
            frame = sweeps.sweep(inst, axes, solver=solver, workers=workers, cluster=cluster,
                                 progress=options.pop("progress"), **options)
    except ValueError as err:
        fail(f"--vary: {err}", EXIT_BAD_INPUT)
    paths = [path for path, _ in axes]
    table = frame.to_csv(index=False) if fmt == "csv" else workbook.sweep_workbook(frame, " x ".join(paths), inst)
    write_output(csv_path, table, [instance])
    sweeps.plot(frame, paths, plot_path)
    solved = frame["objective"].notna()
    say(f"{len(frame)} points ({int(solved.sum())} solved): {csv_path}, {plot_path}\n")
    say(frame[[*paths, "status", "objective", "accepted"]].to_string(index=False) + "\n")


@cli.command()
@click.argument("result_a", type=click.Path(dir_okay=False))
@click.argument("result_b", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["table", "json", "markdown"]), default="table", show_default=True)
def diff(result_a: str, result_b: str, fmt: str) -> None:
    """What changed from plan RESULT_A to plan RESULT_B: GPUs per site x generation x use, leases, value."""
    try:
        changes = diff_results(read_json(result_a, "result"), read_json(result_b, "result"), (result_a, result_b))
    except ValueError as err:
        fail(str(err), EXIT_BAD_INPUT)
    say(render_document(changes, diff_sections(changes, labels=(result_a, result_b)), fmt))


@cli.command()
@click.argument("instance", type=click.Path(dir_okay=False))
def validate(instance: str) -> None:
    """Check INSTANCE against the SPEC without solving it."""
    inst = read_instance(instance)
    for warning in inst.warnings():
        click.echo(f"warning: {warning}", err=True)
    gpus = int(inst.installed_gpus()[..., 0].sum())
    say(
        f"{instance}: valid: {len(inst.generations)} generations, {len(inst.sites)} sites, {inst.T} periods, "
        f"{gpus:,} GPUs, {len(inst.training)} training runs, {len(inst.inference)} inference pools, "
        f"{len(inst.leases)} leases\n"
    )


@cli.command(name="import")
@click.argument("workbook_path", metavar="WORKBOOK", type=click.Path(dir_okay=False))
@click.option("--output", "-o", type=click.Path(dir_okay=False), required=True, help="The instance file to write (YAML).")
def import_(workbook_path: str, output: str) -> None:
    """Read an instance from an Excel WORKBOOK (the `planner export` template) and write it as YAML
    (JSON when OUTPUT ends in .json)."""
    try:
        inst = workbook.import_workbook(workbook_path)
    except InstanceError as err:
        click.echo(str(err), err=True)
        fail(f"{len(err.problems)} problem(s) in {workbook_path}", EXIT_BAD_INPUT)
    data = inst.model_dump(exclude_none=True, exclude_defaults=True)
    text = json.dumps(data, indent=2) + "\n" if output.lower().endswith(".json") else \
        yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    write_output(Path(output), text, [workbook_path])
    click.echo(f"{output}: instance {inst.name} from {workbook_path}")


@cli.command()
@click.argument("instance", type=click.Path(dir_okay=False))
@click.option("--output", "-o", type=click.Path(dir_okay=False), required=True, help="The workbook to write (.xlsx).")
def export(instance: str, output: str) -> None:
    """Write INSTANCE as an Excel workbook in the template `planner import` reads."""
    needs_file("xlsx", output, "export writes an Excel workbook: give -o")
    inst = read_instance(instance)
    write_output(Path(output), workbook.export_workbook(inst), [instance])
    click.echo(f"{output}: workbook of {inst.name}")


@cli.command()
@click.argument("instance", type=click.Path(dir_okay=False))
@click.argument("result", type=click.Path(dir_okay=False))
def verify(instance: str, result: str) -> None:
    """Check a RESULT.json plan against INSTANCE, rule by rule, independently of the model."""
    inst = read_instance(instance)
    plan = read_plan(result, inst, instance)
    violations = check(inst, plan)
    for v in violations:
        click.echo(f"{result}: {v.rule}: {v.message}", err=True)
    if violations:
        fail(f"{result}: {len(violations)} violation(s) of the SPEC", EXIT_NO_PLAN)
    objective = plan.get("objective")
    shown = money(objective, inst.currency) if isinstance(objective, (int, float)) else objective
    say(f"{result}: verified against {instance}: status {plan['status']}, objective {shown}\n")
    if plan["status"] not in ("optimal", "feasible"):
        sys.exit(EXIT_NO_PLAN)


def abort_on_interrupt(signum: int, frame: object) -> None:
    """Ctrl-C outside a solve's own handler (evaluate, sweep, ...; or a second one during `solve`):
    exit 130 at once, nothing written. At once means os._exit: click turned the KeyboardInterrupt into
    "Aborted!" and exit 1, and a native solver thread still running aborted the interpreter's exit
    (C++ terminate, SIGABRT, found by fuzzing `evaluate` and `sweep`)."""
    click.echo("planner: interrupted; nothing written", err=True)
    sys.stderr.flush()
    os._exit(EXIT_INTERRUPTED)


def main() -> None:
    """Entry point: no Python traceback reaches the user unless PLANNER_DEBUG is set."""
    signal.signal(signal.SIGINT, abort_on_interrupt)
    try:
        cli(standalone_mode=True)
    except SystemExit:
        raise
    except Exception as err:  # the last line of defence, reported in one line
        if os.environ.get("PLANNER_DEBUG"):
            raise
        fail(f"internal error: {type(err).__name__}: {err} (set PLANNER_DEBUG=1 for the traceback)", EXIT_NO_PLAN)
