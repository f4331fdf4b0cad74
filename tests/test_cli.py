"""The `planner` command: SPEC section 5 output, exit codes 0/1/2, path-precise input errors, --output."""

import copy
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from planner.cli import cli
from planner.instance import load_instance
from planner.solvers import SOLVERS

ROOT = Path(__file__).resolve().parent.parent
POWER_BOUND = ROOT / "instances" / "teach_power_bound.yaml"  # hand optimum 177.5 = 30 + 160 - 12.5

RESULT_KEYS = {"instance", "status", "objective", "best_bound", "mip_gap", "solver", "solve_seconds", "breakdown",
               "allocations", "leases", "warnings"}
BREAKDOWN_KEYS = {"lease_revenue", "training_value", "inference_value", "energy_cost"}
ALLOCATION_KEYS = ["period", "site", "generation", "use", "consumer", "gpus"]
LEASE_KEYS = {"name", "accepted", "gpus", "revenue"}
OPTIONAL_KEYS = {"consumers"}  # added by the project (SPEC: optional fields only); see test_report.py

# Valid, two periods, one problem added per bad-input case below.
BASE = {
    "name": "cli-base",
    "horizon": {"periods": 2, "period_hours": 1},
    "generations": [{"name": "A", "power_kw": 1.0, "node_size": 1, "train_speed": 1.0, "infer_speed": 1.0}],
    "sites": [{"name": "s1", "power_mw": 1.0, "inventory": {"A": 10}}],
    "training": [{"name": "run", "value_per_unit_hour": 1.0}],
    "inference": [{"name": "pool", "demand": [{"units": 5, "value_per_unit_hour": 0.5}]}],
    "leases": [{"name": "l0", "price_per_gpu_hour": 0.5}, {"name": "l1", "price_per_gpu_hour": 0.5}],
}
BASE_YAML = yaml.safe_dump(BASE, sort_keys=False)


def invoke(*args: str):
    """Run the CLI in-process; whatever the exit code, no exception may escape as a traceback."""
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    assert "Traceback" not in result.output
    return result


def edited(change) -> dict:
    data = copy.deepcopy(BASE)
    change(data)
    return data


def write(path: Path, content) -> Path:
    if not isinstance(content, str):
        content = json.dumps(content) if path.suffix == ".json" else yaml.safe_dump(content, sort_keys=False)
    path.write_text(content, encoding="utf-8")
    return path


