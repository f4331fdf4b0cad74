"""Parameter sweeps: the --vary grammar, setting a field by path, and a sweep whose flip is derived by hand.

The sweep instance (TINY): two 1-hour periods, no discounting, 10 GPUs of one generation (node_size 2,
1 kW, speed 1), ample power (1 MW), energy 100 $/MWh = 0.1 $ per GPU-hour, so every GPU runs in
both plans below and energy costs 10 x 0.1 = 1 per hour either way.
  * inference `chat`: 4 units worth 3.0 per unit-hour; training `run`: 1.0 per unit-hour, unbounded;
  * lease `offer`: exactly 8 GPUs (all_or_nothing) at p per GPU-hour.
Per hour:
  reject: chat 4 GPUs (12) + run 6 GPUs (6) - energy 1 = 17
  accept: offer 8 GPUs (8p) + chat 2 GPUs (6) - energy 1 = 8p + 5   (run gets nothing: 1.0 < 3.0)
So the offer is accepted exactly when 8p + 5 > 17, i.e. p > 1.5, and the objective over the two
periods is max(34, 16p + 10). At p = 1.5 both plans are worth 34 (either may be reported).
"""

from __future__ import annotations

import copy
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from planner import parse_instance
from planner.cli import cli
from planner.paths import set_path
from planner.sweep import _edges, _heatmap, is_money, parse_vary, plot, read_csv, regions, sweep, write_csv

TINY = {
    "name": "sweep-tiny",
    "horizon": {"periods": 2, "period_hours": 1},
    "generations": [{"name": "A", "power_kw": 1.0, "node_size": 2, "train_speed": 1.0, "infer_speed": 1.0}],
    "sites": [{"name": "hall-1", "power_mw": 1.0, "energy_price_per_mwh": 100.0, "inventory": {"A": 10}}],
    "training": [{"name": "run", "value_per_unit_hour": 1.0}],
    "inference": [{"name": "chat", "demand": [{"units": 4, "value_per_unit_hour": 3.0}]}],
    "leases": [{"name": "offer", "price_per_gpu_hour": 1.0, "all_or_nothing": True, "max_gpus": 8}],
}
PRICE = "leases.offer.price_per_gpu_hour"
BREAK_EVEN = 1.5
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def hand(p: float) -> dict:
    """The hand-derived numbers at price p (module docstring); p != BREAK_EVEN."""
    if p > BREAK_EVEN:
        return {"objective": 16 * p + 10, "lease_revenue": 16 * p, "training_value": 0.0, "inference_value": 12.0,
                "energy_cost": 2.0, "gpus_training": 0.0, "gpus_inference": 2.0, "gpus_lease": 8.0,
                "gpus_idle": 0.0}
    return {"objective": 34.0, "lease_revenue": 0.0, "training_value": 12.0, "inference_value": 24.0,
            "energy_cost": 2.0, "gpus_training": 6.0, "gpus_inference": 4.0, "gpus_lease": 0.0,
            "gpus_idle": 0.0}


@pytest.fixture(scope="module")
def price_sweep() -> pd.DataFrame:
    path, values = parse_vary(f"{PRICE}=0:3:0.25")
    return sweep(parse_instance(TINY), [(path, values)], workers=1, progress=False)


# ----- parse_vary ---------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("leases.anthropic.price_per_gpu_hour=1:8:0.5", ("leases.anthropic.price_per_gpu_hour",
                                                     [1 + 0.5 * i for i in range(15)])),
    # 0.3 / 0.1 = 2.9999999999999996: STOP is on the grid within 1e-9, so it is included (and printed as 0.3).
    ("horizon.discount_rate=0:0.3:0.1", ("horizon.discount_rate", [0.0, 0.1, 0.2, 0.3])),
    ("sites.memphis-1.inventory.H100=0:10:4", ("sites.memphis-1.inventory.H100", [0.0, 4.0, 8.0])),  # 10 off the grid
    ("x.y.z=2:2:1", ("x.y.z", [2.0])),
    (" x.y = -1 : 1e0 : 1 ", ("x.y", [-1.0, 0.0, 1.0])),
    # 12 significant digits would make these one point, solved four times
    ("x.y=1000000000000:1000000000003:1", ("x.y", [1e12, 1e12 + 1, 1e12 + 2, 1e12 + 3])),
])
def test_parse_vary(text, expected):
    assert parse_vary(text) == expected


