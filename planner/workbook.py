"""Excel in and out, for planners who live in spreadsheets.

Out: a result (solve, evaluate, sweep) as a workbook with numbers as numbers, formats and frozen headers.
In and back: an instance as a template workbook (sheets Instance, Generations, Sites with one inventory
column per generation, Deliveries, Training, Inference, Leases). A cell holding a list or mapping (a
lease's `periods`, an inference pool's `demand` tiers) is written in YAML flow style (`[0, 6]`,
`{H100: 2.2}`). Import validates exactly like a YAML file and names the sheet, row and column of
every problem. Every text is written as text, never as a formula (a name may start with `=`); on import,
a formula, a value outside the known columns and a field given twice are problems, not guesses.
"""

from __future__ import annotations

import io
from typing import Any

import pandas as pd
import yaml
from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import Cell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from pydantic import BaseModel

from planner import views
from planner.instance import (
    Generation,
    InferencePool,
    Instance,
    InstanceError,
    Lease,
    Site,
    TrainingRun,
    parse_instance,
)

MONEY = "#,##0.00"
COUNT = "#,##0"
FORMATS = {  # column name -> Excel number format; other floats get MONEY-like two decimals
    "gpus": COUNT, "period": "0", "mw_drawn": "#,##0.000", "mw_available": "#,##0.000", "headroom_mw": "#,##0.000",
    "price_per_gpu_hour": "0.0000", "band_low": "0.00", "band_high": "0.00", "probability": "0.0000",
    "mip_gap": "0.00E+00", "tier": "0",
}
SECTIONS = {"generations": ("Generations", Generation), "sites": ("Sites", Site), "training": ("Training", TrainingRun),
            "inference": ("Inference", InferencePool), "leases": ("Leases", Lease)}
SITE_LISTS = ("inventory", "deliveries")  # Site fields with their own layout (columns per generation, a sheet)
DELIVERY_COLUMNS = ["site", "period", "generation", "gpus"]
REQUIRED_SHEETS = ("Instance", "Generations", "Sites")  # the others may be left out when empty
TEMPLATE_SHEETS = ("Instance", *(title for title, _ in SECTIONS.values()), "Deliveries")
INSTANCE_COLUMNS = ["field", "value"]
FORMULA_STARTS = ("=", "+", "-", "@")  # text Excel would turn into a formula when the cell is edited


# ----- writing -------------------------------------------------------------------------------


def add_sheet(wb: Workbook, title: str, frame: pd.DataFrame) -> None:
    """One table: bold frozen header, numbers as numbers with a format per column, sensible widths."""
    ws = wb.create_sheet(title)
    ws.append([str(c) for c in frame.columns])
    for c in ws[1]:
        c.font = Font(bold=True)
    for row in frame.itertuples(index=False):
        ws.append([_cell_value(v) for v in row])
    for row in ws.iter_rows():
        for c in row:
            if isinstance(c.value, str):
                keep_as_text(c)
    for j, col in enumerate(frame.columns, start=1):
        fmt = FORMATS.get(str(col))
        for (c,) in ws.iter_rows(min_row=2, min_col=j, max_col=j):
            if isinstance(c.value, (int, float)) and not isinstance(c.value, bool):
                c.number_format = fmt or (COUNT if isinstance(c.value, int) else MONEY)
        width = max([len(str(col)), *(len(str(v)) for v in frame.iloc[:200, j - 1])], default=8)
        ws.column_dimensions[get_column_letter(j)].width = min(60, width + 3)
    ws.freeze_panes = "A2"


def _cell_value(v: Any) -> Any:
    """Python scalars for openpyxl: numpy numbers unwrapped, NaN and None left blank, nested values as YAML."""
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and pd.isna(v):
        return None
    if isinstance(v, (list, dict)):
        return flow(v)
    return v


def keep_as_text(c: Cell) -> None:
    """openpyxl writes text starting with `=` as a live formula: a name such as `=deal` would be lost on
    import, and could run in Excel. Text stays text, also when the cell is edited in Excel."""
    c.data_type = "s"
    if c.value.startswith(FORMULA_STARTS):
        c.quotePrefix = True


def flow(value: Any) -> str:
    """A list or mapping in one cell, as YAML flow text."""
    return yaml.safe_dump(value, default_flow_style=True, width=1_000_000, sort_keys=False).strip()


def to_bytes(wb: Workbook) -> bytes:
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def new_workbook() -> Workbook:
    wb = Workbook()
    wb.remove(wb.active)
    return wb


