"""`explain` and `planner explain`: instances built to conflict, and the lines that must name the conflict."""

import yaml
from click.testing import CliRunner

from planner import parse_instance, solve
from planner.cli import cli
from planner.explain import explain

A = {"name": "A", "power_kw": 1.0, "node_size": 8, "train_speed": 1.0, "infer_speed": 1.0}

# (1) Power: s1 has 10 MW (PUE 1). The signed lease `contract` takes exactly 6,000 GPUs there (1 kW each:
# 6 MW) and the required run `big-run` needs 6,000 units = 6,000 GPUs at s1 (6 MW): 12 MW > 10 MW, in both
# periods. GPUs are plentiful (20,000), and s2 has power but neither consumer may go there.
POWER_CONFLICT = {
    "name": "x-power",
    "horizon": {"periods": 2},
    "generations": [A],
    "sites": [{"name": "s1", "power_mw": 10, "inventory": {"A": 20000}},
              {"name": "s2", "power_mw": 50, "inventory": {"A": 800}}],
    "training": [{"name": "big-run", "value_per_unit_hour": 1.0, "min_units": 6000, "required": True,
                  "sites": ["s1"]}],
    "leases": [{"name": "contract", "price_per_gpu_hour": 1.0, "signed": True, "all_or_nothing": True,
                "max_gpus": 6000, "sites": ["s1"]}],
}

# (2) Two signed leases in the same group: at most one may be accepted, yet both must be. Capacity is ample.
GROUP_CONFLICT = {
    "name": "x-group",
    "generations": [A],
    "sites": [{"name": "s1", "power_mw": 10, "inventory": {"A": 64}}],
    "leases": [{"name": "l1", "price_per_gpu_hour": 1.0, "signed": True, "max_gpus": 8, "group": "g"},
               {"name": "l2", "price_per_gpu_hour": 1.0, "signed": True, "max_gpus": 8, "group": "g"}],
}

# (3) Inference min_units: pool `serve` may only use A (2 serving units per GPU, 40 GPUs: at most 80 units);
# it needs 100 units in period 0 and 100 x 1.5 = 150 in period 1. The 1,000 B GPUs are not allowed.
POOL_CONFLICT = {
    "name": "x-pool",
    "horizon": {"periods": 2},
    "generations": [dict(A, node_size=1, infer_speed=2.0), dict(A, name="B", node_size=1)],
    "sites": [{"name": "s1", "power_mw": 10, "inventory": {"A": 40, "B": 1000}}],
    "inference": [{"name": "serve", "generations": ["A"], "min_units": 100, "demand_scale": [1.0, 1.5],
                   "demand": [{"units": 100, "value_per_unit_hour": 1.0}]}],
}

FEASIBLE = {
    "name": "x-ok",
    "generations": [A],
    "sites": [{"name": "s1", "power_mw": 10, "inventory": {"A": 800}}],
    "training": [{"name": "run", "value_per_unit_hour": 1.0, "min_units": 400, "required": True}],
    "leases": [{"name": "contract", "price_per_gpu_hour": 1.0, "signed": True, "all_or_nothing": True,
                "max_gpus": 400}],
}


def test_power_conflict_names_site_megawatts_and_both_consumers():
    d = explain(parse_instance(POWER_CONFLICT))
    assert not d.feasible
    # Dropping either requirement makes the rest feasible: the smallest relaxation names exactly one.
    [requirement] = d.requirements
    assert requirement in ("required training run big-run (min_units 6,000) cannot be placed",
                           "signed lease contract (exactly 6,000 GPUs) cannot be honoured")
    [shortfall] = d.shortfalls
    assert shortfall.startswith("site s1, periods 0, 1: 10 MW available, 12 MW needed by ")
    assert "required training run big-run (6 MW)" in shortfall
    assert "signed lease contract (6 MW)" in shortfall
    assert "s2" not in shortfall


def test_a_signed_lease_alone_over_power_is_the_requirement():
    """Only one requirement: a signed all_or_nothing lease of 12,000 GPUs (12 MW) at a 10 MW site."""
    data = {**POWER_CONFLICT, "training": [],
            "leases": [{**POWER_CONFLICT["leases"][0], "name": "big", "max_gpus": 12000}]}
    d = explain(parse_instance(data))
    assert d.requirements == ["signed lease big (exactly 12,000 GPUs) cannot be honoured"]
    assert d.shortfalls == ["site s1, periods 0, 1: 10 MW available, 12 MW needed by signed lease big (12 MW)"]


def test_two_signed_leases_in_one_group():
    d = explain(parse_instance(GROUP_CONFLICT))
    assert not d.feasible
    [requirement] = d.requirements
    assert requirement in ("signed lease l1 (0 to 8 GPUs) cannot be honoured",
                           "signed lease l2 (0 to 8 GPUs) cannot be honoured")
    # More capacity would not help: the rules (a group) forbid it; the capacity relaxation is infeasible
    # too, which cannot tell that from a requirement beyond 10 times the fleet, so both are said.
    assert d.shortfalls == [] and d.capacity == "beyond"
    assert any("contradict the rules themselves" in line for line in d.lines())


