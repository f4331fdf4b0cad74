"""Reports that answer the planner's next question: what happened to each training run and inference
pool, the split per period in instance order, warnings in one line, shadow-price tables that say what
they leave out, money with its currency. Every number derived by hand on a tiny instance."""

import json

from click.testing import CliRunner

from planner import parse_instance, solve
from planner.cli import cli
from planner.evaluate import evaluate_offer
from planner.report import evaluation_sections, money, render_markdown, sections

A = {"name": "A", "power_kw": 1.0, "node_size": 1, "train_speed": 1.0, "infer_speed": 1.0}
B = {"name": "B", "power_kw": 1.0, "node_size": 1, "train_speed": 2.0, "infer_speed": 1.0}


def instance(**parts) -> dict:
    return {"name": "report", "horizon": {"periods": 1, "period_hours": 10}, "generations": [A, B], **parts}


def outcome(data: dict, run: str) -> dict:
    plan = solve(parse_instance(data))
    assert plan.status.value == "optimal"
    [row] = [r for r in plan.to_dict()["consumers"]["training"] if r["run"] == run]
    return row


# ----- training runs: placed, or what they lacked --------------------------------------------------

# Two sites, 40 B each (80 units at one site); 64 A at s1 (64 units). Homogeneous and single-site, the run
# reaches at most 80 units (all B at one site): min_units 100 cannot be met, though the fleet has 224 units.
TWO_SITES = [{"name": "s1", "power_mw": 10, "inventory": {"A": 64, "B": 40}},
             {"name": "s2", "power_mw": 10, "inventory": {"B": 40}}]


def test_a_run_that_lacks_gpus_of_one_generation_at_one_site():
    row = outcome(instance(sites=TWO_SITES, training=[{"name": "big", "value_per_unit_hour": 5, "min_units": 100}]),
                  "big")
    assert (row["placed"], row["gpus"], row["lacked"]) == (False, 0, "gpus")
    assert row["why"] == ("GPUs: at most 80 units from the GPUs it may use (one generation, one site, "
                          "best B at s1); it needs 100 units")


def test_a_run_with_no_gpu_it_may_use():
    row = outcome(instance(sites=TWO_SITES, training=[{"name": "gb", "value_per_unit_hour": 5, "generations": []}]),
                  "gb")
    assert row["lacked"] == "gpus"
    assert row["why"] == ("GPUs: none of the GPUs it may use (one generation, one site) is there throughout its term; "
                          "it needs one node")


def test_the_same_run_mixed_across_sites_is_placed_at_the_slowest_pace():
    """Mixed over both sites: at pace 2 (B only) 80 B GPUs x 2.0 = 160 units; at pace 1 (A and B) 144 GPUs x 1.0
    = 144 units. The run takes the 80 B: 160 units per period."""
    run = {"name": "big", "value_per_unit_hour": 5, "min_units": 100, "homogeneous": False, "single_site": False}
    row = outcome(instance(sites=TWO_SITES, training=[run]), "big")
    assert (row["placed"], row["gpus"], row["units"]) == (True, 80, 160.0)
    assert (row["generations"], row["sites"], row["lacked"]) == (["B"], ["s1", "s2"], None)


def test_a_run_that_lacks_power():
    """200 A GPUs give 200 units, but 0.08 MW runs 80 of them (1 kW each, PUE 1): 80 < 100 units."""
    row = outcome(instance(sites=[{"name": "s1", "power_mw": 0.08, "inventory": {"A": 200}}],
                           training=[{"name": "big", "value_per_unit_hour": 5, "min_units": 100}]), "big")
    assert row["lacked"] == "power"
    assert row["why"] == ("power: its GPUs give 200 units but site power runs at most 80 of them (A at s1); "
                          "it needs 100 units")


def test_a_run_worth_less_than_a_lease_names_who_took_its_gpus():
    """The run is worth 1.0 per unit-hour, the lease pays 5.0 per GPU-hour for every GPU: the 64 A and 40 B at
    s1 go to the lease, though the run would fit (all 40 B: 80 units)."""
    row = outcome(instance(sites=TWO_SITES[:1], training=[{"name": "small", "value_per_unit_hour": 1, "min_units": 10}],
                           leases=[{"name": "rent", "price_per_gpu_hour": 5.0}]), "small")
    assert row["lacked"] == "value"
    assert row["why"] == ("worth less than the alternatives: up to 80 units fit (B at s1), "
                          "but its GPUs went to lease rent (104 GPUs)")


# ----- inference: served and unserved per tier and period -------------------------------------------

# 16 A GPUs (1 unit each). Tiers as written: 10 units at 3.0, 20 at 1.0, 5 at -1.0 (never served).
# demand_scale [1, 0.5]. Period 0: 16 units of capacity serve 10 + 6; unserved 0, 14, 5.
# Period 1: demand 5, 10, 2.5: served 5, 10, 0; unserved 0, 0, 2.5.
POOL = instance(horizon={"periods": 2, "period_hours": 10},
                sites=[{"name": "s1", "power_mw": 10, "inventory": {"A": 16}}],
                inference=[{"name": "chat", "demand_scale": [1, 0.5], "demand": [
                    {"units": 10, "value_per_unit_hour": 3.0}, {"units": 20, "value_per_unit_hour": 1.0},
                    {"units": 5, "value_per_unit_hour": -1.0}]}])


