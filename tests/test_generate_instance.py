"""scripts/generate_instance.py: fleets are reproducible, families change their structure, and the
scenario knobs (SPEC section 6) give valid, feasible scenario instances that honour each knob."""

from __future__ import annotations

import hashlib
import json

import pytest
from generated import generator

from planner import load_instance, parse_instance, solve
from planner.scenarios import cases

gen = generator()


def digest(instance: dict) -> str:
    return hashlib.sha256(json.dumps(instance).encode()).hexdigest()[:16]


def scenario_sets(instance: dict) -> list[dict]:
    return [sc.get("set", {}) for sc in instance["uncertainty"]["scenarios"]]


@pytest.mark.parametrize("size,seed,expected", [("S", 0, "c80d5337bb716cf9"), ("M", 0, "c379a6a7d89e5c7e"),
                                                ("M", 1, "5e66cb6aaceec246")])
def test_default_fleets_are_unchanged(size, seed, expected):
    """The benchmark table and the M-instance test are measured on these exact fleets."""
    assert digest(gen.generate(size, seed)) == expected


def test_the_same_knobs_and_seed_give_the_same_instance():
    knobs = {"size": "S", "scenarios": 4, "family": "lessor"}
    assert gen.generate(knobs, 3) == gen.generate(knobs, 3)
    assert gen.generate(knobs, 3) != gen.generate(knobs, 4)


def test_scenario_knobs_leave_the_fleet_unchanged():
    plain = gen.generate("M", 0)
    with_scenarios = gen.generate({"size": "M", "scenarios": 5, "terminations": 0.0}, 0)
    assert with_scenarios.pop("uncertainty")["scenarios"]
    for key in ("name", "description"):
        assert with_scenarios.pop(key) != plain.pop(key)
    assert with_scenarios == plain


@pytest.mark.parametrize("size,scenarios,family,seed", [
    ("S", 1, "mixed", 0), ("S", 5, "lessor", 1), ("S", 3, "training", 2), ("S", 20, "inference", 0),
    ("M", 5, "mixed", 0),
])
def test_scenario_instances_are_valid_per_spec_section_6(size, scenarios, family, seed):
    """parse_instance validates `uncertainty` and every scenario's own instance (planner.scenarios)."""
    data = gen.generate({"size": size, "scenarios": scenarios, "family": family, "exits": 0.3, "power_cuts": 0.3}, seed)
    inst = parse_instance(data, data["name"])
    probs = [sc.probability for sc in inst.uncertainty.scenarios]
    assert len(probs) == scenarios and min(probs) > 0 and sum(probs) == pytest.approx(1.0, abs=1e-9)
    assert [c.name for c in cases(inst)] == [sc.name for sc in inst.uncertainty.scenarios]
    assert inst.uncertainty.reveal_period == inst.T // 4


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_scenario_of_a_stressed_fleet_is_feasible(seed):
    """Power cut at every site in every scenario, every lessee walking, extreme demand and prices: the
    witness of the hard commitments still fits, so each scenario's instance has a plan (the greedy
    plan, verified, proves it). Termination rights are the operator's option: they cannot make a
    scenario infeasible."""
    knobs = {"size": "S", "scenarios": 4, "power_cuts": 1.0, "exits": 1.0, "terminations": 0.0,
             "demand_spread": 0.95, "price_spread": 0.95}
    inst = parse_instance(gen.generate(knobs, seed))
    for case in cases(inst):
        plan = solve(case.instance, solver="greedy")
        assert plan.status.has_solution and plan.verified, case.name


def test_power_is_never_cut_below_the_witness_share_and_floors_never_grow():
    data = gen.generate({"size": "M", "scenarios": 10, "power_cuts": 1.0, "demand_spread": 0.9}, 0)
    power = {site["name"]: site["power_mw"] for site in data["sites"]}
    pools = {pool["name"]: pool for pool in data["inference"]}
    reveal = data["uncertainty"]["reveal_period"]
    for fields in scenario_sets(data):
        cuts = {path.split(".")[1]: mw for path, mw in fields.items() if path.startswith("sites.")}
        assert set(cuts) == set(power)
        assert all(gen.HARD_SHARE * power[s] <= mw <= 0.9 * power[s] + 0.1 for s, mw in cuts.items())
        for name, pool in pools.items():
            scale = fields[f"inference.{name}.demand_scale"]
            assert scale[:reveal] == pool["demand_scale"][:reveal]
            if pool.get("min_units"):
                assert all(new <= old for new, old in zip(scale, pool["demand_scale"]))