def summary_frame(doc: dict[str, Any]) -> pd.DataFrame:
    keys = ("instance", "status", "objective", "best_bound", "mip_gap", "solver", "solve_seconds",
            "expected_objective", "cvar", "evpi", "vss")
    rows = [(k, doc[k]) for k in keys if doc.get(k) is not None]
    rows += list((doc.get("breakdown") or {}).items())
    rows += [("warning", w) for w in doc.get("warnings") or []]
    return pd.DataFrame(rows, columns=["item", "value"])


def plan_sheets(wb: Workbook, doc: dict[str, Any], inst: Instance) -> None:
    """Allocations, Leases, Site power, Consumers (and Scenarios) of a plan, after its Summary."""
    add_sheet(wb, "Allocations", views.scenario_column_if_any(views.allocations(doc)))
    add_sheet(wb, "Leases", views.leases(doc, inst))
    add_sheet(wb, "Site power", views.scenario_column_if_any(views.site_power(doc, inst)))
    add_sheet(wb, "Consumers", views.scenario_column_if_any(views.consumers(doc, inst)))
    if views.scenario_names(doc):
        add_sheet(wb, "Scenarios", views.scenarios(doc))


def plan_workbook(doc: dict[str, Any], inst: Instance) -> bytes:
    wb = new_workbook()
    add_sheet(wb, "Summary", summary_frame(doc))
    plan_sheets(wb, doc, inst)
    return to_bytes(wb)


def evaluation_workbook(ev: dict[str, Any], plan: dict[str, Any], inst: Instance) -> bytes:
    """The offer's answer in Summary (then the plan the decision leads to), and what it displaces."""
    wb = new_workbook()
    offer = [(k, v) for k, v in ev.items() if k not in ("displaced", "flags", "notes", "scenarios")]
    offer += [("flag", f) for f in [*(ev.get("flags") or []), *(ev.get("notes") or [])]]
    add_sheet(wb, "Summary", pd.concat([pd.DataFrame(offer, columns=["item", "value"]), summary_frame(plan)]))
    plan_sheets(wb, plan, inst)
    if ev.get("scenarios"):
        add_sheet(wb, "Offer per scenario", pd.DataFrame(ev["scenarios"]))
    add_sheet(wb, "Displaced", pd.DataFrame(ev.get("displaced") or [],
                                            columns=["use", "consumer", "generation", "with_offer", "without_offer",
                                                     "change"]))
    return to_bytes(wb)


def sweep_workbook(frame: pd.DataFrame, path: str, inst: Instance) -> bytes:
    wb = new_workbook()
    solved = int(frame["objective"].notna().sum())
    add_sheet(wb, "Summary", pd.DataFrame([("instance", inst.name), ("parameter", path), ("points", len(frame)),
                                           ("solved", solved)], columns=["item", "value"]))
    add_sheet(wb, "Sweep", frame)
    return to_bytes(wb)


# ----- the instance template: export ---------------------------------------------------------


def columns(model: type[BaseModel]) -> list[str]:
    return [name for name in model.model_fields if not (model is Site and name in SITE_LISTS)]


def instance_frame(data: dict[str, Any]) -> pd.DataFrame:
    """Top-level fields as (field, value) rows; a mapping such as `horizon` one row per key (`horizon.periods`)."""
    rows = []
    for key, value in data.items():
        if key in SECTIONS:
            continue
        if isinstance(value, dict):
            rows += [(f"{key}.{k}", v) for k, v in value.items()]
        else:
            rows.append((key, value))
    return pd.DataFrame(rows, columns=["field", "value"])


def section_frame(items: list[dict[str, Any]], model: type[BaseModel], inst: Instance) -> pd.DataFrame:
    cols = columns(model)
    extra = [g.name for g in inst.generations] if model is Site else []
    rows = [[item.get(c) for c in cols] + [item.get("inventory", {}).get(g) for g in extra] for item in items]
    return pd.DataFrame(rows, columns=cols + extra, dtype=object)


def export_workbook(inst: Instance) -> bytes:
    """The instance as the import template: every field that is set, one sheet per section."""
    data = inst.model_dump(exclude_none=True)
    wb = new_workbook()
    add_sheet(wb, "Instance", instance_frame(data))
    for key, (title, model) in SECTIONS.items():
        add_sheet(wb, title, section_frame(data[key], model, inst))
        if key == "sites":
            deliveries = [{"site": s["name"], **d} for s in data["sites"] for d in s.get("deliveries", [])]
            add_sheet(wb, "Deliveries", pd.DataFrame(deliveries, columns=DELIVERY_COLUMNS))
    return to_bytes(wb)


# ----- the instance template: import ---------------------------------------------------------


