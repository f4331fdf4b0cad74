"""Shadow prices of site power and inventory: equal to the hand value and to a re-solve's finite difference
on instances where the LP dual is exact (node size 1, linear values, spare demand, spare GPUs)."""

import json

import pytest
import yaml
from click.testing import CliRunner

from planner import parse_instance, solve
from planner.cli import cli
from planner.results import SHADOW_PRICE_NOTE

H = 730
RATE = 0.1
W = [(1 + RATE) ** (-t * H / 8760) for t in range(2)]  # discount weights of periods 0 and 1

# One generation A: 1 kW, node 1, 1.5 serving units per GPU. Inference: 5,000 units at 2.0, so a running
# GPU earns 1.5 x 2.0 = 3.0 per hour; demand is never exhausted below (see the numbers).
# s1: 2 MW, PUE 1.25, 80 USD/MWh, 4,000 GPUs. A GPU draws 1.25 kW facility: 1,600 run, power binds,
#     2,400 GPUs spare. Energy 1.25 kW x 80 = 0.10 per GPU-hour: net 2.90 per GPU-hour.
#     +1 MW = +800 GPUs running = 800 x 2.90 = 2,320 per hour (= 800 x 3.0 - 1 MW x 80) -> per period t
#     the power dual is 2,320 x 730 x w_t = 1,693,600 x w_t; inventory there is slack: dual 0.
# s2: 10 MW (0.1 MW used: slack, power dual 0), PUE 1, 40 USD/MWh, 100 GPUs: all run, GPUs bind.
#     +1 node (1 GPU) = 3.0 - 0.04 = 2.96 per hour -> inventory dual 2.96 x 730 x w_t = 2,160.8 x w_t.
# Units served: (1,600 + 100) x 1.5 = 2,550; with +1 MW at s1, (2,400 + 100) x 1.5 = 3,750; with +1 GPU at
# s2, 2,551.5: all below 5,000, and s1 keeps 1,600 spare GPUs after +1 MW, so the finite differences stay
# on the same linear piece as the duals.
POWER_MW_VALUE = 2320 * H
NODE_VALUE_S2 = 2.96 * H
DUALS = {
    "name": "duals",
    "horizon": {"periods": 2, "period_hours": H, "discount_rate": RATE},
    "generations": [{"name": "A", "power_kw": 1.0, "node_size": 1, "train_speed": 1.0, "infer_speed": 1.5}],
    "sites": [
        {"name": "s1", "power_mw": 2, "pue": 1.25, "energy_price_per_mwh": 80, "inventory": {"A": 4000}},
        {"name": "s2", "power_mw": 10, "pue": 1.0, "energy_price_per_mwh": 40, "inventory": {"A": 100}},
    ],
    "inference": [{"name": "chat", "demand": [{"units": 5000, "value_per_unit_hour": 2.0}]}],
}


def objective(data) -> float:
    plan = solve(parse_instance(data))
    assert plan.status.value == "optimal"
    return plan.objective


def edited(**site_changes) -> dict:
    """DUALS with site fields changed: edited(s1={"power_mw": 3})."""
    data = json.loads(json.dumps(DUALS))
    for site in data["sites"]:
        site.update(site_changes.get(site["name"], {}))
    return data


@pytest.fixture(scope="module")
def prices():
    plan = solve(parse_instance(DUALS), duals=True)
    assert plan.status.value == "optimal"
    assert plan.objective == pytest.approx((1600 * 2.9 + 100 * 2.96) * H * sum(W), rel=1e-9)
    return plan.shadow_prices


def power_dual(prices, site, t):
    p = prices["power"]
    [value] = p.loc[(p["site"] == site) & (p["period"] == t), "value_per_mw"]
    return value


def node_dual(prices, site, gen, t):
    p = prices["inventory"]
    [value] = p.loc[(p["site"] == site) & (p["generation"] == gen) & (p["period"] == t), "value_per_node"]
    return value


