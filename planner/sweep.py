"""Parameter sweeps: re-solve one instance over a grid of values of one field, to see where the
plan's decisions flip (which leases are accepted, how the fleet is split) and what each point is worth.

Fields are named by the path syntax of planner.paths, e.g. `leases.lab-a.price_per_gpu_hour`.
"""

from __future__ import annotations

import functools
import io
import itertools
import math
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from planner.api import solve
from planner.batch import run_batch
from planner.files import write_output
from planner.instance import Instance, InstanceError, parse_instance
from planner.paths import holds_a_list, set_path
from planner.report import money
from planner.results import TERMS, PlanResult

if TYPE_CHECKING:  # matplotlib costs ~0.4 s, which no other command (nor a sweep without a plot) should pay
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

USES = ("training", "inference", "lease", "idle")
COLUMNS = ["status", "objective", *TERMS, *(f"gpus_{u}" for u in USES), "accepted", "note"]
NUMERIC = ["objective", *TERMS, *(f"gpus_{u}" for u in USES)]
INVALID = "invalid"  # status of a point whose instance fails validation (not a solver status)
MAX_POINTS = 10_000  # a typo in STEP should not queue a million solves
GRID_TOL = 1e-9
MONEY_FIELDS = {"price_per_gpu_hour", "payment_per_period", "value_per_unit_hour", "energy_price_per_mwh",
                "capex_per_gpu"}


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
    # 12 significant digits: 1.3, not 1.3000000000000003, in the frame, the CSV and the plot; all 17
    # where 12 would merge points (1e12:1e12+3:1 was solved four times at 1e12)
    raw = [start + i * step for i in range(last + 1)]
    shown = [float(f"{v:.12g}") for v in raw]
    return path, shown if len(set(shown)) == len(raw) else [float(f"{v:.17g}") for v in raw]


# ----- solving the points -------------------------------------------------------------------


Axis = tuple[str, list[float]]  # a field path and its values, as parse_vary returns them


def sweep(inst: Instance, axes: list[Axis], solver: str = "highs", workers: int | None = None,
          cluster: str | None = None, progress: bool = True, **options: Any) -> pd.DataFrame:
    """Solve the instance at every point of the grid of `axes`: one row per point, in order (the last
    axis varies fastest), one column per axis first; a bad point gets a status, not an error.

    Points are solved through planner.batch: on the Dask scheduler at `cluster`, else by `workers`
    local processes (default: one per core; `workers=1` solves them in this one). `options` go to
    every planner.api.solve call (e.g. `gap`, `time_limit`).
    An invalid point has status `invalid` and the validation problems in `note`; an infeasible one its
    status; both have empty numbers. A plan failing verification still raises: that is a bug, not a point.
    """
    paths = [path for path, _ in axes]
    if len(set(paths)) < len(paths):
        raise ValueError(f"{paths}: each path may be varied once")
    for path in paths:
        _not_set_by_every_scenario(inst, path)
    grid = list(itertools.product(*(values for _, values in axes)))
    if len(grid) > MAX_POINTS:
        raise ValueError(f"{len(grid):,} points, more than {MAX_POINTS:,}; use larger STEPs")
    data = inst.model_dump()
    points = [_point(data, zip(paths, cell)) for cell in grid]  # a bad path fails here, before any solve
    listed = [path for path in paths if holds_a_list(path)]
    if listed:
        raise ValueError(f"{listed[0]}: a list, not a number; a sweep sets one number per point")
    rows = run_batch(functools.partial(_solve_point, solver=solver, **options), points, workers=workers, cluster=cluster,
                     progress=f"sweep {' x '.join(paths)}" if progress else None)
    frame = pd.DataFrame(rows, columns=COLUMNS)
    for i, path in reversed(list(enumerate(paths))):
        frame.insert(0, path, [float(cell[i]) for cell in grid])
    return frame


def _not_set_by_every_scenario(inst: Instance, path: str) -> None:
    """ValueError when every scenario's `set` (SPEC section 6) gives `path` its own value: the swept value
    would reach no plan (every point solved alike, as if the sweep had worked)."""
    scenarios = inst.uncertainty.scenarios if inst.uncertainty else []
    if scenarios and all(any(path == p or path.startswith(p + ".") for p in sc.set) for sc in scenarios):
        raise ValueError(f"{path}: every scenario sets it (uncertainty.scenarios[*].set), so no value swept here "
                         "would reach a plan; vary it in the scenarios' `set` instead")