def solve_json(instance: Path, *extra: str) -> dict:
    result = invoke("solve", instance, "--format", "json", *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# ----- a good solve -------------------------------------------------------------------------


def test_optimal_json_has_exactly_the_spec_keys():
    result = invoke("solve", POWER_BOUND, "--format", "json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)  # stdout is the JSON document and nothing else
    assert set(plan) - OPTIONAL_KEYS == RESULT_KEYS
    assert set(plan["breakdown"]) == BREAKDOWN_KEYS
    assert plan["allocations"] and all(list(row) == ALLOCATION_KEYS for row in plan["allocations"])
    assert plan["leases"] and all(set(lease) == LEASE_KEYS for lease in plan["leases"])
    assert (plan["instance"], plan["status"], plan["solver"]) == ("teach-power-bound", "optimal", "highs")
    assert plan["warnings"] == []
    b = plan["breakdown"]
    assert plan["objective"] == pytest.approx(b["lease_revenue"] + b["training_value"] + b["inference_value"]
                                              - b["energy_cost"])
    assert plan["objective"] == pytest.approx(177.5)
    assert b == pytest.approx({"lease_revenue": 30, "training_value": 0, "inference_value": 160, "energy_cost": 12.5})
    assert plan["leases"] == [{"name": "old-lease", "accepted": True, "gpus": 20, "revenue": pytest.approx(30)}]


def test_table_shows_status_and_objective():
    result = invoke("solve", POWER_BOUND)
    assert result.exit_code == 0
    assert "optimal" in result.stdout and "$177.50" in result.stdout


def test_csv_is_the_allocation_rows():
    plan = solve_json(POWER_BOUND)
    result = invoke("solve", POWER_BOUND, "--format", "csv")
    assert result.exit_code == 0
    reader = csv.DictReader(io.StringIO(result.stdout))
    assert reader.fieldnames == ALLOCATION_KEYS
    rows = {(int(r["period"]), r["site"], r["generation"], r["use"], r["consumer"] or None, int(r["gpus"]))
            for r in reader}
    assert rows == {tuple(a[k] for k in ALLOCATION_KEYS) for a in plan["allocations"]}


def test_markdown_is_headed_pipe_tables():
    result = invoke("solve", POWER_BOUND, "--format", "markdown")
    assert result.exit_code == 0
    text = result.stdout
    assert text.startswith("### Plan for teach-power-bound\n")
    assert "| status | optimal" in text and "$177.50" in text
    for block in text.strip().split("\n\n"):
        if block.startswith("|"):
            lines = block.splitlines()
            assert set(lines[1].replace("|", "")) == {"-"}  # the header separator
            assert len({line.count("|") for line in lines}) == 1  # every row has the header's columns


def test_stranded_gpus_warn_but_solve(tmp_path):
    inst = write(tmp_path / "stranded.yaml", edited(lambda d: d["generations"][0].update(node_size=8)))
    plan = solve_json(inst)
    assert plan["status"] == "optimal"
    assert any("2 A GPUs stranded" in w for w in plan["warnings"])
    result = invoke("validate", inst)
    assert result.exit_code == 0 and "stranded" in result.stderr


def test_scientific_notation_is_a_number(tmp_path):
    text = BASE_YAML.replace("power_mw: 1.0", "power_mw: 1.25e5").replace("A: 10", "A: 1e1")
    assert "1.25e5" in text and "1e1" in text
    inst = write(tmp_path / "sci.yaml", text)
    assert yaml.safe_load(text)["sites"][0]["power_mw"] == "1.25e5"  # what PyYAML makes of it
    result = invoke("validate", inst)
    assert result.exit_code == 0, result.output
    assert "10 GPUs" in result.stdout
    assert load_instance(inst).sites[0].power_mw == 1.25e5


def test_json_instance_solves(tmp_path):
    plan = solve_json(write(tmp_path / "base.json", BASE))
    assert plan["instance"] == "cli-base" and plan["status"] == "optimal"


# ----- no plan: exit 1 ----------------------------------------------------------------------


def test_infeasible_exits_1_with_status(tmp_path):
    inst = write(tmp_path / "infeasible.yaml",
                 edited(lambda d: d["training"][0].update(required=True, min_units=1000)))  # 10 GPUs exist
    result = invoke("solve", inst, "--format", "json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["status"] == "infeasible"
    assert "infeasible" in result.stderr


# ----- bad input: exit 2, one line per problem with file, field path and what is wrong ---------


def set_in(path: str, value):
    """A change that sets BASE[...path...] = value, path like `sites.0.pue`."""
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]

    def change(data):
        for p in parents:
            data = data[p]
        data[last] = value
    return change


def lease1(**fields):
    return lambda d: d["leases"].__setitem__(1, {"name": "l1", **fields})


BAD_INPUTS = [
    # id, file name, content (text or a change to BASE), field path, what the message says
    ("malformed-yaml", "bad.yaml", "name: x\n  oops: [\n", "(top level)", "malformed YAML at line 2"),
    ("malformed-json", "bad.json", '{"name": "x",}', "(top level)", "malformed JSON at line 1"),
    ("unknown-top-key", "i.yaml", set_in("colour", "red"), "colour", "unknown key"),
    ("unknown-nested-key", "i.yaml", set_in("inference.0.demand.0.bogus", 1), "inference[0].demand[0].bogus",
     "unknown key"),
    ("string-power", "i.yaml", set_in("generations.0.power_kw", "lots"), "generations[0].power_kw",
     "valid number"),
    ("string-power-json", "i.json", set_in("generations.0.power_kw", "lots"), "generations[0].power_kw",
     "valid number"),
    ("negative", "i.yaml", set_in("sites.0.power_mw", -1), "sites[0].power_mw", "-1 is outside the supported range [0, 1e6]"),
    ("inf", "i.yaml", set_in("generations.0.power_kw", float("inf")), "generations[0].power_kw", "finite"),
    ("nan", "i.yaml", set_in("training.0.value_per_unit_hour", float("nan")), "training[0].value_per_unit_hour",
     "finite"),
    ("unknown-inventory-generation", "i.yaml", set_in("sites.0.inventory.Z", 8), "sites[0].inventory.Z",
     "unknown generation 'Z'"),
    ("unknown-lease-site", "i.yaml", set_in("leases.1.sites", ["nowhere"]), "leases[1].sites[0]",
     "unknown site 'nowhere'"),
    ("unknown-priced-generation", "i.yaml", set_in("leases.1.price_per_gpu_hour", {"A": 1, "Z": 2}),
     "leases[1].price_per_gpu_hour.Z", "unknown generation 'Z'"),
    ("periods-outside-horizon", "i.yaml", set_in("training.0.periods", [0, 5]), "training[0].periods",
     "[0, 5) must satisfy start < end <= 2"),
    ("delivery-outside-horizon", "i.yaml", set_in("sites.0.deliveries", [{"period": 9, "generation": "A", "gpus": 8}]),
     "sites[0].deliveries[0].period", "period 9 is outside the horizon"),
    ("duplicate-name", "i.yaml", set_in("leases.1.name", "l0"), "leases[1].name", "duplicate name 'l0'"),
    ("empty-name", "i.yaml", set_in("sites.0.name", ""), "sites[0].name", "at least 1 character"),
    ("price-and-payment", "i.yaml",
     lease1(price_per_gpu_hour=1, payment_per_period=5, all_or_nothing=True, max_gpus=4), "leases[1]",
     "give exactly one of price_per_gpu_hour and payment_per_period"),
    ("neither-price-nor-payment", "i.yaml", lease1(max_gpus=4), "leases[1]",
     "give exactly one of price_per_gpu_hour and payment_per_period"),
    ("payment-needs-block", "i.yaml", lease1(payment_per_period=5, max_gpus=4), "leases[1].payment_per_period",
     "requires all_or_nothing or whole_sites"),
    ("all-or-nothing-needs-max", "i.yaml", lease1(price_per_gpu_hour=1, all_or_nothing=True), "leases[1].max_gpus",
     "all_or_nothing needs max_gpus"),
    ("max-below-min", "i.yaml", lease1(price_per_gpu_hour=1, min_gpus=4, max_gpus=2), "leases[1].max_gpus",
     "max_gpus 2 < min_gpus 4"),
    ("pue-below-1", "i.yaml", set_in("sites.0.pue", 0.9), "sites[0].pue", "0.9 is outside the supported range [1, 10]"),
    ("retirement-below-zero", "i.yaml",
     set_in("sites.0.deliveries", [{"period": 1, "generation": "A", "gpus": -12}]), "sites[0].deliveries",
     "below zero GPUs in period 1"),
    ("demand-scale-length", "i.yaml", set_in("inference.0.demand_scale", [1, 1, 1]), "inference[0].demand_scale",
     "has 3 values, needs one per period (2)"),
    ("duplicate-yaml-key", "i.yaml", BASE_YAML.replace("power_kw: 1.0", "power_kw: 1.0\n  power_kw: 2.0"),
     "(top level)", "duplicate key 'power_kw'"),
    ("duplicate-json-key", "i.json", '{"name": "a", "name": "b"}', "(top level)", "duplicate key 'name'"),
    # YAML 1.1 reads 1:30 as 90 (base 60): no number anybody wrote
    ("base-60-number", "i.yaml", BASE_YAML.replace("power_mw: 1.0", "power_mw: 1:30"), "sites[0].power_mw",
     "valid number"),
    ("huge-integer", "i.yaml", BASE_YAML.replace("A: 10", "A: 1" + "0" * 5000), "(top level)",
     "malformed YAML: Exceeds the limit"),
]


@pytest.mark.parametrize(("name", "content", "field", "what"), [case[1:] for case in BAD_INPUTS],
                         ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_exits_2_naming_file_field_and_problem(tmp_path, name, content, field, what):
    inst = tmp_path / name
    write(inst, content if isinstance(content, str) else edited(content))
    result = invoke("solve", inst, "--format", "json")
    assert result.exit_code == 2
    assert result.stdout == ""
    *problems, summary = result.stderr.splitlines()
    assert summary == f"planner: {len(problems)} problem(s) in {inst}"
    assert all(line.startswith(f"{inst}: ") for line in problems), problems
    assert any(line.startswith(f"{inst}: {field}: ") and what in line for line in problems), problems


def test_missing_instance_file(tmp_path):
    inst = tmp_path / "missing.yaml"
    for command in ("solve", "validate"):
        result = invoke(command, inst)
        assert result.exit_code == 2
        assert f"{inst}: (top level): cannot read file" in result.stderr
        assert "No such file" in result.stderr


def test_retirement_and_delivery_in_one_period_is_valid(tmp_path):
    """A swap (retire 8, deliver 8 in the same period) never takes inventory below zero."""
    swap = [{"period": 1, "generation": "A", "gpus": -8}, {"period": 1, "generation": "A", "gpus": 8}]
    inst = write(tmp_path / "swap.yaml", edited(lambda d: d["sites"][0].update(inventory={"A": 0}, deliveries=swap)))
    result = invoke("validate", inst)
    assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize("args", [
    ["--solver", "gurobi"],
    ["--gap", "-1"],
    ["--gap", "abc"],
    ["--time-limit", "0"],
    ["--format", "xml"],
], ids=lambda a: " ".join(a))
def test_bad_option_is_a_usage_error(args):
    result = invoke("solve", POWER_BOUND, *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert f"Invalid value for '{args[0]}'" in result.stderr


# ----- --output -----------------------------------------------------------------------------


@pytest.fixture
def workdir(tmp_path) -> Path:
    """A directory holding only a copy of teach_power_bound.yaml as inst.yaml."""
    (tmp_path / "inst.yaml").write_bytes(POWER_BOUND.read_bytes())
    return tmp_path


def test_output_writes_the_file_and_nothing_to_stdout(workdir):
    out = workdir / "plan.json"
    result = invoke("solve", workdir / "inst.yaml", "--format", "json", "--output", out)
    assert result.exit_code == 0
    assert result.stdout == ""
    assert json.loads(out.read_text())["objective"] == pytest.approx(177.5)
    assert sorted(p.name for p in workdir.iterdir()) == ["inst.yaml", "plan.json"]  # no temp files left
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # as readable as any file the user creates


def test_output_replaces_a_previous_output(workdir):
    out = workdir / "plan.csv"
    out.write_text("stale\n")
    out.chmod(0o640)
    for _ in range(2):
        result = invoke("solve", workdir / "inst.yaml", "--format", "csv", "-o", out)
        assert result.exit_code == 0 and result.stdout == ""
        assert out.read_text().startswith(",".join(ALLOCATION_KEYS) + "\n")
    assert out.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in workdir.iterdir()) == ["inst.yaml", "plan.csv"]


def test_output_refuses_to_overwrite_the_instance(workdir):
    inst = workdir / "inst.yaml"
    before = inst.read_bytes()
    (workdir / "sub").mkdir()
    for target in (inst, workdir / "sub" / ".." / "inst.yaml"):
        result = invoke("solve", inst, "--format", "json", "--output", target)
        assert result.exit_code == 2
        assert "refusing to overwrite an input file" in result.stderr
        assert result.stdout == ""
    assert inst.read_bytes() == before
    assert sorted(p.name for p in workdir.iterdir()) == ["inst.yaml", "sub"]


# ----- validate and verify ------------------------------------------------------------------


@pytest.mark.parametrize("inst", sorted((ROOT / "instances").glob("*.yaml")), ids=lambda p: p.name)
def test_validate_accepts_the_shipped_instances(inst):
    result = invoke("validate", inst)
    assert result.exit_code == 0, result.stderr
    assert "valid" in result.stdout


def test_validate_rejects_a_bad_instance(tmp_path):
    inst = write(tmp_path / "bad.yaml", edited(set_in("sites.0.pue", 0.5)))
    result = invoke("validate", inst)
    assert result.exit_code == 2
    assert f"{inst}: sites[0].pue: " in result.stderr


@pytest.fixture
def solved(workdir) -> tuple[Path, Path]:
    """(instance, result.json) of a fresh solve."""
    inst, out = workdir / "inst.yaml", workdir / "result.json"
    assert invoke("solve", inst, "--format", "json", "-o", out).exit_code == 0
    return inst, out


def test_verify_accepts_a_solve(solved):
    result = invoke("verify", *solved)
    assert result.exit_code == 0, result.stderr
    assert "verified" in result.stdout


def tamper(out: Path, change) -> None:
    plan = json.loads(out.read_text())
    change(plan)
    out.write_text(json.dumps(plan))


def test_verify_catches_gpus_beyond_inventory(solved):
    inst, out = solved

    def more_gpus(plan):
        row = next(r for r in plan["allocations"] if r["consumer"] == "old-lease")
        row["gpus"] += 1000
    tamper(out, more_gpus)
    result = invoke("verify", inst, out)
    assert result.exit_code == 1
    assert f"{out}: inventory: " in result.stderr


def test_verify_catches_a_wrong_objective(solved):
    inst, out = solved
    tamper(out, lambda plan: plan.update(objective=plan["objective"] - 1))
    result = invoke("verify", inst, out)
    assert result.exit_code == 1
    assert f"{out}: objective: " in result.stderr


@pytest.mark.parametrize("command", [["verify"], ["report", "--html", "r.html"]])
def test_verify_against_the_wrong_instance_says_so_in_one_line(solved, tmp_path, command):
    """report exited 1 (a plan breaking rules) where verify exits 2 (bad input): found by fuzzing."""
    _, out = solved
    other = write(tmp_path / "other.yaml", edited(lambda d: d.update(name="other-fleet")))
    result = invoke(command[0], other, out, *[str(tmp_path / a) if a.endswith(".html") else a for a in command[1:]])
    assert result.exit_code == 2
    assert result.stderr == (f"planner: {out}: is a plan for instance 'teach-power-bound', not for {other} "
                             f"(instance 'other-fleet')\n")


def test_verify_states_the_objective_with_its_currency(solved):
    result = invoke("verify", *solved)
    assert result.exit_code == 0
    assert "status optimal, objective $177.50" in result.stdout


def test_verify_rejects_a_result_that_is_not_json(solved):
    inst, out = solved
    out.write_text("status: optimal\n")
    result = invoke("verify", inst, out)
    assert result.exit_code == 2
    assert f"{out}: not a JSON result" in result.stderr


# ----- the real console script --------------------------------------------------------------


def test_console_script_stdout_is_only_json_for_every_solver(tmp_path):
    """Solvers print banners from C code, below Python's sys.stdout: only a real process shows them."""
    for solver in SOLVERS:
        proc = subprocess.run([sys.executable, "-m", "planner", "solve", str(POWER_BOUND), "--solver", solver,
                               "--format", "json"], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                              check=False)
        assert proc.returncode == 0, proc.stderr
        plan = json.loads(proc.stdout)
        assert (plan["solver"], plan["status"]) == (solver, "optimal")
        assert plan["objective"] == pytest.approx(177.5)
        assert "Traceback" not in proc.stderr


# ----- sweep and diff ------------------------------------------------------------------------


def test_sweep_writes_csv_and_png_and_the_lease_flips(workdir):
    """teach_power_bound, old-lease price p per OLD GPU-hour (1 kW each), 100 kW of IT power (see the instance):
    p = 0.5 < 1.0 (OLD inference): no lease, 160 + 20 - 12.5 = 167.5;
    p = 1.5: the last 20 kW leased, 160 + 30 - 12.5 = 177.5;
    p = 2.5 > 2.0 (NEW inference per kW): all 100 kW to 100 leased OLD GPUs, 250 - 12.5 = 237.5."""
    csv_path, png_path = workdir / "s.csv", workdir / "s.png"
    result = invoke("sweep", POWER_BOUND, "--vary", "leases.old-lease.price_per_gpu_hour.OLD=0.5:2.5:1",
                    "--workers", "1", "-o", csv_path, "--plot", png_path)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text())))
    assert [float(r["objective"]) for r in rows] == pytest.approx([167.5, 177.5, 237.5])
    assert [r["accepted"] for r in rows] == ["", "old-lease", "old-lease"]
    assert [float(r["gpus_lease"]) for r in rows] == [0, 20, 100]
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sweep_bad_vary_is_a_usage_error(workdir):
    result = invoke("sweep", POWER_BOUND, "--vary", "leases.nobody.price_per_gpu_hour=1:2:1", "-o", workdir / "x.csv")
    assert result.exit_code == 2
    assert "nobody" in result.stderr and not (workdir / "x.csv").exists()


def test_diff_names_what_changed(workdir):
    a = workdir / "a.json"
    a.write_text(invoke("solve", POWER_BOUND, "--format", "json").stdout)
    more_power = write(workdir / "more.yaml", POWER_BOUND.read_text().replace("power_mw: 0.125", "power_mw: 0.15"))
    b = workdir / "b.json"
    b.write_text(invoke("solve", more_power, "--format", "json").stdout)
    result = invoke("diff", a, b, "--format", "json")
    assert result.exit_code == 0, result.output
    changes = json.loads(result.stdout)
    # 25 kW more power runs 20 more OLD GPUs on the lease: +30 revenue, +2.5 energy (hand: see the instance).
    assert changes["objective"]["delta"] == pytest.approx(27.5)
    assert changes["breakdown"]["lease_revenue"]["delta"] == pytest.approx(30.0)
    assert invoke("diff", a, workdir / "missing.json").exit_code == 2
