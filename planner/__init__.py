"""planner: capacity planning for GPU fleets as a mixed-integer linear program (see SPEC.md)."""

from planner.api import solve
from planner.diff import diff_results
from planner.evaluate import evaluate_offer
from planner.evaluate_scenarios import evaluate_under_uncertainty
from planner.explain import explain as explain_instance  # not `explain`: that would hide the module
from planner.instance import Instance, InstanceError, load_instance, parse_instance
from planner.results import PlanResult
from planner.solvers import Status
from planner.sweep import sweep as sweep_parameter  # not `sweep`: that would hide the module

__all__ = ["Instance", "InstanceError", "PlanResult", "Status", "diff_results", "evaluate_offer",
           "evaluate_under_uncertainty", "explain_instance",
           "load_instance", "parse_instance", "solve", "sweep_parameter"]
__version__ = "0.1.0"
