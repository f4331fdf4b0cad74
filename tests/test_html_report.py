"""The HTML report without a browser: self-contained, the views it shows, the CLI around it.
(tests/test_browser.py opens the same pages in headless Chromium.)"""

import json
import re

import pytest
from click.testing import CliRunner
from reports import COLOSSUS, TEACH, scenario_result, solved, teaching_with_scenarios

from planner import views
from planner.api import solve
from planner.cli import cli
from planner.evaluate import market_bands
from planner.htmlreport import offer_sentence, plan_sentence, render_plan
from planner.instance import load_instance


def test_page_loads_nothing_from_the_network():
    inst, doc = solved(TEACH)
    page = render_plan(doc, inst)
    assert re.search(r"<(script|link|img|iframe)[^>]*\b(src|href)\s*=", page) is None
    assert "Plotly" in page and len(page) > 1_000_000  # plotly.js itself is inlined


def test_sentence_names_accepted_and_rejected_leases_and_the_value():
    inst, doc = solved(TEACH)
    assert plan_sentence(doc, inst) == \
        "Accept long (32 GPUs); reject short; run chat internally: net value $288.00 over 2 periods (optimal)."


def test_consumers_of_the_teaching_instance_match_its_hand_optimum():
    # chat: demand 16 then 48 units (scale [1, 3]); the optimum serves all of it: 16 and 48 GPUs.
    inst, doc = solved(TEACH)
    (chat,) = views.consumers(doc, inst).to_dict("records")
    assert chat["placed"] and chat["demand_units"] == 32 and chat["served_units"] == 32 and chat["gpus"] == 32


def test_lease_price_against_the_market_band():
    inst, doc = solved(COLOSSUS)
    rows = views.leases(doc, inst).set_index("lease")
    anthropic = rows.loc["anthropic-colossus1"]
    assert anthropic["price_per_gpu_hour"] == pytest.approx(1.25e9 / (220016 * 730))
    bands = market_bands()
    assert anthropic["band_high"] == max(bands[g]["rent_on_demand_high"] for g in ("H100", "H200", "GB200"))
    assert anthropic["vs_band"] == ("above the band" if anthropic["price_per_gpu_hour"] > anthropic["band_high"]
                                    else "within the band")
    assert not rows.loc["google-110k", "accepted"] and rows.loc["google-110k", "block"] == "-"


def test_site_power_matches_the_solver_s():
    inst = load_instance(COLOSSUS)
    result = solve(inst)
    power = views.site_power(result.to_dict(), inst)
    # 150,000 x 1.1 + 50,000 x 1.1 + 20,016 x 1.7 kW, x PUE 1.15
    assert power["mw_drawn"].tolist() == pytest.approx([(200000 * 1.1 + 20016 * 1.7) * 1.15 / 1000] * 12)
    assert power["mw_drawn"].tolist() == pytest.approx(result.site_power["mw_drawn"].tolist())


def test_scenarios_get_their_values_split_and_distribution():
    inst, doc = scenario_result()
    assert plan_sentence(doc, inst).endswith(": objective F $201.60 over 2 periods and 2 scenarios (optimal).")
    page = render_plan(doc, inst)
    for needle in ('id="scenarios"', 'id="pick-scenario"', 'id="chart-scenarios"', "slump", "long ends at 1 (lessee)"):
        assert needle in page
    split = views.split_by_scenario(doc, inst).set_index("scenario")
    assert split.loc["high", "inference"] == 32 and split.loc["slump", "inference"] == 16
    assert split.loc["slump", "idle"] == 48 and split.loc["slump", "lease"] == 16
    power = views.site_power(doc, inst)
    assert set(power["scenario"]) == {"high", "slump"} and len(power) == 4


def test_report_refuses_a_result_that_fails_verification(tmp_path):
    _, doc = solved(TEACH)
    doc["allocations"][0]["gpus"] += 8
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    out = tmp_path / "r.html"
    result = CliRunner().invoke(cli, ["report", str(TEACH), str(bad), "--html", str(out)])
    assert result.exit_code == 1 and "violation" in result.output and not out.exists()


def test_report_needs_an_output():
    result = CliRunner().invoke(cli, ["report", str(TEACH)])
    assert result.exit_code == 2 and "--html" in result.output


def test_report_refuses_one_file_for_the_html_and_the_workbook(tmp_path):
    """The workbook silently replaced the HTML page, and both were reported written."""
    out = tmp_path / "same.xlsx"
    result = CliRunner().invoke(cli, ["report", str(TEACH), "--html", str(out), "--xlsx", str(out)])
    assert result.exit_code == 2 and "given for two outputs" in result.output and not out.exists()