@pytest.mark.parametrize("text, message", [
    ("leases.x.price_per_gpu_hour", "expected PATH=START:STOP:STEP"),
    ("=1:2:1", "expected PATH=START:STOP:STEP"),
    ("x=1:2", "expected PATH=START:STOP:STEP"),
    ("x=1:2:0.5:1", "expected PATH=START:STOP:STEP"),
    ("x=a:2:1", "must be numbers"),
    ("x=1:inf:1", "must be finite"),
    ("x=1:2:0", "STEP must be > 0"),
    ("x=1:2:-1", "STEP must be > 0"),
    ("x=3:2:1", "START must be <= STOP"),
    ("x=0:1:1e-6", "more than 10,000"),
])
def test_parse_vary_errors(text, message):
    with pytest.raises(ValueError, match=message):
        parse_vary(text)


# ----- set_path -----------------------------------------------------------------------------


def with_price_mapping() -> dict:
    data = copy.deepcopy(TINY)
    data["generations"].append({"name": "B-200", "power_kw": 1.5, "train_speed": 2.0, "infer_speed": 2.0})
    data["leases"][0]["price_per_gpu_hour"] = {"A": 1.0}
    return data


@pytest.mark.parametrize("path, value, read", [
    ("horizon.discount_rate", 0.08, lambda d: d["horizon"]["discount_rate"]),
    ("leases.offer.price_per_gpu_hour", 2.5, lambda d: d["leases"][0]["price_per_gpu_hour"]),
    ("leases.offer.min_gpus", 2.0, lambda d: d["leases"][0]["min_gpus"]),  # absent before: added
    ("sites.hall-1.inventory.A", 12.0, lambda d: d["sites"][0]["inventory"]["A"]),
    ("training.run.value_per_unit_hour", 0.5, lambda d: d["training"][0]["value_per_unit_hour"]),
    ("inference.chat.min_units", 3.0, lambda d: d["inference"][0]["min_units"]),
    ("generations.A.power_kw", 0.7, lambda d: d["generations"][0]["power_kw"]),
])
def test_set_path_sets_a_copy(path, value, read):
    before = copy.deepcopy(TINY)
    out = set_path(TINY, path, value)
    assert read(out) == value
    assert TINY == before  # the input is never changed
    parse_instance(out)  # still a valid instance


def test_set_path_mapping_keys():
    data = with_price_mapping()
    out = set_path(data, "leases.offer.price_per_gpu_hour.B-200", 3.0)
    assert out["leases"][0]["price_per_gpu_hour"] == {"A": 1.0, "B-200": 3.0}  # a new generation key is added
    assert set_path(data, "sites.hall-1.inventory.B-200", 16)["sites"][0]["inventory"] == {"A": 10, "B-200": 16}
    parse_instance(out)


def test_set_path_on_a_dumped_instance():
    """The sweep sets paths on `model_dump()`, where every default is spelled out."""
    out = set_path(parse_instance(TINY).model_dump(), "horizon.periods", 3.0)
    assert parse_instance(out).T == 3


@pytest.mark.parametrize("path, message", [
    ("fleet.x", "unknown section 'fleet' (sections: horizon, generations, sites, training, inference, leases)"),
    ("leases", "name an element after 'leases'"),
    ("leases.nope.price_per_gpu_hour", "no leases named 'nope' (names: offer)"),
    ("sites.hall-2.power_mw", "no sites named 'hall-2' (names: hall-1)"),
    ("leases.offer.prise", "unknown field 'prise' of leases.offer (fields: generations, sites, periods, lessee, "),
    ("leases.offer", "name a field of leases.offer"),
    ("horizon.hours", "unknown field 'hours' of horizon (fields: periods, period_hours, discount_rate)"),
    ("leases.offer.name", "unknown field 'name'"),
    ("sites.hall-1.power_mw.A", "power_mw is a single value; drop 'A'"),
    ("sites.hall-1.inventory", "inventory is a mapping by generation; name exactly one generation (generations: A)"),
    ("sites.hall-1.inventory.H100", "unknown generation 'H100' (generations: A)"),
    ("sites.hall-1.inventory.A.x", "name exactly one generation"),
    ("leases.offer.price_per_gpu_hour.A", "a single price here, not a mapping; sweep leases.offer.price_per_gpu_hour"),
])
def test_set_path_errors(path, message):
    with pytest.raises(ValueError) as err:
        set_path(TINY, path, 1.0)
    assert str(err.value).startswith(f"{path}: ")
    assert message in str(err.value)