def test_inference_served_and_unserved_per_tier_and_period():
    rows = solve(parse_instance(POOL)).to_dict()["consumers"]["inference"]
    got = [(r["period"], r["tier"], r["demand"], r["served"], r["unserved"]) for r in rows]
    assert got == [(0, 0, 10, 10, 0), (0, 1, 20, 6, 14), (0, 2, 5, 0, 5),
                   (1, 0, 5, 5, 0), (1, 1, 10, 10, 0), (1, 2, 2.5, 0, 2.5)]


def test_inference_table_merges_equal_periods_only():
    inst = parse_instance(POOL)
    text = render_markdown([s for s in sections(solve(inst), inst) if s.title.startswith("Inference")])
    assert "| chat | $3.00 | 0 | 10 | 10 | 0 |" in text and "| chat | $1.00 | 0 | 20 | 6 | 14 |" in text
    assert "| chat | -$1.00 | 1 | 2.5 | 0 | 2.5 |" in text


# ----- the split per period, whole GPUs, instance order ----------------------------------------------

# Sites written z-site then a-site, generations B then A (not alphabetical). z-site: 8 B, from period 2 also
# 3 A; a-site: 5 A. Inference 100 units at 2.0 takes every GPU. Periods 0-1 share a split, 2-3 another.
ORDERED = {
    "name": "ordered", "horizon": {"periods": 4, "period_hours": 10}, "generations": [B, A],
    "sites": [{"name": "z-site", "power_mw": 10, "inventory": {"B": 8},
               "deliveries": [{"period": 2, "generation": "A", "gpus": 3}]},
              {"name": "a-site", "power_mw": 10, "inventory": {"A": 5}}],
    "inference": [{"name": "chat", "demand": [{"units": 100, "value_per_unit_hour": 2.0}]}],
}


def test_split_per_period_blocks_in_instance_order_with_whole_gpus():
    inst = parse_instance(ORDERED)
    [split] = [s for s in sections(solve(inst), inst) if s.title.startswith("Split")]
    rows = [tuple(r) for r in split.frame[["periods", "site", "generation", "use", "GPUs", "GPU-hours"]].to_numpy()]
    assert rows == [
        ("0-1", "z-site", "B", "inference: chat", "8", "160"),
        ("0-1", "a-site", "A", "inference: chat", "5", "100"),
        ("2-3", "z-site", "B", "inference: chat", "8", "160"),
        ("2-3", "z-site", "A", "inference: chat", "3", "60"),
        ("2-3", "a-site", "A", "inference: chat", "5", "100"),
    ]


def test_site_power_per_period():
    """z-site draws 8 kW, then 11 kW from period 2; a-site 5 kW throughout (MW shown to 0.1: 0.0)."""
    inst = parse_instance(dict(ORDERED, sites=[dict(ORDERED["sites"][0], power_mw=0.011), ORDERED["sites"][1]]))
    [power] = [s for s in sections(solve(inst), inst) if s.title.startswith("Site power")]
    assert [tuple(r) for r in power.frame[["site", "periods"]].to_numpy()] == [
        ("z-site", "0-1"), ("z-site", "2-3"), ("a-site", "0-3")]


# ----- warnings, shadow prices, currency ----------------------------------------------------------

def test_stranded_gpus_are_one_warning_line_across_periods():
    """10 A in nodes of 8: 2 stranded in each of 12 periods, then 4 after a delivery of 2 at period 6."""
    inst = parse_instance({
        "name": "stranded", "horizon": {"periods": 12}, "generations": [dict(A, node_size=8)],
        "sites": [{"name": "s1", "power_mw": 1, "inventory": {"A": 10},
                   "deliveries": [{"period": 6, "generation": "A", "gpus": 2}]}]})
    line = "site s1: 2 A GPUs stranded in periods 0-5, 4 in periods 6-11 (installed GPUs beyond whole nodes of node_size 8)"
    assert inst.warnings() == [line]


def shadow_sections(data: dict) -> dict:
    inst = parse_instance(data)
    plan = solve(inst, duals=True)
    return {s.title: s.frame for s in sections(plan, inst) if s.title.startswith("Shadow prices")}