def test_frames_have_the_documented_columns(prices):
    assert list(prices["power"].columns) == ["site", "period", "value_per_mw"]
    assert list(prices["inventory"].columns) == ["site", "generation", "period", "value_per_node"]
    assert len(prices["power"]) == 4 and len(prices["inventory"]) == 4  # 2 sites x 2 periods x 1 generation


def test_binding_power_dual_is_the_hand_value_per_period(prices):
    for t in range(2):
        assert power_dual(prices, "s1", t) == pytest.approx(POWER_MW_VALUE * W[t], rel=1e-9)


def test_binding_power_dual_equals_the_finite_difference(prices):
    """power_mw applies to every period, so +1 MW is worth the sum of the per-period duals."""
    difference = objective(edited(s1={"power_mw": 3})) - objective(DUALS)
    assert difference == pytest.approx(POWER_MW_VALUE * sum(W), rel=1e-9)
    assert power_dual(prices, "s1", 0) + power_dual(prices, "s1", 1) == pytest.approx(difference, rel=1e-9)


def test_slack_constraints_have_zero_duals(prices):
    for t in range(2):
        assert power_dual(prices, "s2", t) == 0.0
        assert node_dual(prices, "s1", "A", t) == 0.0


def test_binding_inventory_dual_is_the_hand_value_and_the_finite_difference(prices):
    for t in range(2):
        assert node_dual(prices, "s2", "A", t) == pytest.approx(NODE_VALUE_S2 * W[t], rel=1e-9)
    difference = objective(edited(s2={"inventory": {"A": 101}})) - objective(DUALS)
    assert difference == pytest.approx(NODE_VALUE_S2 * sum(W), rel=1e-9)
    assert node_dual(prices, "s2", "A", 0) + node_dual(prices, "s2", "A", 1) == pytest.approx(difference, rel=1e-9)


# A node of 8 GPUs: B 1 kW, node 8, 1 serving unit; 80 GPUs (10 nodes), ample power, 50 USD/MWh, PUE 1.
# Inference 1,000 units at 2.0: every GPU runs, net 2.0 - 0.05 = 1.95 per GPU-hour = 15.6 per node-hour.
# One period of 730 h: inventory dual = 15.6 x 730 = 11,388 per node; +8 GPUs (one node) is worth the same.
NODES = {
    "name": "duals-nodes",
    "horizon": {"periods": 1, "period_hours": H},
    "generations": [{"name": "B", "power_kw": 1.0, "node_size": 8, "train_speed": 1.0, "infer_speed": 1.0}],
    "sites": [{"name": "s", "power_mw": 5, "energy_price_per_mwh": 50, "inventory": {"B": 80}}],
    "inference": [{"name": "chat", "demand": [{"units": 1000, "value_per_unit_hour": 2.0}]}],
}


def test_inventory_dual_is_per_node_of_node_size_gpus():
    prices = solve(parse_instance(NODES), duals=True).shadow_prices
    assert node_dual(prices, "s", "B", 0) == pytest.approx(15.6 * H, rel=1e-9)
    assert power_dual(prices, "s", 0) == 0.0
    more = json.loads(json.dumps(NODES))
    more["sites"][0]["inventory"]["B"] = 88
    assert objective(more) - objective(NODES) == pytest.approx(15.6 * H, rel=1e-9)


def test_no_shadow_prices_unless_asked():
    plan = solve(parse_instance(NODES))
    assert plan.shadow_prices is None and "shadow_prices" not in plan.to_dict()


