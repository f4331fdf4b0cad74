"""The HTML report in a real browser (headless Chromium, driven by Playwright's Python package; no
browser download: Debian's `chromium`, which .ci/run installs). For colossus1, a teaching instance
and a result with scenarios: no console errors, every chart drawn, the decision and the numbers equal
to the JSON's, the pickers re-filter the chart; a screenshot of each is kept in test-artifacts/."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from browser import chromium, chromium_path
from click.testing import CliRunner
from playwright.sync_api import Browser, Page
from reports import COLOSSUS, ROOT, TEACH, scenario_result, solved, teaching_with_scenarios

from planner.cli import cli
from planner.htmlreport import plan_sentence, render_plan
from planner.instance import load_instance
from planner.report import money

ARTIFACTS = Path(os.environ.get("PLANNER_TEST_ARTIFACTS", ROOT / "test-artifacts"))


@pytest.fixture(scope="module")
def browser():
    if chromium_path() is None:
        pytest.fail("no Chromium: install Debian's `chromium` (`.ci/run` does) or set PLANNER_CHROMIUM")
    with chromium() as b:
        yield b


def open_report(browser: Browser, path: Path) -> tuple[Page, list[str]]:
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: errors.append(f"network request {r.url}") if not r.url.startswith("file:") else None)
    page.goto(path.as_uri())
    page.wait_for_function("[...document.querySelectorAll('.chart')].every(c => c.querySelector('.main-svg'))")
    return page, errors


def assert_charts_drawn(page: Page) -> list[str]:
    charts = page.eval_on_selector_all(".chart", """cs => cs.map(c => ({id: c.id,
        w: c.getBoundingClientRect().width, h: c.getBoundingClientRect().height,
        traces: c.querySelectorAll('.main-svg .trace').length,
        marks: c.querySelectorAll('.main-svg .point path, .main-svg .js-line').length}))""")
    for c in charts:
        assert c["w"] > 100 and c["h"] > 100 and c["traces"] > 0 and c["marks"] > 0, c
    return [c["id"] for c in charts]


def plotted_total(page: Page) -> float:
    """Sum of every bar of the GPUs chart, as the browser holds it."""
    return page.evaluate("document.getElementById('chart-gpus').data.reduce((a, t) => a + t.y.reduce((x, y) => x + y, 0), 0)")


def assert_numbers_equal_json(page: Page, doc: dict, inst) -> None:
    assert page.inner_text("#decision") == plan_sentence(doc, inst)
    assert money(doc["objective"], inst.currency) in page.inner_text("#decision")
    values = page.eval_on_selector_all("#value tbody tr", "rs => rs.map(r => [r.cells[0].textContent, "
                                       "parseFloat(r.cells[1].dataset.value)])")
    shown = dict(values)
    assert shown["net value (objective)"] == doc["objective"]
    assert shown["lease revenue"] == doc["breakdown"]["lease_revenue"]
    assert shown["energy cost"] == -doc["breakdown"]["energy_cost"]
    leases = page.eval_on_selector_all("#leases tbody tr", "rs => rs.map(r => [r.cells[0].textContent, "
                                       "r.cells[2].textContent, parseFloat(r.cells[3].dataset.value)])")
    assert leases == [[r["name"], "yes" if r["accepted"] else "no", r["gpus"]] for r in doc["leases"]]


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    assert (ARTIFACTS / f"{name}.png").stat().st_size > 10_000


def test_colossus1_report(browser, tmp_path):
    out = tmp_path / "colossus1.html"
    result = CliRunner().invoke(cli, ["report", str(COLOSSUS), "--html", str(out), "--duals"])
    assert result.exit_code == 0, result.output
    inst, doc = solved(COLOSSUS)
    page, errors = open_report(browser, out)
    assert errors == []
    assert assert_charts_drawn(page) == ["chart-value", "chart-gpus", "chart-power"]
    assert_numbers_equal_json(page, doc, inst)
    assert plotted_total(page) == sum(r["gpus"] for r in doc["allocations"])
    page.select_option("#pick-generation", "GB200")
    assert plotted_total(page) == 12 * 20016
    assert page.locator("#shadow-section").count() == 1
    screenshot(page, "report-colossus1")


def test_teaching_instance_report(browser, tmp_path):
    out = tmp_path / "teach.html"
    result = CliRunner().invoke(cli, ["solve", str(TEACH), "--format", "html", "-o", str(out)])
    assert result.exit_code == 0, result.output
    inst, doc = solved(TEACH)
    page, errors = open_report(browser, out)
    assert errors == []
    assert_charts_drawn(page)
    assert_numbers_equal_json(page, doc, inst)
    served = page.eval_on_selector_all("#consumers tbody td:nth-child(8)", "cs => cs.map(c => c.textContent)")
    assert served == ["32"]
    screenshot(page, "report-teach-lease-vs-inference")


def test_scenario_report(browser, tmp_path):
    inst, doc = scenario_result()
    out = tmp_path / "scenarios.html"
    out.write_text(render_plan(doc, inst), encoding="utf-8")
    page, errors = open_report(browser, out)
    assert errors == []
    assert assert_charts_drawn(page) == ["chart-value", "chart-scenarios", "chart-gpus", "chart-power"]
    v = page.evaluate("Array.from(document.getElementById('chart-scenarios')._fullData[0].y)")
    assert sorted(v) == [144.0, 288.0]
    high = sum(r["gpus"] for r in doc["allocations"] if r["scenario"] == "high" and r["use"] == "inference")
    slump = sum(r["gpus"] for r in doc["allocations"] if r["scenario"] == "slump" and r["use"] == "inference")
    inference = "document.getElementById('chart-gpus').data.find(t => t.name === 'inference').y.reduce((a, b) => a + b)"
    assert page.evaluate(inference) == high
    page.select_option("#pick-scenario", "slump")
    assert page.evaluate(inference) == slump != high
    screenshot(page, "report-scenarios")


def test_solved_scenario_report(browser, tmp_path):
    source = teaching_with_scenarios(tmp_path)
    plan = tmp_path / "plan.json"
    assert CliRunner().invoke(cli, ["solve", str(source), "--format", "json", "-o", str(plan)]).exit_code == 0
    out = tmp_path / "scenarios.html"
    result = CliRunner().invoke(cli, ["report", str(source), str(plan), "--html", str(out)])
    assert result.exit_code == 0, result.output
    doc = json.loads(plan.read_text())
    page, errors = open_report(browser, out)
    assert errors == []
    assert_charts_drawn(page)
    assert_numbers_equal_json(page, doc, load_instance(source))
    v = page.evaluate("Array.from(document.getElementById('chart-scenarios')._fullData[0].y)")
    assert sorted(v) == sorted(s["objective"] for s in doc["scenarios"])
    for name in ("growth", "slump"):
        page.select_option("#pick-scenario", name)
        assert plotted_total(page) == sum(r["gpus"] for r in doc["allocations"] if r["scenario"] == name)
    screenshot(page, "report-teach-scenarios")


def test_evaluation_report(browser, tmp_path):
    out, doc = tmp_path / "evaluate.html", tmp_path / "evaluate.json"
    for fmt, path in (("html", out), ("json", doc)):
        result = CliRunner().invoke(cli, ["evaluate", str(TEACH), "long", "--format", fmt, "-o", str(path)])
        assert result.exit_code == 0, result.output
    ev = json.loads(doc.read_text())
    page, errors = open_report(browser, out)
    assert errors == []
    assert_charts_drawn(page)
    assert page.inner_text("#decision").startswith(f"Accept long: it is worth {money(ev['value'])} ")
    shown = dict(page.eval_on_selector_all("#offer tr", "rs => rs.map(r => [r.cells[0].textContent, "
                                                         "parseFloat(r.cells[1].dataset.value)])"))
    assert shown["value of the offer"] == ev["value"]
    assert shown["break-even price (per GPU-hour)"] == ev["break_even_price"]
    assert page.locator("#displaced tbody tr").count() == len(ev["displaced"]) > 0


def test_names_with_markup_still_draw_every_chart(browser, tmp_path):
    """A generation `a<!--` and a site `b<script>` turned the page's app script into data: no chart drew."""
    text = TEACH.read_text().replace("name: GPU", "name: a<!--").replace("GPU: 80", "a<!--: 80")
    source = tmp_path / "odd.yaml"
    source.write_text(text.replace("name: hall", "name: b<script>"))
    out = tmp_path / "odd.html"
    result = CliRunner().invoke(cli, ["solve", str(source), "--format", "html", "-o", str(out)])
    assert result.exit_code == 0, result.output
    page, errors = open_report(browser, out)
    assert errors == []
    assert assert_charts_drawn(page) == ["chart-value", "chart-gpus", "chart-power"]
    assert "b<script>" in page.inner_text("body")
