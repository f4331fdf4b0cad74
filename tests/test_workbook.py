"""Excel: export -> import gives the same instance for every shipped one; a bad cell is named by sheet,
row and column (exit 2); result workbooks hold numbers as numbers, with formats and frozen headers."""

import zipfile
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from openpyxl import load_workbook
from reports import teaching_with_scenarios

from planner.cli import cli
from planner.instance import InstanceError, load_instance
from planner.workbook import export_workbook, import_workbook

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "instances").glob("*.yaml"))
COLOSSUS = ROOT / "instances" / "colossus1.yaml"
SITES_KNOWN = "known: name, power_mw, pue, energy_price_per_mwh, and one per generation of sheet Generations"


def exported(tmp_path: Path, source: Path = COLOSSUS) -> Path:
    path = tmp_path / "fleet.xlsx"
    path.write_bytes(export_workbook(load_instance(source)))
    return path


@pytest.mark.parametrize("source", SHIPPED, ids=lambda p: p.stem)
def test_round_trip_gives_an_equal_instance(tmp_path, source):
    out = tmp_path / "back.yaml"
    runner = CliRunner()
    assert runner.invoke(cli, ["export", str(source), "-o", str(tmp_path / "w.xlsx")]).exit_code == 0
    result = runner.invoke(cli, ["import", str(tmp_path / "w.xlsx"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert load_instance(out).model_dump() == load_instance(source).model_dump()


def test_round_trip_keeps_scenarios_and_termination_rights(tmp_path):
    inst = load_instance(teaching_with_scenarios(tmp_path))
    inst.leases[0].termination = {"notice_periods": 1, "fee": 5.0}
    path = tmp_path / "w.xlsx"
    path.write_bytes(export_workbook(inst))
    back = import_workbook(str(path))
    assert back.uncertainty is not None and back.leases[0].termination is not None
    assert back.model_dump() == inst.model_dump()


def test_template_has_one_inventory_column_per_generation(tmp_path):
    wb = load_workbook(exported(tmp_path))
    assert {"Instance", "Generations", "Sites", "Deliveries", "Training", "Inference", "Leases"} <= set(wb.sheetnames)
    header = [c.value for c in wb["Sites"][1]]
    assert header[-3:] == ["H100", "H200", "GB200"]
    assert [c.value for c in wb["Sites"][2]][-3:] == [150000, 50000, 20016]


def edit(path: Path, sheet: str, column: str, row: int, value) -> None:
    wb = load_workbook(path)
    header = [c.value for c in wb[sheet][1]]
    wb[sheet].cell(row=row, column=header.index(column) + 1, value=value)
    wb.save(path)


def test_bad_cell_exits_2_naming_sheet_row_and_column(tmp_path):
    path = exported(tmp_path)
    edit(path, "Generations", "power_kw", 3, -1)  # H200
    edit(path, "Sites", "H100", 2, "lots")
    result = CliRunner().invoke(cli, ["import", str(path), "-o", str(tmp_path / "x.yaml")])
    assert result.exit_code == 2
    assert "sheet Generations, row 3, column B (power_kw): -1 is outside the supported range 0 or [0.001, 1000]" \
        in result.output
    assert "sheet Sites, row 2, column" in result.output and "(H100)" in result.output and "'lots'" in result.output
    assert not (tmp_path / "x.yaml").exists()


def test_inventory_column_of_an_unknown_generation_is_named(tmp_path):
    path = exported(tmp_path)
    wb = load_workbook(path)
    wb["Sites"].cell(row=1, column=wb["Sites"].max_column + 1, value="B300")
    wb["Sites"].cell(row=2, column=wb["Sites"].max_column, value=72)
    wb.save(path)
    with pytest.raises(InstanceError) as err:
        import_workbook(str(path))
    assert err.value.problems == [("sheet Sites, column H (B300)",
                                   f"unknown column 'B300' ({SITES_KNOWN}: H100, H200, GB200)")]


def set_cells(path: Path, sheet: str, cells: dict[str, object]) -> None:
    wb = load_workbook(path)
    for coordinate, value in cells.items():
        wb[sheet][coordinate] = value
    wb.save(path)


def cache_formula_results(path: Path, results: dict[str, str]) -> None:
    """Store a result next to each formula, as Excel does when it saves (openpyxl stores none)."""
    with zipfile.ZipFile(path) as z:
        parts = {name: z.read(name) for name in z.namelist()}
    cached = set()
    with zipfile.ZipFile(path, "w") as z:
        for name, data in parts.items():
            for formula, result in results.items():
                if f"<f>{formula}</f><v />".encode() in data:
                    data = data.replace(f"<f>{formula}</f><v />".encode(), f"<f>{formula}</f><v>{result}</v>".encode())
                    cached.add(formula)
            z.writestr(name, data)
    assert cached == set(results)


@pytest.mark.parametrize("cached", [False, True], ids=["openpyxl", "excel"])
def test_formula_cell_is_named_not_read_as_blank_or_as_its_cached_result(tmp_path, cached):
    path = exported(tmp_path)
    set_cells(path, "Sites", {"C2": "=1.5*1", "B2": "=300*1"})  # pue (has a default), power_mw (required)
    if cached:
        cache_formula_results(path, {"1.5*1": "1.5", "300*1": "300"})
    result = CliRunner().invoke(cli, ["import", str(path), "-o", str(tmp_path / "x.yaml")])
    assert result.exit_code == 2
    assert "sheet Sites, row 2, column C (pue): a formula (=1.5*1); enter the value itself" in result.output
    assert "sheet Sites, row 2, column B (power_mw): a formula (=300*1); enter the value itself" in result.output
    assert "Field required" not in result.output and not (tmp_path / "x.yaml").exists()


def test_text_starting_with_equals_is_written_as_text_and_comes_back(tmp_path):
    data = yaml.safe_load((ROOT / "instances" / "teach_discounting.yaml").read_text())
    data["description"] = "=1+1"
    data["generations"][0]["name"] = "=GPU"  # also a header of sheet Sites
    data["sites"][0] = {**data["sites"][0], "name": "=SUM(A1:A2)", "inventory": {"=GPU": 8}}
    for lease in data["leases"]:
        lease["group"] = "=deal"
    source = tmp_path / "eq.yaml"
    source.write_text(yaml.safe_dump(data))
    runner = CliRunner()
    for args in (["export", str(source), "-o", str(tmp_path / "w.xlsx")],
                 ["import", str(tmp_path / "w.xlsx"), "-o", str(tmp_path / "back.yaml")],
                 ["solve", str(source), "--format", "xlsx", "-o", str(tmp_path / "plan.xlsx")]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, result.output
    assert load_instance(tmp_path / "back.yaml").model_dump() == load_instance(source).model_dump()
    for written in ("w.xlsx", "plan.xlsx"):
        cells = [c for ws in load_workbook(tmp_path / written) for row in ws.iter_rows() for c in row]
        assert [c.coordinate for c in cells if c.data_type == "f"] == []
        assert "=SUM(A1:A2)" in {c.value for c in cells}


@pytest.mark.parametrize("sheet, cells, problem", [
    ("Generations", {"I1": "power_kw", "I2": 5},
     ("sheet Generations, column I (power_kw)", "duplicate column 'power_kw' (also column B)")),
    ("Generations", {"J2": 99}, ("sheet Generations, row 2, column J", "a value (99) in a column with no header")),
    ("Sites", {"H1": "notes", "H2": "hello"},
     ("sheet Sites, column H (notes)", f"unknown column 'notes' ({SITES_KNOWN}: H100, H200, GB200)")),
    ("Instance", {"C5": "extra"}, ("sheet Instance, row 5, column C", "a value ('extra') in a column with no header")),
    ("Instance", {"B8": 5}, ("sheet Instance, row 8, column B (value)", "a value (5) with no field name in column A")),
    ("Instance", {"A8": "horizon.periods", "B8": 2},
     ("sheet Instance, row 8, column A (field)", "horizon.periods is given twice (row 5: horizon.periods)")),
    ("Instance", {"A8": "horizon", "B8": "{periods: 2}"},
     ("sheet Instance, row 8, column A (field)", "horizon is given twice (row 5: horizon.periods)")),
], ids=["duplicate-header", "no-header", "unknown-column", "instance-column-c", "instance-no-field",
        "instance-field-twice", "instance-field-whole-and-by-key"])
def test_a_value_outside_the_layout_is_named_not_dropped(tmp_path, sheet, cells, problem):
    path = exported(tmp_path)
    set_cells(path, sheet, cells)
    with pytest.raises(InstanceError) as err:
        import_workbook(str(path))
    assert err.value.problems == [problem]


def test_problem_inside_a_flow_cell_names_the_cell_and_the_entry(tmp_path):
    path = exported(tmp_path)
    edit(path, "Inference", "demand", 2, "[{units: 10, value_per_unit_hour: 1}, {units: -5, value_per_unit_hour: 1}]")
    with pytest.raises(InstanceError) as err:
        import_workbook(str(path))
    (where, msg), = err.value.problems
    assert where.startswith("sheet Inference, row 2, column") and where.endswith("(demand), [1].units")
    assert "-5 is outside the supported range [0, 1e12]" in msg


def test_malformed_flow_cell_and_unknown_delivery_site_are_named(tmp_path):
    path = exported(tmp_path)
    edit(path, "Leases", "sites", 2, "[memphis-1")
    wb = load_workbook(path)
    wb["Deliveries"].append(["nowhere", 1, "H100", 8])
    wb.save(path)
    with pytest.raises(InstanceError) as err:
        import_workbook(str(path))
    places = [p for p, _ in err.value.problems]
    assert any(p.startswith("sheet Leases, row 2, column") and p.endswith("(sites)") for p in places)
    assert "sheet Deliveries, row 2, column A (site)" in places


def test_empty_sheets_may_be_left_out_but_a_misnamed_one_is_named(tmp_path):
    path = exported(tmp_path, ROOT / "instances" / "teach_discounting.yaml")  # no training, inference, deliveries
    wb = load_workbook(path)
    for title in ("Training", "Inference", "Deliveries"):
        del wb[title]
    wb.save(path)
    assert import_workbook(str(path)).model_dump() == load_instance(ROOT / "instances" / "teach_discounting.yaml").model_dump()
    wb["Leases"].title = "Lease"
    wb.save(path)
    with pytest.raises(InstanceError) as err:
        import_workbook(str(path))
    assert err.value.problems[0][0] == "sheet Lease" and err.value.problems[0][1].startswith("unknown sheet (known: ")


def test_an_empty_sheet_reads_as_no_entries(tmp_path):
    path = exported(tmp_path)
    wb = load_workbook(path)
    del wb["Generations"]
    wb.create_sheet("Generations")
    wb.save(path)
    with pytest.raises(InstanceError) as err:
        import_workbook(str(path))
    assert err.value.problems[0] == ("sheet Sites, column E (H100)", f"unknown column 'H100' ({SITES_KNOWN}: none)")


def test_not_a_workbook_is_bad_input(tmp_path):
    bogus = tmp_path / "x.xlsx"
    bogus.write_text("not a zip")
    result = CliRunner().invoke(cli, ["import", str(bogus), "-o", str(tmp_path / "x.yaml")])
    assert result.exit_code == 2 and "cannot read workbook" in result.output


def test_solve_xlsx_numbers_formats_and_frozen_headers(tmp_path):
    out = tmp_path / "plan.xlsx"
    result = CliRunner().invoke(cli, ["solve", str(COLOSSUS), "--format", "xlsx", "-o", str(out)])
    assert result.exit_code == 0, result.output
    wb = load_workbook(out)
    assert wb.sheetnames == ["Summary", "Allocations", "Leases", "Site power", "Consumers"]
    for ws in wb:
        assert ws.freeze_panes == "A2"
    leases = wb["Leases"]
    header = [c.value for c in leases[1]]
    gpus = leases.cell(row=2, column=header.index("gpus") + 1)
    assert gpus.value == 220016 and gpus.number_format == "#,##0"
    revenue = leases.cell(row=2, column=header.index("revenue") + 1)
    assert isinstance(revenue.value, float) and revenue.value > 1.4e10
    summary = {r[0].value: r[1].value for r in wb["Summary"].iter_rows(min_row=2)}
    assert summary["status"] == "optimal" and summary["objective"] == pytest.approx(14315638211.15, rel=1e-9)


@pytest.mark.parametrize("args, says", [
    (["solve", str(COLOSSUS), "--format", "xlsx"], "give --output FILE.xlsx (got stdout)"),
    (["solve", str(COLOSSUS), "--format", "xlsx", "-o", "plan.yaml"], "give --output FILE.xlsx (got plan.yaml)"),
    (["export", str(COLOSSUS), "-o", "fleet.yaml"], "give -o FILE.xlsx (got fleet.yaml)"),
    (["report", str(COLOSSUS), "--xlsx", "plan.json"], "--xlsx writes an Excel workbook: give FILE.xlsx (got plan.json)"),
])
def test_a_workbook_needs_a_xlsx_file_and_is_refused_before_solving(tmp_path, args, says):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and says in result.output


def test_import_writes_json_for_a_json_name(tmp_path):
    out = tmp_path / "fleet.json"
    assert CliRunner().invoke(cli, ["import", str(exported(tmp_path)), "-o", str(out)]).exit_code == 0
    assert load_instance(out).model_dump() == load_instance(COLOSSUS).model_dump()


def test_sweep_xlsx_has_the_sweep_sheet(tmp_path):
    out = tmp_path / "s.xlsx"
    inst = ROOT / "instances" / "teach_discounting.yaml"
    result = CliRunner().invoke(cli, ["sweep", str(inst), "--vary", "horizon.discount_rate=0:0.2:0.1", "--format", "xlsx",
                                      "-o", str(out), "--workers", "1"])
    assert result.exit_code == 0, result.output
    wb = load_workbook(out)
    assert wb.sheetnames == ["Summary", "Sweep"]
    rows = list(wb["Sweep"].iter_rows(min_row=2, values_only=True))
    assert len(rows) == 3 and [r[1] for r in rows] == ["optimal"] * 3


def test_evaluate_xlsx_with_scenarios_has_a_sheet_per_scenario_value(tmp_path):
    out = tmp_path / "e.xlsx"
    source = teaching_with_scenarios(tmp_path)
    result = CliRunner().invoke(cli, ["evaluate", str(source), "long", "--format", "xlsx", "-o", str(out)])
    assert result.exit_code == 0, result.output
    wb = load_workbook(out)
    assert "Offer per scenario" in wb.sheetnames and "Scenarios" in wb.sheetnames
    rows = list(wb["Offer per scenario"].iter_rows(min_row=2, values_only=True))
    assert [r[0] for r in rows] == ["growth", "slump"]