def test_cli_duals_json(tmp_path):
    path = tmp_path / "duals.yaml"
    path.write_text(yaml.safe_dump(DUALS, sort_keys=False))
    result = CliRunner().invoke(cli, ["solve", str(path), "--duals", "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    sp = doc["shadow_prices"]
    assert set(sp) == {"note", "power", "inventory"}
    assert sp["note"] == SHADOW_PRICE_NOTE and "local" in sp["note"]
    power = {(r["site"], r["period"]): r["value_per_mw"] for r in sp["power"]}
    assert power[("s1", 1)] == pytest.approx(POWER_MW_VALUE * W[1], rel=1e-9) and power[("s2", 0)] == 0.0
    nodes = {(r["site"], r["generation"], r["period"]): r["value_per_node"] for r in sp["inventory"]}
    assert nodes[("s2", "A", 0)] == pytest.approx(NODE_VALUE_S2, rel=1e-9)
    plain = CliRunner().invoke(cli, ["solve", str(path), "--format", "json"])
    assert "shadow_prices" not in json.loads(plain.stdout)


def test_inventory_dual_of_a_generation_held_whole_by_one_pool():
    """instances/teach_power_bound.yaml: all 40 NEW GPUs serve (the optimum's only NEW consumer) and power
    binds. One more NEW GPU would serve 4 units (4.0 USD/h) on 2 kW taken from 2 leased OLD GPUs (2 x 1.5):
    +1.0 USD/h, energy unchanged. A re-solve with 41 NEW: 164 + 27 - 12.5 = 178.5 = 177.5 + 1.0."""
    from pathlib import Path

    from planner import load_instance

    inst = load_instance(Path(__file__).resolve().parent.parent / "instances" / "teach_power_bound.yaml")
    prices = solve(inst, duals=True).shadow_prices
    assert node_dual(prices, "hall", "NEW", 0) == pytest.approx(1.0, rel=1e-9)
    assert node_dual(prices, "hall", "OLD", 0) == 0.0  # 80 OLD idle
    more = inst.model_copy(deep=True)
    more.sites[0].inventory = {"OLD": 100, "NEW": 41}
    assert solve(more).objective - solve(inst).objective == pytest.approx(1.0, rel=1e-9)


# A site that may be leased whole: 10 GPUs (node 1, 1 kW, PUE 1, 100 USD/MWh: 0.10 per GPU-hour of energy,
# the operator's), inference 100 units at 2.0 (net 1.90 per GPU-hour), one 1-hour period, and a whole_sites
# lease paying P per period for every GPU there.
def whole_site(payment: float, gpus: int = 10) -> dict:
    return {
        "name": "duals-whole-site",
        "horizon": {"periods": 1, "period_hours": 1},
        "generations": [{"name": "A", "power_kw": 1.0, "node_size": 1, "train_speed": 1.0, "infer_speed": 1.0}],
        "sites": [{"name": "s1", "power_mw": 10, "energy_price_per_mwh": 100, "inventory": {"A": gpus}}],
        "inference": [{"name": "chat", "demand": [{"units": 100, "value_per_unit_hour": 2.0}]}],
        "leases": [{"name": "site", "payment_per_period": payment, "whole_sites": True, "sites": ["s1"]}],
    }


def test_inventory_dual_when_a_whole_site_lease_is_rejected():
    """P = 5 < 10 x 1.9: the lease is rejected and inference holds all 10 GPUs; one more GPU serves: +1.9."""
    prices = solve(parse_instance(whole_site(5)), duals=True).shadow_prices
    assert node_dual(prices, "s1", "A", 0) == pytest.approx(1.9, rel=1e-9)
    assert objective(whole_site(5, 11)) - objective(whole_site(5)) == pytest.approx(1.9, rel=1e-9)


def test_inventory_dual_when_a_whole_site_lease_is_accepted():
    """P = 1000: accepted, all 10 GPUs leased, nothing else at s1. One more GPU must go to the lease too
    (every usable GPU), earning nothing more and costing 0.1 of energy: 999.0 -> 998.9. N also sits in
    the lease's rows (x = N * accepted), so this checks that their share reaches the inventory dual."""
    assert objective(whole_site(1000, 11)) - objective(whole_site(1000)) == pytest.approx(-0.1, rel=1e-9)
    prices = solve(parse_instance(whole_site(1000)), duals=True).shadow_prices
    assert node_dual(prices, "s1", "A", 0) == pytest.approx(-0.1, rel=1e-9)
