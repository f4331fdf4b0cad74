"""The greedy baseline: the plan a careful spreadsheet user would build, respecting every SPEC rule.

It serves twice: as a plan of its own (`solve(..., solver="greedy")`, status `feasible`, no bound)
and as the warm start handed to MILP backends that accept one, so that a time-limited MILP
never returns less than the spreadsheet.

    ledger.py       what a pass has left and what each consumer holds; trials that undo themselves
    ranking.py      the rate of an option (net value per MW-hour or per GPU-hour), the priority queue
    pricing.py      what a plan is worth: the model's objective vector times the plan's columns
    leases.py       per-GPU cells, threshold blocks, fixed payments, groups of alternatives
    whole_sites.py  whole-site leases
    training.py     training runs: blocks, sized and chosen by value
    inference.py    inference cells, re-ranked as tiers fill
    driver.py       one pass (mandatory items, then the ranked options), the local search, completion
"""

from planner.greedy.driver import GreedyError, GreedyPlan, Setting, complete, fill, greedy, greedy_report, search
from planner.greedy.ledger import Fleet

__all__ = ["Fleet", "GreedyError", "GreedyPlan", "Setting", "complete", "fill", "greedy", "greedy_report", "search"]