def test_set_path_mapping_price_needs_a_generation():
    with pytest.raises(ValueError, match="price_per_gpu_hour is a mapping by generation; name exactly one"):
        set_path(with_price_mapping(), "leases.offer.price_per_gpu_hour", 2.0)


# ----- sweep --------------------------------------------------------------------------------


def test_sweep_flips_at_the_hand_break_even(price_sweep):
    frame = price_sweep
    assert list(frame.columns) == [PRICE, "status", "objective", "lease_revenue", "training_value", "inference_value",
                                   "energy_cost", "gpus_training", "gpus_inference", "gpus_lease", "gpus_idle",
                                   "accepted", "note"]
    assert frame[PRICE].tolist() == [0.25 * i for i in range(13)]
    assert (frame["status"] == "optimal").all()
    for row in frame.to_dict("records"):
        p = row[PRICE]
        assert row["objective"] == pytest.approx(max(34.0, 16 * p + 10), rel=1e-9)
        if p != BREAK_EVEN:
            expected = hand(p)
            assert {k: row[k] for k in expected} == pytest.approx(expected, rel=1e-9, abs=1e-9), p
            assert row["accepted"] == ("offer" if p > BREAK_EVEN else ""), p
    flips = frame.loc[frame[PRICE] != BREAK_EVEN, "accepted"]
    assert flips.tolist() == [""] * 6 + ["offer"] * 6  # rejected up to 1.25, accepted from 1.75 on


def test_invalid_and_infeasible_points_get_a_status_not_an_exception():
    inst = parse_instance(TINY)
    frame = sweep(inst, [(PRICE, [-1.0, 2.0])], workers=1, progress=False)
    assert frame["status"].tolist() == ["invalid", "optimal"]
    assert frame.loc[0, "note"] == "leases[0].price_per_gpu_hour: -1 is outside the supported range [0, 1e6]"
    assert frame.loc[0, ["objective", "gpus_lease"]].isna().all() and frame.loc[0, "accepted"] == ""
    assert frame.loc[1, "objective"] == pytest.approx(16 * 2.0 + 10)
    # min_units 12 of serving capacity per period: 10 GPUs cannot provide it.
    frame = sweep(inst, [("inference.chat.min_units", [4.0, 12.0])], workers=1, progress=False)
    assert frame["status"].tolist() == ["optimal", "infeasible"]
    assert math.isnan(frame.loc[1, "objective"])


def test_a_bad_path_fails_before_any_solve():
    with pytest.raises(ValueError, match="no leases named 'other'"):
        sweep(parse_instance(TINY), [("leases.other.price_per_gpu_hour", [1.0])], progress=False)


@pytest.mark.parametrize("path", ["inference.chat.demand_scale", "leases.offer.periods", "inference.chat.demand",
                                  "training.run.generations", "sites.hall-1.deliveries"])
def test_a_list_field_is_refused_not_swept_into_invalid_points(path):
    """Each point set the list to one number: every point `invalid`, as if the sweep had run."""
    with pytest.raises(ValueError, match="a list, not a number"):
        sweep(parse_instance(TINY), [(path, [1.0, 2.0])], progress=False)


def test_serial_and_parallel_sweeps_agree(price_sweep):
    """Also after this process has solved (the serial sweep): forked workers would hang in HiGHS then."""
    parallel = sweep(parse_instance(TINY), [(PRICE, price_sweep[PRICE].tolist())], workers=2, progress=False)
    pd.testing.assert_frame_equal(parallel, price_sweep)


def test_csv_round_trip(tmp_path, price_sweep):
    frame = pd.concat([price_sweep, sweep(parse_instance(TINY), [(PRICE, [-1.0])], workers=1, progress=False)],
                      ignore_index=True)  # an invalid row: empty numbers, a note with quotes and commas
    target = tmp_path / "sweep.csv"
    write_csv(frame, target)
    pd.testing.assert_frame_equal(read_csv(target), frame, check_dtype=False)
    assert [p.name for p in tmp_path.iterdir()] == ["sweep.csv"]  # no temporary file left


def test_plot_writes_a_png(tmp_path, price_sweep):
    target = tmp_path / "sweep.png"
    plot(price_sweep, [PRICE], target)
    assert target.read_bytes()[:8] == PNG_MAGIC
    assert target.stat().st_size > 10_000
    assert [p.name for p in tmp_path.iterdir()] == ["sweep.png"]


# ----- two-parameter grids ------------------------------------------------------------------