def test_names_cannot_end_the_data_block_early(tmp_path):
    """A generation named `a<!--` and a site `b<script>` kept the browser's parser inside the data block past
    its `</script>` (only `</` was escaped): the app's script became data and no chart drew. Every < > &
    in the data is a JSON escape now, and the names come back whole."""
    text = TEACH.read_text().replace("name: GPU", "name: a<!--").replace("GPU: 80", "a<!--: 80")
    text = text.replace("name: hall", "name: b<script>")
    source = tmp_path / "odd.yaml"
    source.write_text(text)
    inst, doc = solved(source)
    page = render_plan(doc, inst)
    start = page.index('<script type="application/json" id="planner-data">')
    payload = page[page.index(">", start) + 1:page.index("</script>", start)]
    assert not set("<>&") & set(payload)
    text = json.dumps(json.loads(payload), ensure_ascii=False)
    assert '"a<!--"' in text and '"b<script>"' in text


def test_evaluate_html_has_the_offer_value_break_even_and_displaced(tmp_path):
    out = tmp_path / "e.html"
    result = CliRunner().invoke(cli, ["evaluate", str(TEACH), "long", "--format", "html", "-o", str(out)])
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert 'id="offer"' in page and "break-even price" in page and 'id="displaced"' in page


def test_sentence_counts_instead_of_listing_many_names():
    inst, doc = solved(TEACH)
    doc["leases"] = [{"name": f"l{k}", "accepted": k < 6, "gpus": 8 if k < 6 else 0, "revenue": 1.0} for k in range(8)]
    assert plan_sentence(doc, inst).startswith("Accept 6 leases (48 GPUs); reject l6 and l7; run chat internally: ")


def test_sentence_without_internal_use():
    inst, doc = solved(COLOSSUS)
    assert plan_sentence(doc, inst) == ("Accept anthropic-colossus1 (220,016 GPUs); reject google-110k; place no "
                                        "internal training or inference: net value $14.32B over 12 periods (optimal).")


def test_a_solved_scenario_plan_is_read_against_each_scenario_s_own_instance(tmp_path):
    # slump sets chat's demand_scale to [1, 1]: 16 units in each period, where growth has 16 then 48.
    inst, doc = solved(teaching_with_scenarios(tmp_path))
    chat = views.consumers(doc, inst).set_index("scenario")
    assert chat.loc["growth", "demand_units"] == 32 and chat.loc["slump", "demand_units"] == 16
    assert chat.loc["growth", "served_units"] == 32 and chat.loc["slump", "served_units"] == 16
    assert {s["name"] for s in doc["scenarios"]} == {"growth", "slump"}


def test_evaluate_with_scenarios_shows_each_scenario_and_the_plan_of_the_decision(tmp_path):
    source = teaching_with_scenarios(tmp_path)
    out, doc = tmp_path / "e.html", tmp_path / "e.json"
    for fmt, path in (("html", out), ("json", doc)):
        result = CliRunner().invoke(cli, ["evaluate", str(source), "long", "--format", fmt, "-o", str(path)])
        assert result.exit_code == 0, result.output
    ev = json.loads(doc.read_text())
    page = out.read_text()
    assert 'id="offer-scenarios"' in page and "probability that accepting loses" in page
    for s in ev["scenarios"]:
        assert f'data-value="{float(s["value"])!r}"' in page
    which = "with" if ev["decision"] == "accept" else "without"
    assert f"The plan {which} the offer" in page


def test_report_metrics_need_scenarios_and_a_fresh_solve(tmp_path):
    out = tmp_path / "r.html"
    result = CliRunner().invoke(cli, ["report", str(TEACH), "--html", str(out), "--metrics"])
    assert result.exit_code == 2 and "needs scenarios" in result.output
    source = teaching_with_scenarios(tmp_path)
    result = CliRunner().invoke(cli, ["report", str(source), "--html", str(out), "--metrics"])
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert ">evpi<" in page and ">vss<" in page


def test_a_run_not_placed_says_what_it_lacked():
    inst, doc = solved(COLOSSUS)
    frontier = views.consumers(doc, inst).set_index("consumer").loc["grok-frontier"]
    assert not frontier["placed"] and frontier["served_units"] == 0 and "worth less than the alternatives" in frontier["note"]


def test_a_signed_offer_is_honoured_in_the_sentence():
    inst = load_instance(TEACH)
    ev = {"offer": "long", "decision": "signed", "value": -5.0, "break_even_price": 1.6, "price_unit": "per GPU-hour",
          "block_gpus": 32}
    assert offer_sentence(ev, inst) == ("Honour the signed long: it is worth -$5.00 against the best alternative; "
                                        "break-even price 1.6000 per GPU-hour for a block of 32 GPUs.")