def place(sheet: str, row: int | None, column: int | None = None, header: str = "") -> str:
    """How every problem names its cell: the sheet, then the row and the column (with its header) when known."""
    parts = [f"sheet {sheet}"]
    if row is not None:
        parts.append(f"row {row}")
    if column is not None:
        parts.append(f"column {get_column_letter(column)}" + (f" ({header})" if header else ""))
    return ", ".join(parts)


class Where:
    """Field path -> the cell it came from, to name sheet, row and column in every problem."""

    def __init__(self) -> None:
        self.cells: dict[str, str] = {}

    def add(self, path: str, sheet: str, row: int, column: int | None = None, header: str = "") -> None:
        self.cells[path] = place(sheet, row, column, header)

    def name(self, path: str) -> str:
        """The cell of the longest known prefix of `path`, plus what is left of the path inside that cell."""
        best = max((p for p in self.cells if path == p or path.startswith((p + ".", p + "["))), key=len, default=None)
        if best is None:
            return path
        rest = path[len(best):].lstrip(".")
        return self.cells[best] + (f", {rest}" if rest else "")


def is_blank(value: Any) -> bool:
    return value is None or value == ""


def sheet_rows(wb: Any, title: str, problems: list[tuple[str, str]]) -> tuple[list[str], list[tuple[int, list]]]:
    """(headers, [(excel row number, values)]) of a sheet, blank rows skipped; a missing sheet is empty,
    or a problem if the instance cannot do without it."""
    if title not in wb.sheetnames:
        if title in REQUIRED_SHEETS:
            problems.append((f"sheet {title}", "missing sheet"))
        return [], []
    grid = list(wb[title].iter_rows())  # from A1, every row as wide as the sheet; none if the sheet is empty
    if not grid:
        return [], []
    headers = ["" if c.value is None else str(c.value).strip() for c in grid[0]]
    report_formulas(title, grid, headers, problems)
    return headers, [(n, [c.value for c in r]) for n, r in enumerate(grid[1:], start=2)
                     if not all(is_blank(c.value) for c in r)]


def report_formulas(title: str, grid: list[tuple], headers: list[str], problems: list[tuple[str, str]]) -> None:
    """A formula is not a value: openpyxl stores no result for it and Excel's stored one may be stale, so
    reading either would put a default or an old number in the instance without a word."""
    for row in grid:
        for c in row:
            if c.data_type == "f":
                problems.append((place(title, c.row, c.column, headers[c.column - 1]),
                                 f"a formula ({getattr(c.value, 'text', c.value)}); enter the value itself"))


def check_columns(title: str, headers: list[str], rows: list[tuple[int, list]], fields: list[str],
                  problems: list[tuple[str, str]], generations: list[str] | None = None) -> None:
    """Each value sits under one known header: a repeated header (the last would win), an unknown one, or
    a value under no header would otherwise be misread or dropped. Sites also has a column per generation
    of sheet Generations (`generations`)."""
    known = fields + (generations or [])
    listed = ", ".join(fields)
    if generations is not None:
        listed += f", and one per generation of sheet Generations: {', '.join(generations) or 'none'}"
    first: dict[str, int] = {}
    for j, header in enumerate(headers, start=1):
        if not header:
            filled = [(n, values[j - 1]) for n, values in rows if not is_blank(values[j - 1])]
            if filled:
                n, value = filled[0]
                problems.append((place(title, n, j), f"a value ({value!r}) in a column with no header"))
        elif header in first:
            problems.append((place(title, None, j, header),
                             f"duplicate column {header!r} (also column {get_column_letter(first[header])})"))
        elif header not in known:
            problems.append((place(title, None, j, header), f"unknown column {header!r} (known: {listed})"))
        first.setdefault(header, j)


def is_text(model: type[BaseModel], field: str) -> bool:
    info = model.model_fields.get(field)
    return info is not None and info.annotation in (str, str | None)


def cell(value: Any, text_field: bool, place: str, problems: list[tuple[str, str]]) -> Any:
    """A cell's value for the instance: YAML flow text (`[0, 6]`, `{H100: 2.2}`) parsed, other values as they are."""
    if isinstance(value, str) and not text_field and value.strip()[:1] in ("[", "{"):
        try:
            return yaml.safe_load(value)
        except yaml.YAMLError as err:
            problems.append((place, f"cannot read {value!r} as a list or mapping: {getattr(err, 'problem', err)}"))
    return value