def test_all_zero_power_prices_are_said_and_a_long_table_says_it_is_truncated():
    """25 periods, 4 A GPUs serving demand beyond them and power ample: every power dual is 0; every
    period's node dual is positive (25 of them), of which the table shows 20."""
    tables = shadow_sections(instance(horizon={"periods": 25, "period_hours": 10},
                                      sites=[{"name": "s1", "power_mw": 10, "inventory": {"A": 4}}],
                                      inference=[{"name": "chat", "demand": [{"units": 100, "value_per_unit_hour": 2.0}]}]))
    power = tables["Shadow prices: one more MW of facility power for a period (local)"]
    note = "every power shadow price is zero (25 of them): one more MW at any site adds nothing in any period"
    assert list(power["note"]) == [note]
    [nodes] = [frame for title, frame in tables.items() if "node" in title]
    [title] = [title for title in tables if "node" in title]
    assert title.endswith("(local) (top 20 of 25 non-zero)")  # B has no GPUs at s1: no price for it
    assert len(nodes) == 20 and nodes["value_per_node"].str.startswith("$").all()


def test_money_carries_its_currency_in_every_evaluate_figure():
    """EUR instance, per-GPU offer: break-even and implied price show EUR, not a bare number."""
    data = instance(currency="EUR", sites=[{"name": "s1", "power_mw": 10, "inventory": {"A": 8}}],
                    inference=[{"name": "chat", "demand": [{"units": 100, "value_per_unit_hour": 2.0}]}],
                    leases=[{"name": "rent", "price_per_gpu_hour": 3.0, "max_gpus": 8}])
    inst = parse_instance(data)
    ev = evaluate_offer(inst, "rent")
    rows = dict(zip(evaluation_sections(ev, inst)[0].frame[""], evaluation_sections(ev, inst)[0].frame["value"]))
    assert rows["break-even price (per GPU-hour)"] == "EUR 2.0000"
    assert rows["implied price per GPU-hour"] == "EUR 3.00"
    assert rows["value of the offer"] == "EUR 80.00"  # (3.0 - 2.0) x 8 GPUs x 10 h
    displaced = evaluation_sections(ev, inst)[-1].frame
    assert list(zip(displaced["use"], displaced["change"])) == [("inference", "-8"), ("lease", "+8")]  # uses in order


def test_cli_json_carries_the_consumers_and_markdown_shows_them(tmp_path):
    path = tmp_path / "runs.json"
    path.write_text(json.dumps(instance(sites=TWO_SITES, training=[
        {"name": "big", "value_per_unit_hour": 5, "min_units": 100}])))
    result = CliRunner().invoke(cli, ["solve", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    consumers = json.loads(result.stdout)["consumers"]
    assert [r["run"] for r in consumers["training"]] == ["big"] and consumers["inference"] == []
    result = CliRunner().invoke(cli, ["solve", str(path), "--format", "markdown"])
    assert "### Training runs (per period of their term)" in result.stdout
    assert "| no | big | 0 | 0 |  | GPUs: at most 80 units" in result.stdout


def test_placed_and_unplaced_runs_in_one_document_are_strict_json(tmp_path):
    """A placed run has no `lacked`: null, not NaN (pandas 3 turned the None of a text column into NaN,
    and `--format json` wrote `"lacked": NaN`, which JSON parsers refuse)."""
    runs = [{"name": "fits", "value_per_unit_hour": 5, "min_units": 10},
            {"name": "big", "value_per_unit_hour": 5, "min_units": 100}]
    path = tmp_path / "two_runs.json"
    path.write_text(json.dumps(instance(sites=TWO_SITES, training=runs)))
    result = CliRunner().invoke(cli, ["solve", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    def refuse(word: str) -> None:
        raise AssertionError(f"{word} is not JSON")
    document = json.loads(result.stdout, parse_constant=refuse)
    rows = {row["run"]: row for row in document["consumers"]["training"]}
    assert rows["fits"]["placed"] and (rows["fits"]["lacked"], rows["fits"]["why"]) == (None, None)
    assert (rows["big"]["placed"], rows["big"]["lacked"]) == (False, "gpus")


def test_a_long_per_period_table_says_it_is_truncated():
    """210 periods whose demand alternates between 4 and 2 units: even periods have one row (4 GPUs serve),
    odd ones two (2 serve, 2 idle, as energy costs): 105 x 3 = 315 rows, no two neighbours alike. The
    table shows 200 and says so."""
    data = instance(horizon={"periods": 210, "period_hours": 1},
                    sites=[{"name": "s1", "power_mw": 10, "energy_price_per_mwh": 100, "inventory": {"A": 4}}],
                    inference=[{"name": "chat", "demand_scale": [1, 0.5] * 105,
                                "demand": [{"units": 4, "value_per_unit_hour": 2.0}]}])
    inst = parse_instance(data)
    [split] = [s for s in sections(solve(inst), inst) if s.title.startswith("Split")]
    assert split.title.endswith("(first 200 of 315 rows; --format json has them all)")
    assert len(split.frame) == 200 and list(split.frame["periods"][:3]) == ["0", "1", "1"]


def test_money_shows_no_minus_sign_on_a_value_that_rounds_to_zero() -> None:
    assert money(-1.9e-6) == "$0.00"  # a VSS of -1.9e-6 (solver rounding) is not a loss
    assert money(-0.004) == "$0.00"
    assert money(-0.01) == "-$0.01"
    assert money(-2.5e9) == "-$2.50B"
