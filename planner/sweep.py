"""Parameter sweeps: re-solve one instance over a grid of values of one field, to see where the
plan's decisions flip (which leases are accepted, how the fleet is split) and what each point is worth.

Fields are named by the path syntax of planner.paths, e.g. `leases.lab-a.price_per_gpu_hour`.
"""

from __future__ import annotations

import contextlib
import io
import math
import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from planner.api import solve
from planner.files import write_output
from planner.instance import Instance, InstanceError, parse_instance
from planner.paths import set_path
from planner.report import money
from planner.results import TERMS

USES = ("training", "inference", "lease", "idle")
COLUMNS = ["status", "objective", *TERMS, *(f"gpus_{u}" for u in USES), "accepted", "note"]
NUMERIC = ["objective", *TERMS, *(f"gpus_{u}" for u in USES)]
INVALID = "invalid"  # status of a point whose instance fails validation (not a solver status)
MAX_POINTS = 10_000  # a typo in STEP should not queue a million solves
GRID_TOL = 1e-9


# ----- the grid -----------------------------------------------------------------------------


def parse_vary(text: str) -> tuple[str, list[float]]:
    """`PATH=START:STOP:STEP` -> (path, [START, START+STEP, ...]); STOP is included when on the grid."""
    usage = f"--vary {text!r}: expected PATH=START:STOP:STEP, e.g. leases.lab-a.price_per_gpu_hour=1:8:0.5"
    path, sep, grid = text.partition("=")
    path = path.strip()
    parts = grid.split(":")
    if not sep or not path or len(parts) != 3:
        raise ValueError(usage)
    try:
        start, stop, step = (float(p) for p in parts)
    except ValueError:
        raise ValueError(f"{usage} (START, STOP and STEP must be numbers)") from None
    if not all(math.isfinite(v) for v in (start, stop, step)):
        raise ValueError(f"--vary {text!r}: START, STOP and STEP must be finite")
    if step <= 0:
        raise ValueError(f"--vary {text!r}: STEP must be > 0 (got {step:g})")
    if start > stop:
        raise ValueError(f"--vary {text!r}: START must be <= STOP (got {start:g} > {stop:g})")
    steps = (stop - start) / step
    last = round(steps) if abs(steps - round(steps)) <= GRID_TOL * max(1.0, steps) else math.floor(steps)
    if last + 1 > MAX_POINTS:
        raise ValueError(f"--vary {text!r}: {last + 1:,} points, more than {MAX_POINTS:,}; use a larger STEP")
    # 12 significant digits: 1.3, not 1.3000000000000003, in the frame, the CSV and the plot.
    return path, [float(f"{start + i * step:.12g}") for i in range(last + 1)]


# ----- solving the points -------------------------------------------------------------------


def sweep(inst: Instance, path: str, values: list[float], solver: str = "highs", workers: int | None = None,
          progress: bool = True) -> pd.DataFrame:
    """Solve the instance at every value: one row per point, in order; a bad point gets a status, not an error.

    Points are solved by `workers` processes (default: one per core); `workers=1` solves them in this one.
    An invalid point has status `invalid` and the validation problems in `note`; an infeasible one its
    status; both have empty numbers. A plan failing verification still raises: that is a bug, not a point.
    """
    data = inst.model_dump()
    points = [set_path(data, path, v) for v in values]  # a bad path fails here, before any solve
    workers = max(1, min(workers or os.cpu_count() or 1, len(points)))
    with _bar(len(points), f"sweep {path}", progress) as advance:
        rows = _serial(points, solver, advance) if workers == 1 else _parallel(points, solver, workers, advance)
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame.insert(0, path, [float(v) for v in values])
    return frame


def _serial(points: list[dict], solver: str, advance: Callable[[], None]) -> list[dict]:
    rows = []
    for point in points:
        rows.append(_solve_point(point, solver))
        advance()
    return rows


def _parallel(points: list[dict], solver: str, workers: int, advance: Callable[[], None]) -> list[dict]:
    rows: list[dict] = [{}] * len(points)
    # Spawn, not fork: a forked child inherits HiGHS's thread pool from a parent that has already solved,
    # without its threads, and spins forever on its first solve.
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        futures = {pool.submit(_solve_point, point, solver): i for i, point in enumerate(points)}
        for future in as_completed(futures):
            rows[futures[future]] = future.result()
            advance()
    finally:  # on an error or Ctrl-C, drop the queued points instead of solving them all first
        pool.shutdown(cancel_futures=True)
    return rows


