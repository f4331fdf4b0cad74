"""Diffing two plans: exact deltas from two solves with hand-derived optima, and from hand-made results.

The instance (same as in test_sweep.py): two 1-hour periods, 10 GPUs, energy 0.1 per GPU-hour (all
10 run in both plans: energy 2 over the horizon); inference 4 units at 3.0, training at 1.0, and an
offer of exactly 8 GPUs at p per GPU-hour.
  p = 1: rejected (8p + 5 = 13 < 17 per hour): chat 4 GPUs, run 6 GPUs;
         objective 2 x 17 = 34 = training 12 + inference 24 - energy 2.
  p = 2: accepted (8p + 5 = 21 > 17): offer 8 GPUs, chat 2 GPUs;
         objective 2 x 21 = 42 = lease 32 + inference 12 - energy 2.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from planner import parse_instance, solve
from planner.cli import cli
from planner.diff import diff_results, diff_sections
from planner.report import render_markdown, render_table

ROOT = Path(__file__).resolve().parent.parent
TINY = {
    "name": "diff-tiny",
    "horizon": {"periods": 2, "period_hours": 1},
    "generations": [{"name": "A", "power_kw": 1.0, "node_size": 2, "train_speed": 1.0, "infer_speed": 1.0}],
    "sites": [{"name": "hall", "power_mw": 1.0, "energy_price_per_mwh": 100.0, "inventory": {"A": 10}}],
    "training": [{"name": "run", "value_per_unit_hour": 1.0}],
    "inference": [{"name": "chat", "demand": [{"units": 4, "value_per_unit_hour": 3.0}]}],
    "leases": [{"name": "offer", "price_per_gpu_hour": 1.0, "all_or_nothing": True, "max_gpus": 8}],
}


def solved(price: float) -> dict:
    data = copy.deepcopy(TINY)
    data["leases"][0]["price_per_gpu_hour"] = price
    return solve(parse_instance(data)).to_dict()


@pytest.fixture(scope="module")
def diff() -> dict:
    return diff_results(solved(1.0), solved(2.0))


def test_value_deltas(diff):
    assert diff["instance"] == "diff-tiny"
    assert diff["status"] == {"a": "optimal", "b": "optimal"}
    assert diff["objective"] == pytest.approx({"a": 34.0, "b": 42.0, "delta": 8.0})
    assert diff["breakdown"] == {
        "lease_revenue": pytest.approx({"a": 0.0, "b": 32.0, "delta": 32.0}),
        "training_value": pytest.approx({"a": 12.0, "b": 0.0, "delta": -12.0}),
        "inference_value": pytest.approx({"a": 24.0, "b": 12.0, "delta": -12.0}),
        "energy_cost": pytest.approx({"a": 2.0, "b": 2.0, "delta": 0.0}),
    }


def test_gpu_and_lease_changes(diff):
    moved = sorted(diff["gpus"], key=lambda r: r["use"])
    assert moved == [
        {"site": "hall", "generation": "A", "use": "inference", "gpus_a": 4.0, "gpus_b": 2.0, "delta": -2.0},
        {"site": "hall", "generation": "A", "use": "lease", "gpus_a": 0.0, "gpus_b": 8.0, "delta": 8.0},
        {"site": "hall", "generation": "A", "use": "training", "gpus_a": 6.0, "gpus_b": 0.0, "delta": -6.0},
    ]  # idle is 0 in both plans: not a change
    assert diff["leases"] == [pytest.approx({
        "name": "offer", "accepted_a": False, "accepted_b": True, "gpus_a": 0, "gpus_b": 8,
        "revenue_a": 0.0, "revenue_b": 32.0, "revenue_delta": 32.0,
    })]


def test_sections_render(diff):
    parts = diff_sections(diff, labels=("p=1", "p=2"))
    assert [p.title for p in parts] == ["diff-tiny: p=1 -> p=2 (change = p=2 - p=1)",
                                        "GPUs that moved (average over periods)", "Leases that changed"]
    value = parts[0].frame.set_index("term")
    assert value.loc["objective"].tolist() == ["$34.00", "$42.00", "+$8.00"]
    assert value.loc["training value"].tolist() == ["$12.00", "$0.00", "-$12.00"]
    assert value.loc["status", "change"] == ""
    assert parts[2].frame.iloc[0].tolist() == ["offer", "no -> yes", "0 -> 8", "$0.00", "$32.00", "+$32.00"]
    table = render_table(parts)
    assert "+$8.00" in table and "-6" in table
    assert "| offer | no -> yes | 0 -> 8 | $0.00 | $32.00 | +$32.00 |" in render_markdown(parts)


def row(period: int, use: str, gpus: int, consumer: str | None = None) -> dict:
    return {"period": period, "site": "s", "generation": "A", "use": use, "consumer": consumer, "gpus": gpus}


def result(objective: float | None, allocations: list[dict], leases: list[dict], status: str = "optimal",
           name: str = "hand") -> dict:
    return {"instance": name, "status": status, "objective": objective, "best_bound": objective, "mip_gap": 0.0,
            "solver": "highs", "solve_seconds": 0.0,
            "breakdown": {"lease_revenue": 0.0, "training_value": objective or 0.0, "inference_value": 0.0,
                          "energy_cost": 0.0},
            "allocations": allocations, "leases": leases, "warnings": []}


def test_hand_made_results_average_over_periods():
    """Three periods: training 4, 4, 4 (avg 4) against 4, 4, 1 (avg 3); idle 0, 0, 0 against 0, 0, 3 (avg 1)."""
    kept = {"name": "kept", "accepted": True, "gpus": 2, "revenue": 5.0}
    a = result(10.0, [row(t, "training", 4, "run") for t in range(3)], [kept])
    b = result(9.0, [row(0, "training", 4, "run"), row(1, "training", 4, "run"), row(2, "training", 1, "run"),
                     row(2, "idle", 3)], [kept, {"name": "new", "accepted": False, "gpus": 0, "revenue": 0.0}])
    d = diff_results(a, b)
    assert d["objective"] == {"a": 10.0, "b": 9.0, "delta": -1.0}
    assert d["gpus"] == [
        {"site": "s", "generation": "A", "use": "training", "gpus_a": 4.0, "gpus_b": 3.0, "delta": -1.0},
        {"site": "s", "generation": "A", "use": "idle", "gpus_a": 0.0, "gpus_b": 1.0, "delta": 1.0},
    ]
    # `kept` did not change; `new` exists only in b, so its a-side is None (not a false 0).
    assert d["leases"] == [{"name": "new", "accepted_a": None, "accepted_b": False, "gpus_a": None, "gpus_b": 0,
                            "revenue_a": None, "revenue_b": 0.0, "revenue_delta": None}]


def test_a_side_without_a_solution_has_no_numbers():
    a = result(None, [], [], status="infeasible")
    b = result(3.0, [row(0, "training", 4, "run")], [])
    d = diff_results(a, b)
    assert d["status"] == {"a": "infeasible", "b": "optimal"}
    assert d["objective"] == {"a": None, "b": 3.0, "delta": None}
    assert d["breakdown"]["training_value"] == {"a": None, "b": 3.0, "delta": None}  # not the document's 0.0
    assert d["gpus"] == [{"site": "s", "generation": "A", "use": "training", "gpus_a": None, "gpus_b": 4.0,
                          "delta": None}]
    value = diff_sections(d)[0].frame.set_index("term")
    assert value.loc["status"].tolist() == ["infeasible", "optimal", "changed"]
    assert value.loc["objective"].tolist() == ["-", "$3.00", "-"]


def test_results_of_different_instances_are_refused():
    with pytest.raises(ValueError, match="cannot compare results of different instances: 'one' and 'two'"):
        diff_results(result(1.0, [], [], name="one"), result(1.0, [], [], name="two"))


def test_a_document_that_is_not_a_result_is_refused():
    with pytest.raises(ValueError, match="result b: not a planner result: .*breakdown: expected a mapping.*"
                                         "allocations: expected a list.*leases: expected a list"):
        diff_results(result(1.0, [], []), {"instance": "hand", "status": "optimal", "objective": 1.0, "breakdown": {}})
    with pytest.raises(ValueError, match="result a: not a planner result: expected a result document"):
        diff_results([], result(1.0, [], []))


MALFORMED = {
    "allocations-not-a-list": (lambda r: r.update(allocations=5), "allocations: expected a list, got 5"),
    "row-not-a-mapping": (lambda r: r["allocations"].__setitem__(0, 5), "allocations[0].period: unexpected None"),
    "gpus-a-string": (lambda r: r["allocations"][0].update(gpus="many"), "allocations[0].gpus: unexpected 'many'"),
    "missing-site": (lambda r: r["allocations"][0].pop("site"), "allocations[0].site: unexpected None"),
    "lease-entry-without-accepted": (lambda r: r["leases"][0].pop("accepted"), "leases[0].accepted: unexpected None"),
    "objective-a-string": (lambda r: r.update(objective="3"), "objective: expected a number, got '3'"),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_results_exit_2_naming_the_field(tmp_path, case):
    edit, message = MALFORMED[case]
    good = result(3.0, [row(0, "training", 4, "run")], [{"name": "l", "accepted": True, "gpus": 0, "revenue": 0.0}])
    bad = copy.deepcopy(good)
    edit(bad)
    (tmp_path / "a.json").write_text(json.dumps(good))
    (tmp_path / "b.json").write_text(json.dumps(bad))
    out = CliRunner().invoke(cli, ["diff", str(tmp_path / "a.json"), str(tmp_path / "b.json")])
    assert out.exit_code == 2, out.output
    assert f"{tmp_path / 'b.json'}: not a planner result: {message}" in out.stderr  # the file, not "result b"


def test_deeply_nested_result_exits_2(tmp_path):
    (tmp_path / "a.json").write_text('{"status": "optimal", "description": ' + "[" * 100_000 + "]" * 100_000 + "}")
    for command in (["diff", str(tmp_path / "a.json"), str(tmp_path / "a.json")],
                    ["verify", str(ROOT / "instances" / "teach_power_bound.yaml"), str(tmp_path / "a.json")]):
        out = CliRunner().invoke(cli, command)
        assert out.exit_code == 2, out.output
        assert "nested deeper than" in out.stderr


def scenario_result(p_none: float) -> dict:
    """TINY at price 1 under two scenarios: `none` has no chat demand (the run takes all 10 GPUs), `full`
    the usual 4 units (chat 4 GPUs, run 6)."""
    data = copy.deepcopy(TINY)
    data["uncertainty"] = {"scenarios": [
        {"name": "none", "probability": p_none, "set": {"inference.chat.demand_scale": [0, 0]}},
        {"name": "full", "probability": 1 - p_none},
    ]}
    return solve(parse_instance(data)).to_dict()


def test_with_scenarios_the_split_is_the_expected_one_and_the_sweep_agrees():
    """p(none) 0.25: chat 0.75 x 4 = 3 GPUs, run 0.25 x 10 + 0.75 x 6 = 7; p(none) 0.5: chat 2, run 8.
    Summed over scenarios both read chat 4 and run 16 GPUs (of 10), and the diff showed no change."""
    from planner.sweep import sweep

    d = diff_results(scenario_result(0.25), scenario_result(0.5))
    moved = {r["use"]: (r["gpus_a"], r["gpus_b"]) for r in d["gpus"]}
    assert moved == {"inference": pytest.approx((3, 2)), "training": pytest.approx((7, 8))}
    data = copy.deepcopy(TINY) | {"uncertainty": {"scenarios": [
        {"name": "none", "probability": 0.25, "set": {"inference.chat.demand_scale": [0, 0]}}, {"name": "full", "probability": 0.75}]}}
    row = sweep(parse_instance(data), [("sites.hall.power_mw", [1.0])], workers=1, progress=False).iloc[0]
    assert (row["gpus_inference"], row["gpus_training"], row["gpus_idle"]) == pytest.approx((3, 7, 0))