def _point(data: dict, settings: Iterable[tuple[str, float]]) -> dict:
    """The instance dict with every (path, value) of one grid point set."""
    for path, value in settings:
        data = set_path(data, path, value)
    return data


def expected_gpus(result: PlanResult) -> pd.Series:
    """Each allocation row's GPUs, weighted by its scenario's probability with scenarios (SPEC section 6):
    summed, the rows counted the fleet once per scenario."""
    gpus = result.allocations["gpus"].astype(float)
    if "scenario" not in result.allocations:
        return gpus
    probability = {s["name"]: s["probability"] for s in result.uncertainty["scenarios"]}
    return gpus * result.allocations["scenario"].map(probability)


def _solve_point(data: dict, solver: str, **options: Any) -> dict:
    """One row of the frame (without the parameter value): status, objective, breakdown, split, accepted leases."""
    empty = {c: math.nan for c in NUMERIC} | {"accepted": "", "note": ""}
    try:
        inst = parse_instance(data)
    except InstanceError as err:
        return empty | {"status": INVALID, "note": "; ".join(f"{p or '(top level)'}: {m}" for p, m in err.problems)}
    result = solve(inst, solver=solver, **options)
    if not result.status.has_solution:
        return empty | {"status": result.status.value}
    per_use = expected_gpus(result).groupby(result.allocations["use"]).sum().reindex(list(USES), fill_value=0) / inst.T
    leases = result.leases
    return {
        "status": result.status.value,
        "objective": result.objective,
        **{term: result.breakdown[term] for term in TERMS},
        **{f"gpus_{use}": float(per_use[use]) for use in USES},
        "accepted": ";".join(leases.loc[leases["accepted"].astype(bool), "name"]),
        "note": "",
    }


# ----- files --------------------------------------------------------------------------------


def write_csv(frame: pd.DataFrame, path: str | Path) -> None:
    """The sweep frame as CSV, written atomically."""
    write_output(path, frame.to_csv(index=False).encode("utf-8"))


def read_csv(path: str | Path) -> pd.DataFrame:
    """A sweep CSV back as the frame: empty numbers are NaN, an empty `accepted` stays an empty string."""
    return pd.read_csv(path, keep_default_na=False, na_values={c: [""] for c in NUMERIC})


PLOT_FORMATS = ("png", "svg", "pdf")


def plot_format(path: str | Path) -> str:
    """The plot's format, from its file's suffix (PNG without one); ValueError for any other suffix."""
    suffix = Path(path).suffix.lstrip(".").lower() or "png"
    if suffix not in PLOT_FORMATS:
        raise ValueError(f"{path}: a plot is written as {', '.join(PLOT_FORMATS)} (from its suffix), not .{suffix}")
    return suffix


