"""planner: capacity planning for GPU fleets as a mixed-integer linear program (see SPEC.md)."""

from planner.api import solve
from planner.instance import Instance, InstanceError, load_instance, parse_instance
from planner.results import PlanResult
from planner.solvers import Status

__all__ = ["Instance", "InstanceError", "PlanResult", "Status", "load_instance", "parse_instance", "solve"]
__version__ = "0.1.0"