@pytest.mark.parametrize("spread", [0.0, 0.25])
def test_multipliers_stay_within_their_spread(spread):
    data = gen.generate({"size": "M", "scenarios": 8, "demand_spread": spread, "price_spread": spread}, 1)
    base = {("inference", p["name"]): p["demand_scale"] for p in data["inference"]}
    base |= {("training", r["name"]): r["value_per_unit_hour"] for r in data["training"]}
    for fields in scenario_sets(data):
        for path, value in fields.items():
            section, name = path.split(".")[:2]
            if section == "inference":
                ratios = [new / old for new, old in zip(value, base[section, name]) if old]
                assert all(1 - spread - 1e-3 <= r <= 1 + spread + 1e-3 for r in ratios), path
            elif section == "training":
                assert abs(value / base[section, name] - 1) <= spread + 0.01 / base[section, name] + 1e-9, path


def test_knobs_at_zero_turn_their_feature_off():
    data = gen.generate({"size": "M", "scenarios": 6, "power_cuts": 0.0, "exits": 0.0, "terminations": 0.0}, 0)
    assert not any(path.startswith("sites.") for fields in scenario_sets(data) for path in fields)
    assert not any("lessee_exits" in sc for sc in data["uncertainty"]["scenarios"])
    assert not any("termination" in lease for lease in data["leases"])


def test_exits_and_termination_rights_fall_inside_the_terms():
    data = gen.generate({"size": "M", "scenarios": 6, "exits": 1.0, "terminations": 1.0}, 2)
    T, reveal = data["horizon"]["periods"], data["uncertainty"]["reveal_period"]
    terms = {lease["name"]: range(*lease.get("periods", (0, T))) for lease in data["leases"]}
    long_terms = {name for name, term in terms.items() if len(term) >= 2}
    assert {lease["name"] for lease in data["leases"] if "termination" in lease} == long_terms
    for lease in data["leases"]:
        right, term = lease.get("termination"), terms[lease["name"]]
        if right:
            assert 0 <= right["notice_periods"] <= 3 and right["fee"] >= 0
            assert term.start < right.get("earliest_period", term.start + 1) < term.stop
    for sc in data["uncertainty"]["scenarios"]:
        assert sc["lessee_exits"]
        for name, e in sc["lessee_exits"].items():
            assert max(terms[name].start + 1, reveal) <= e < terms[name].stop


@pytest.mark.parametrize("family", list(gen.FAMILIES))
def test_families_split_the_consumers_by_their_shares(family):
    knobs, _ = gen.resolve_knobs({"size": "M", "family": family})
    train_share, infer_share = gen.FAMILIES[family]
    assert (knobs.training, knobs.inference) == (round(train_share * 60), round(infer_share * 60))
    assert knobs.training + knobs.inference + knobs.leases == 60
    data = gen.generate({"size": "M", "family": family}, 0)
    assert len(data["inference"]) == knobs.inference and len(data["leases"]) == knobs.leases
    assert data["name"] == ("synthetic-M-seed0" if family == "mixed" else f"synthetic-M-{family}-seed0")
    parse_instance(data)


def test_explicit_counts_win_over_the_family():
    knobs, _ = gen.resolve_knobs({"size": "S", "family": "lessor", "leases": 2})
    assert knobs.leases == 2 and knobs.family == "lessor"


@pytest.mark.parametrize("knobs,message", [
    ({"scenarios": -1}, "scenarios -1 < 0"),
    ({"scenarios": 2, "demand_spread": 1.0}, r"demand_spread 1.0 is outside \[0, 1\)"),
    ({"scenarios": 2, "exits": 1.5}, r"exits 1.5 is outside \[0, 1\]"),
    ({"scenarios": 2, "reveal_period": 5}, r"reveal_period 5 is outside 0..4"),
    ({"family": "hyperscaler"}, "unknown family 'hyperscaler'"),
])
def test_bad_knobs_are_refused(knobs, message):
    with pytest.raises(ValueError, match=message):
        gen.generate({"size": "S", **knobs}, 0)


@pytest.mark.parametrize("suffix", ["yaml", "json"])
def test_command_line_writes_a_valid_scenario_instance(tmp_path, suffix):
    out = tmp_path / f"fleet.{suffix}"
    gen.main(["--size", "S", "--family", "training", "--scenarios", "3", "--reveal-period", "2", "-o", str(out)])
    inst = load_instance(out)
    assert inst.name == "synthetic-S-training-3sc-seed0"
    assert len(inst.uncertainty.scenarios) == 3 and inst.uncertainty.reveal_period == 2


def test_command_line_refuses_a_bad_knob_with_exit_2(capsys):
    with pytest.raises(SystemExit) as stop:
        gen.main(["--size", "S", "--scenarios", "2", "--price-spread", "1.5"])
    assert stop.value.code == 2
    assert "price_spread 1.5 is outside [0, 1)" in capsys.readouterr().err