def plot(frame: pd.DataFrame, paths: list[str], plot_path: str | Path, title: str | None = None) -> None:
    """The sweep as an image written atomically (PNG, SVG or PDF by the file's suffix): lines against
    one parameter, a heatmap over two."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if len(paths) not in (1, 2):
        raise ValueError(f"a sweep plot shows one or two parameters, not {len(paths)}")
    fig = Figure(figsize=(9, 7), layout="constrained")
    FigureCanvasAgg(fig)  # Agg renders off screen: no display needed
    (_lines if len(paths) == 1 else _heatmap)(fig, frame, paths)
    fig.suptitle(title or f"Sweep of {' x '.join(paths)}")
    buffer = io.BytesIO()
    fig.savefig(buffer, format=plot_format(plot_path), dpi=120)
    write_output(plot_path, buffer.getvalue())


def _lines(fig: Figure, frame: pd.DataFrame, paths: list[str]) -> None:
    """Objective (top) and GPUs per use (bottom) against the parameter.

    Dotted lines mark where the set of accepted leases changes, between the two points around the flip.
    """
    path = paths[0]
    top, bottom = fig.subplots(2, 1, sharex=True)
    x = frame[path].to_numpy(dtype=float)
    top.plot(x, frame["objective"].to_numpy(dtype=float), marker="o", color="black")
    top.yaxis.set_major_formatter(_money_ticks())
    top.set_ylabel("objective (net value of the horizon)")
    top.grid(alpha=0.3)
    bottom.stackplot(x, *(frame[f"gpus_{u}"].to_numpy(dtype=float) for u in USES), labels=USES, alpha=0.8)
    bottom.set_ylabel("GPUs per use (average over periods)")
    bottom.set_xlabel(path)
    if is_money(path):
        bottom.xaxis.set_major_formatter(_money_ticks())
    bottom.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")  # outside: never over data
    bottom.grid(alpha=0.3)
    for at, accepted in _flips(frame, path):
        for ax in (top, bottom):
            ax.axvline(at, color="grey", linestyle=":")
        top.annotate(f"accepted: {accepted or 'none'}", (at, 1.0), xycoords=("data", "axes fraction"),
                     rotation=90, va="top", ha="right", fontsize="small", color="grey")


def _flips(frame: pd.DataFrame, path: str) -> list[tuple[float, str]]:
    """(midpoint, new accepted set) wherever consecutive solved points accept different leases."""
    solved = frame[frame["objective"].notna()]
    points = list(zip(solved[path], solved["accepted"]))
    return [((x0 + x1) / 2, a1) for (x0, a0), (x1, a1) in itertools.pairwise(points) if a0 != a1]


def _heatmap(fig: Figure, frame: pd.DataFrame, paths: list[str]) -> None:
    """The objective over the grid (first parameter across, second up), each region of one accepted-lease
    set (or one status, where nothing was solved) outlined in white and labelled at its middle cell."""
    from matplotlib.collections import LineCollection
    from scipy import ndimage

    xs, ys = (np.unique(frame[p].to_numpy(dtype=float)) for p in paths)
    cells = frame.assign(region=regions(frame))

    def grid(column: str) -> np.ndarray:
        return cells.pivot(index=paths[1], columns=paths[0], values=column).reindex(index=ys, columns=xs).to_numpy()

    xe, ye = _edges(xs), _edges(ys)
    ax = fig.subplots()
    ax.set_facecolor("lightgrey")  # unsolved cells (NaN objective) show through
    mesh = ax.pcolormesh(xe, ye, np.ma.masked_invalid(grid("objective").astype(float)), cmap="viridis")
    fig.colorbar(mesh, ax=ax, label="objective (net value of the horizon)", format=_money_ticks())
    region = grid("region").astype(object)
    across = [[(xe[i + 1], ye[j]), (xe[i + 1], ye[j + 1])] for j, i in zip(*np.nonzero(region[:, 1:] != region[:, :-1]))]
    up = [[(xe[i], ye[j + 1]), (xe[i + 1], ye[j + 1])] for j, i in zip(*np.nonzero(region[1:, :] != region[:-1, :]))]
    ax.add_collection(LineCollection(across + up, colors="white", linewidths=2))
    for name in dict.fromkeys(region.ravel()):
        components, count = ndimage.label(region == name)
        for k in range(1, count + 1):
            j, i = _middle(np.argwhere(components == k))
            ax.text((xe[i] + xe[i + 1]) / 2, (ye[j] + ye[j + 1]) / 2, name, ha="center", va="center",
                    fontsize="small", bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.8})
    ax.set_xlabel(paths[0])
    ax.set_ylabel(paths[1])
    for axis, path in ((ax.xaxis, paths[0]), (ax.yaxis, paths[1])):
        if is_money(path):
            axis.set_major_formatter(_money_ticks())


def regions(frame: pd.DataFrame) -> pd.Series:
    """The heatmap's region of each point: its accepted leases (`none` if none), or its status if unsolved."""
    solved = frame["objective"].notna()
    return frame["accepted"].where(~solved | (frame["accepted"] != ""), "none").where(solved, frame["status"])


def _edges(values: np.ndarray) -> np.ndarray:
    """Cell edges around sorted grid values: midway between neighbours, half a step beyond the ends."""
    if len(values) == 1:
        half = 0.5 * (abs(values[0]) or 1.0)
        return np.array([values[0] - half, values[0] + half])
    mids = (values[1:] + values[:-1]) / 2
    return np.concatenate([[2 * values[0] - mids[0]], mids, [2 * values[-1] - mids[-1]]])


def _middle(cells: np.ndarray) -> tuple[int, int]:
    """The cell of a region nearest its centroid (inside the region, even for an L shape)."""
    return tuple(cells[np.argmin(((cells - cells.mean(axis=0)) ** 2).sum(axis=1))])


def is_money(path: str) -> bool:
    """Whether a field path names an amount of money (its axis is labelled in $)."""
    return any(part in MONEY_FIELDS for part in path.split("."))


def _money_ticks() -> FuncFormatter:
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _: money(v))