MIN_UNITS = "inference.chat.min_units"


@pytest.fixture(scope="module")
def grid_sweep() -> pd.DataFrame:
    return sweep(parse_instance(TINY), [(PRICE, [1.0, 2.0, 3.0]), (MIN_UNITS, [0.0, 2.0, 4.0, 12.0])], workers=1,
                 progress=False)


def test_a_grid_solves_every_pair_with_both_columns(grid_sweep):
    """Hand: with the offer (8 GPUs), 2 GPUs serve at most 2 units, so min_units 4 rules the offer out and
    min_units 12 is infeasible (10 GPUs); otherwise the objective is max(34, 16p + 10) as in the 1-D sweep."""
    frame = grid_sweep
    assert list(frame.columns[:3]) == [PRICE, MIN_UNITS, "status"]
    assert list(zip(frame[PRICE], frame[MIN_UNITS])) == [(p, u) for p in (1.0, 2.0, 3.0) for u in (0, 2, 4, 12)]
    solved = frame[frame[MIN_UNITS] < 12]
    expected = [34.0 if u == 4 else max(34.0, 16 * p + 10) for p, u in zip(solved[PRICE], solved[MIN_UNITS])]
    assert solved["objective"].tolist() == pytest.approx(expected, rel=1e-9)
    assert frame.loc[frame[MIN_UNITS] == 12, "status"].eq("infeasible").all()
    assert regions(frame).tolist() == ["none", "none", "none", "infeasible", *(["offer", "offer", "none",
                                                                                "infeasible"] * 2)]


def test_a_grid_is_the_same_in_parallel(grid_sweep):
    axes = [(PRICE, [1.0, 2.0, 3.0]), (MIN_UNITS, [0.0, 2.0, 4.0, 12.0])]
    pd.testing.assert_frame_equal(sweep(parse_instance(TINY), axes, workers=2, progress=False), grid_sweep)


def test_grid_errors():
    inst = parse_instance(TINY)
    with pytest.raises(ValueError, match="each path may be varied once"):
        sweep(inst, [(PRICE, [1.0]), (PRICE, [2.0])], progress=False)
    with pytest.raises(ValueError, match="10,100 points, more than 10,000"):
        sweep(inst, [(PRICE, [1.0] * 101), (MIN_UNITS, [1.0] * 100)], progress=False)


def test_heatmap_png(tmp_path, grid_sweep):
    target = tmp_path / "grid.png"
    plot(grid_sweep, [PRICE, MIN_UNITS], target)
    assert target.read_bytes()[:8] == PNG_MAGIC and target.stat().st_size > 10_000
    assert [p.name for p in tmp_path.iterdir()] == ["grid.png"]