def read_record(model: type[BaseModel], sheet: str, headers: list[str], row: int, values: list, path: str,
                where: Where, problems: list[tuple[str, str]], others: str | None = None) -> dict[str, Any]:
    """One row as a mapping; with `others` (Sites: "inventory"), a column that is not a field of the model
    goes under that key, so an unknown generation is reported as such."""
    record: dict[str, Any] = {}
    where.add(path, sheet, row)
    for j, (header, value) in enumerate(zip(headers, values), start=1):
        if value is None or value == "" or not header:
            continue
        target = record.setdefault(others, {}) if others and header not in model.model_fields else record
        key_path = f"{path}.{others}.{header}" if target is not record else f"{path}.{header}"
        where.add(key_path, sheet, row, j, header)
        target[header] = cell(value, is_text(model, header), where.name(key_path), problems)
    return record


def import_workbook(source: str) -> Instance:
    """An instance from a template workbook, validated like a YAML file; problems name sheet, row and column."""
    try:
        wb = load_workbook(source)  # formulas as formulas, not as a result that may be missing or stale
    except Exception as err:  # noqa: BLE001 - openpyxl raises many types for a file that is not a workbook
        raise InstanceError(source, [("", f"cannot read workbook: {err}")]) from None
    problems = [(f"sheet {name}", f"unknown sheet (known: {', '.join(TEMPLATE_SHEETS)})")
                for name in wb.sheetnames if name not in TEMPLATE_SHEETS]
    where = Where()
    data = read_instance_sheet(wb, where, problems)
    for key, (title, model) in SECTIONS.items():
        headers, rows = sheet_rows(wb, title, problems)
        generations = [str(g["name"]).strip() for g in data["generations"] if "name" in g] if model is Site else None
        check_columns(title, headers, rows, columns(model), problems, generations)
        others = "inventory" if model is Site else None
        data[key] = [read_record(model, title, headers, n, values, f"{key}[{i}]", where, problems, others)
                     for i, (n, values) in enumerate(rows)]
    read_deliveries(wb, data["sites"], where, problems)
    if problems:
        raise InstanceError(source, problems)
    try:
        return parse_instance(data, source)
    except InstanceError as err:
        raise InstanceError(source, [(where.name(path), msg) for path, msg in err.problems]) from None


def read_instance_sheet(wb: Any, where: Where, problems: list[tuple[str, str]]) -> dict[str, Any]:
    """Top-level fields from (field, value) rows; `horizon.periods` goes under `horizon`."""
    data: dict[str, Any] = {}
    headers, rows = sheet_rows(wb, "Instance", problems)
    check_columns("Instance", headers, rows, INSTANCE_COLUMNS, problems)
    given: dict[str, int] = {}
    for n, values in rows:
        field, value = (values + [None, None])[:2]
        if is_blank(field):
            if not is_blank(value):
                problems.append((place("Instance", n, 2, "value"), f"a value ({value!r}) with no field name in column A"))
            continue
        name = str(field).strip()
        if not is_new_field(name, n, given, problems) or is_blank(value):
            continue
        top, _, sub = name.partition(".")
        where.add(name, "Instance", n, 2, name)
        parsed = cell(value, is_text(Instance, top), where.name(name), problems)
        if sub:
            data.setdefault(top, {})[sub] = parsed
        else:
            data[top] = parsed
    return data


def is_new_field(name: str, row: int, given: dict[str, int], problems: list[tuple[str, str]]) -> bool:
    """Whether `name` is the first mention of its field in sheet Instance: given twice, or whole and by key
    (`horizon` and `horizon.periods`), one value would silently replace the other."""
    earlier = next((f for f in given if f == name or name.startswith(f + ".") or f.startswith(name + ".")), None)
    if earlier is not None:
        problems.append((place("Instance", row, 1, "field"), f"{name} is given twice (row {given[earlier]}: {earlier})"))
        return False
    given[name] = row
    return True


def read_deliveries(wb: Any, sites: list[dict[str, Any]], where: Where, problems: list[tuple[str, str]]) -> None:
    """Deliveries rows go to their site's list, in sheet order."""
    headers, rows = sheet_rows(wb, "Deliveries", problems)
    check_columns("Deliveries", headers, rows, DELIVERY_COLUMNS, problems)
    index = {s.get("name"): i for i, s in enumerate(sites)}
    for n, values in rows:
        row = dict(zip(headers, values))
        site = row.pop("site", None)
        if site not in index:
            col = headers.index("site") + 1 if "site" in headers else 1
            problems.append((place("Deliveries", n, col, "site"), f"unknown site {site!r} (known: {', '.join(map(str, index))})"))
            continue
        i = index[site]
        j = len(sites[i].setdefault("deliveries", []))
        path = f"sites[{i}].deliveries[{j}]"
        where.add(path, "Deliveries", n)
        for c, header in enumerate(headers, start=1):
            if header != "site":
                where.add(f"{path}.{header}", "Deliveries", n, c, header)
        sites[i]["deliveries"].append({k: v for k, v in row.items() if k and v not in (None, "")})
