"""The Python API: in-place edits re-validated with the CLI's messages, look-ups by name, and the
documented entry points of every command."""

from __future__ import annotations

from pathlib import Path

import pytest

import planner
from planner import InstanceError, load_instance, solve

ROOT = Path(__file__).resolve().parent.parent
POWER_BOUND = ROOT / "instances" / "teach_power_bound.yaml"  # hand optimum 177.5
INFEASIBLE = ROOT / "instances" / "teach_infeasible_requirements.yaml"


def test_a_nested_mapping_changed_in_place_is_validated_before_solving() -> None:
    inst = load_instance(POWER_BOUND)
    inst.lease("old-lease").price_per_gpu_hour = {"OLD": 1.0}
    inst.lease("old-lease").price_per_gpu_hour["OLD"] = -5  # no assignment on the model: pydantic cannot see it
    with pytest.raises(InstanceError) as err:
        solve(inst)
    assert str(err.value).startswith("instance teach-power-bound: leases[0].price_per_gpu_hour.OLD: ")
    assert "-5" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(InstanceError, match=r"leases\[0\].price_per_gpu_hour.OLD"):
        planner.explain_instance(inst)


def test_an_invalid_assignment_raises_the_clean_message() -> None:
    inst = load_instance(POWER_BOUND)
    with pytest.raises(InstanceError) as err:
        inst.site("hall").power_mw = -1
    assert str(err.value).startswith("Site: power_mw: ") and "-1" in str(err.value)
    assert "pydantic" not in str(err.value) and "http" not in str(err.value)
    assert inst.site("hall").power_mw >= 0  # unchanged


def test_look_ups_by_name() -> None:
    inst = load_instance(POWER_BOUND)
    assert inst.generation("NEW").name == "NEW" and inst.inference_pool("serve").name == "serve"
    with pytest.raises(KeyError, match=r"no lease named 'x' \(known: old-lease"):
        inst.lease("x")
    with pytest.raises(KeyError, match="no training run named 'x' \\(known: none\\)"):
        inst.training_run("x")


def test_every_command_has_a_python_entry_point() -> None:
    inst = load_instance(POWER_BOUND)
    ev = planner.evaluate_offer(inst, "old-lease", time_limit=30, threads=1)
    assert ev.offer == "old-lease" and ev.objective_accepted is not None and ev.objective_rejected is not None
    why = planner.explain_instance(load_instance(INFEASIBLE), time_limit=60)
    assert why.feasible is False and why.requirements
    frame = planner.sweep_parameter(inst, [("sites.hall.power_mw", [0.08, 0.1])], workers=1, progress=False, time_limit=30)
    assert list(frame["status"]) == ["optimal", "optimal"]
    a, b = solve(inst), solve(inst, solver="greedy")
    assert planner.diff_results(a.to_dict(), b.to_dict())


def test_solve_takes_a_document_or_a_path_and_refuses_anything_else() -> None:
    """solve(dict) raised TypeError from pathlib; hand optimum 177.5 every way."""
    import yaml

    document = yaml.safe_load(POWER_BOUND.read_text())
    assert solve(document).objective == solve(POWER_BOUND).objective == solve(str(POWER_BOUND)).objective == 177.5
    with pytest.raises(TypeError, match="an instance is an Instance, a dict or a file path, not int"):
        solve(5)


def test_an_offer_that_is_not_in_the_instance_names_the_ones_that_are() -> None:
    """evaluate_offer(inst, "nope") raised a bare StopIteration."""
    teach = load_instance(ROOT / "instances" / "teach_lease_vs_inference.yaml")
    with pytest.raises(ValueError, match=r"no lease 'nope' in teach-lease-vs-inference \(its leases: long, short\)"):
        planner.evaluate_offer(teach, "nope")


def test_evaluate_offer_refuses_an_instance_with_scenarios_and_names_the_entry_point_that_takes_it() -> None:
    """It raised InstanceError (an offer named in `lessee_exits`) or RuntimeError deep in its re-solves."""
    teach = load_instance(ROOT / "instances" / "teach_scenarios.yaml")
    with pytest.raises(ValueError, match="planner.evaluate_under_uncertainty"):
        planner.evaluate_offer(teach, "lab")
    assert planner.evaluate_under_uncertainty(teach, "lab").decision in ("accept", "reject")