def test_heatmap_regions_are_outlined_and_labelled(grid_sweep):
    """Each connected region of one accepted set (or status) gets one label; boundaries run between cells."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    fig = Figure()
    _heatmap(fig, grid_sweep, [PRICE, MIN_UNITS])
    ax = fig.axes[0]
    # none: the price-1 column plus the min_units-4 row (one L-shaped region); offer: p 2..3 x u 0..2.
    assert sorted(t.get_text() for t in ax.texts) == ["infeasible", "none", "offer"]
    segments = ax.collections[-1].get_segments()
    assert len(segments) == 2 + 2 + 3  # offer|none across (2), offer|none up (2), solved|infeasible up (3)
    assert ax.xaxis.get_major_formatter()(2.0, 0) == "$2.00"  # a price: money on its axis
    assert not isinstance(ax.yaxis.get_major_formatter(), FuncFormatter)  # units: plain numbers


@pytest.mark.parametrize("path, money", [
    ("leases.x.price_per_gpu_hour", True), ("leases.x.price_per_gpu_hour.H100", True),
    ("leases.x.payment_per_period", True), ("sites.s.energy_price_per_mwh", True),
    ("training.run.value_per_unit_hour", True), ("sites.s.power_mw", False), ("horizon.discount_rate", False),
])
def test_money_axes(path, money):
    assert is_money(path) is money


def test_edges_surround_every_value():
    assert _edges(np.array([1.0, 2.0, 4.0])).tolist() == [0.5, 1.5, 3.0, 5.0]
    assert _edges(np.array([2.0])).tolist() == [1.0, 3.0]


# ----- the command --------------------------------------------------------------------------


def invoke(tmp_path: Path, *args: str, env: dict | None = None):
    instance = tmp_path / "tiny.yaml"
    instance.write_text(yaml.safe_dump(TINY))
    result = CliRunner().invoke(cli, ["sweep", str(instance), *args], env=env)
    assert "Traceback" not in result.output
    return result


def test_cli_grid_writes_both_columns_and_a_heatmap(tmp_path):
    result = invoke(tmp_path, "--vary", f"{PRICE}=1:3:1", "--vary", f"{MIN_UNITS}=0:4:2", "--workers", "1",
                    "-o", tmp_path / "g.csv")
    assert result.exit_code == 0, result.output
    frame = read_csv(tmp_path / "g.csv")
    assert list(frame.columns[:2]) == [PRICE, MIN_UNITS] and len(frame) == 9
    assert (tmp_path / "g.png").read_bytes()[:8] == PNG_MAGIC


@pytest.mark.parametrize("args, message", [
    (["--vary", f"{PRICE}=1:2:1"] * 3, "--vary: given 3 times; a sweep varies one or two parameters"),
    (["--vary", f"{PRICE}=1:2:1", "--workers", "2", "--cluster", "tcp://127.0.0.1:9"],
     "--workers 2: the cluster tcp://127.0.0.1:9 decides how many solves run at once"),
    (["--vary", f"{PRICE}=1:2:1", "--vary", f"{PRICE}=1:2:1"], "each path may be varied once"),
])
def test_cli_usage_errors(tmp_path, args, message):
    result = invoke(tmp_path, *args, "-o", tmp_path / "x.csv")
    assert result.exit_code == 2 and message in result.stderr
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.parametrize("how", ["option", "environment"])
def test_cli_unreachable_cluster_is_exit_2_naming_it_within_10_s(tmp_path, how):
    address = "tcp://127.0.0.1:9"
    start = time.monotonic()
    result = invoke(tmp_path, "--vary", f"{PRICE}=1:2:1", "-o", tmp_path / "x.csv",
                    *(["--cluster", address] if how == "option" else []),
                    env={"PLANNER_CLUSTER": address} if how == "environment" else None)
    assert time.monotonic() - start < 10
    assert result.exit_code == 2
    assert result.stderr.startswith(f"planner: cluster {address}: cannot reach a Dask scheduler there")
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.parametrize("outputs", [["-o", "table.png"], ["-o", "same.csv", "--plot", "same.csv"]])
def test_cli_refuses_one_file_for_the_table_and_the_plot(tmp_path, outputs):
    """`-o table.png` made the default plot path the table's: the PNG replaced the CSV, both reported written."""
    result = invoke(tmp_path, "--vary", f"{PRICE}=1:2:1", *[str(tmp_path / a) if not a.startswith("-") else a for a in outputs])
    assert result.exit_code == 2 and "given for two outputs" in result.stderr
    assert list(tmp_path.iterdir()) == [tmp_path / "tiny.yaml"]


def test_cli_plot_format_follows_the_suffix(tmp_path):
    """`--plot x.svg` wrote PNG bytes under that name; a suffix no plot format has is refused."""
    result = invoke(tmp_path, "--vary", f"{PRICE}=1:2:1", "--workers", "1", "-o", tmp_path / "t.csv", "--plot", tmp_path / "t.svg")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "t.svg").read_text().startswith("<?xml")
    result = invoke(tmp_path, "--vary", f"{PRICE}=1:2:1", "-o", tmp_path / "u.csv", "--plot", tmp_path / "u.jpg")
    assert result.exit_code == 2 and "not .jpg" in result.stderr and not (tmp_path / "u.csv").exists()


def test_a_path_every_scenario_sets_is_refused_and_one_some_set_is_swept():
    """The swept value never reached a plan when every scenario's `set` gave the field its own: the same
    objective at every point, as if the sweep had worked."""
    data = copy.deepcopy(TINY)
    data["uncertainty"] = {"scenarios": [{"name": "a", "probability": 0.5, "set": {PRICE: 1.0}},
                                         {"name": "b", "probability": 0.5, "set": {PRICE: 2.0}}]}
    with pytest.raises(ValueError, match="every scenario sets it"):
        sweep(parse_instance(data), [(PRICE, [1.0, 3.0])], workers=1, progress=False)
    del data["uncertainty"]["scenarios"][1]["set"]
    frame = sweep(parse_instance(data), [(PRICE, [1.0, 3.0])], workers=1, progress=False)
    assert frame["objective"].iloc[1] > frame["objective"].iloc[0]