def _solve_point(data: dict, solver: str) -> dict:
    """One row of the frame (without the parameter value): status, objective, breakdown, split, accepted leases."""
    empty = {c: math.nan for c in NUMERIC} | {"accepted": "", "note": ""}
    try:
        inst = parse_instance(data)
    except InstanceError as err:
        return empty | {"status": INVALID, "note": "; ".join(f"{p or '(top level)'}: {m}" for p, m in err.problems)}
    result = solve(inst, solver=solver)
    if not result.status.has_solution:
        return empty | {"status": result.status.value}
    per_use = result.allocations.groupby("use")["gpus"].sum().reindex(list(USES), fill_value=0) / inst.T
    leases = result.leases
    return {
        "status": result.status.value,
        "objective": result.objective,
        **{term: result.breakdown[term] for term in TERMS},
        **{f"gpus_{use}": float(per_use[use]) for use in USES},
        "accepted": ";".join(leases.loc[leases["accepted"].astype(bool), "name"]),
        "note": "",
    }


@contextlib.contextmanager
def _bar(total: int, label: str, enabled: bool) -> Iterator[Callable[[], None]]:
    """A transient progress bar on stderr (stdout stays for data); yields the function that advances it."""
    if not enabled:
        yield lambda: None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda: bar.advance(task)


# ----- files --------------------------------------------------------------------------------


def write_csv(frame: pd.DataFrame, path: str | Path) -> None:
    """The sweep frame as CSV, written atomically."""
    write_output(path, frame.to_csv(index=False).encode("utf-8"))


def read_csv(path: str | Path) -> pd.DataFrame:
    """A sweep CSV back as the frame: empty numbers are NaN, an empty `accepted` stays an empty string."""
    return pd.read_csv(path, keep_default_na=False, na_values={c: [""] for c in NUMERIC})


def plot(frame: pd.DataFrame, path: str, png_path: str | Path, title: str | None = None) -> None:
    """Objective (top) and GPUs per use (bottom) against the parameter, as a PNG written atomically.

    Dotted lines mark where the set of accepted leases changes, between the two points around the flip.
    """
    # Imported here: matplotlib costs ~0.4 s, which no other command (nor a sweep without a plot) should pay.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    fig = Figure(figsize=(9, 7), layout="constrained")
    FigureCanvasAgg(fig)  # Agg renders off screen: no display needed
    top, bottom = fig.subplots(2, 1, sharex=True)
    x = frame[path].to_numpy(dtype=float)
    top.plot(x, frame["objective"].to_numpy(dtype=float), marker="o", color="black")
    top.yaxis.set_major_formatter(FuncFormatter(lambda v, _: money(v)))
    top.set_ylabel("objective (net value of the horizon)")
    top.grid(alpha=0.3)
    bottom.stackplot(x, *(frame[f"gpus_{u}"].to_numpy(dtype=float) for u in USES), labels=USES, alpha=0.8)
    bottom.set_ylabel("GPUs per use (average over periods)")
    bottom.set_xlabel(path)
    bottom.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")  # outside: never over data
    bottom.grid(alpha=0.3)
    for at, accepted in _flips(frame, path):
        for ax in (top, bottom):
            ax.axvline(at, color="grey", linestyle=":")
        top.annotate(f"accepted: {accepted or 'none'}", (at, 1.0), xycoords=("data", "axes fraction"),
                     rotation=90, va="top", ha="right", fontsize="small", color="grey")
    fig.suptitle(title or f"Sweep of {path}")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    write_output(png_path, buffer.getvalue())


def _flips(frame: pd.DataFrame, path: str) -> list[tuple[float, str]]:
    """(midpoint, new accepted set) wherever consecutive solved points accept different leases."""
    solved = frame[frame["objective"].notna()]
    points = list(zip(solved[path], solved["accepted"]))
    return [((x0 + x1) / 2, a1) for (x0, a0), (x1, a1) in zip(points, points[1:]) if a0 != a1]