def test_inference_min_units_beyond_the_allowed_generations():
    d = explain(parse_instance(POOL_CONFLICT))
    assert not d.feasible
    assert d.requirements == [
        "inference pool serve, period 0: min_units needs 100 serving units, at most 80 can be provided",
        "inference pool serve, period 1: min_units needs 150 serving units, at most 80 can be provided",
    ]


def test_inventory_shortfall_of_a_single_consumer():
    """POOL_CONFLICT needs 50 A GPUs in period 0 (100 units / 2) and 75 in period 1, with 40 installed."""
    d = explain(parse_instance(POOL_CONFLICT))
    assert d.shortfalls == [
        "site s1, period 0: 40 usable A GPUs, 50 needed by inference pool serve (50 GPUs)",
        "site s1, period 1: 40 usable A GPUs, 75 needed by inference pool serve (75 GPUs)",
    ]
    assert not any("would not help" in line for line in d.lines())


def test_a_requirement_beyond_ten_times_the_fleet_is_not_called_a_time_limit_or_a_rule_conflict():
    """A signed lease of exactly 100,000 GPUs on 64: the capacity relaxation (up to 10x the GPUs per consumer)
    is infeasible too. It said "Cut short by the time limit" (after a fraction of a second) and "More power
    or GPUs would not help", both false."""
    big = {"name": "x-big", "generations": [A], "sites": [{"name": "s1", "power_mw": 10, "inventory": {"A": 64}}],
           "leases": [{"name": "big", "price_per_gpu_hour": 1.0, "signed": True, "all_or_nothing": True, "max_gpus": 100000}]}
    d = explain(parse_instance(big))
    text = "\n".join(d.lines())
    assert d.feasible is False and d.unfinished == [] and "big" in d.requirements[0]
    assert "Even unlimited power and up to 10 times the GPUs" in text
    assert "Cut short" not in text and "would not help" not in text


def test_an_explain_cut_short_claims_nothing_about_capacity():
    d = explain(parse_instance(POWER_CONFLICT), time_limit=1e-4)
    assert d.unfinished and not any("would not help" in line for line in d.lines())


def test_inventory_shortfall_shared_by_two_consumers():
    """800 GPUs, ample power; a required run of 600 units and a signed lease of exactly 600 GPUs: 1,200 needed."""
    data = {**FEASIBLE, "training": [{**FEASIBLE["training"][0], "min_units": 600}],
            "leases": [{**FEASIBLE["leases"][0], "max_gpus": 600}]}
    d = explain(parse_instance(data))
    assert not d.feasible and len(d.requirements) == 1
    [shortfall] = d.shortfalls
    assert shortfall.startswith("site s1, period 0: 800 usable A GPUs, 1,200 needed by ")
    assert "required training run run (600 GPUs)" in shortfall and "signed lease contract (600 GPUs)" in shortfall


def test_feasible_instance():
    inst = parse_instance(FEASIBLE)
    d = explain(inst)
    assert d.feasible and d.requirements == [] and d.shortfalls == []
    assert d.lines() == ["the instance is feasible: every requirement can be met"]
    assert solve(inst).status.value == "optimal"


# ----- CLI -------------------------------------------------------------------------------------------

def invoke(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    assert "Traceback" not in result.output
    return result


def write(tmp_path, data):
    path = tmp_path / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_cli_explain_infeasible_exits_1(tmp_path):
    result = invoke("explain", write(tmp_path, POWER_CONFLICT))
    assert result.exit_code == 1
    assert "infeasible" in result.stdout
    assert "10 MW available, 12 MW needed" in result.stdout


def test_cli_explain_feasible_exits_0(tmp_path):
    result = invoke("explain", write(tmp_path, FEASIBLE))
    assert result.exit_code == 0
    assert "feasible" in result.stdout


def test_cli_solve_infeasible_points_to_explain(tmp_path):
    path = write(tmp_path, GROUP_CONFLICT)
    result = invoke("solve", path)
    assert result.exit_code == 1
    assert f"planner explain {path}" in result.stderr
    assert "infeasible" in result.stderr


def test_cli_solve_feasible_has_no_hint(tmp_path):
    result = invoke("solve", write(tmp_path, FEASIBLE))
    assert result.exit_code == 0
    assert "planner explain" not in result.stderr


def test_iis_of_the_lp_relaxation_names_the_conflicting_rows():
    """A signed lease of exactly 120,000 GPUs at 1.25 kW needs 150 MW; the site has 100 MW. Even with
    fractional nodes the power row, the lease's size and its signature conflict: HiGHS's IIS says so."""
    data = {
        "name": "lp-conflict",
        "generations": [{"name": "H100", "power_kw": 1.25, "node_size": 8, "train_speed": 1, "infer_speed": 1}],
        "sites": [{"name": "memphis-1", "power_mw": 100, "inventory": {"H100": 240000}}],
        "leases": [{"name": "lab-x", "price_per_gpu_hour": 2, "min_gpus": 120000, "max_gpus": 120000,
                    "signed": True}],
    }
    d = explain(parse_instance(data))
    assert d.iis == ["power (s memphis-1, t 0)", "lease_size", "lease_signed (lease lab-x)"]
    assert d.shortfalls == ["site memphis-1, period 0: 100 MW available, 150 MW needed by signed lease lab-x (150 MW)"]


def test_a_feasible_instance_has_no_iis():
    assert explain(parse_instance(FEASIBLE)).iis == []
