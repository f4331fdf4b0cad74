"""The supported range of every number in an instance: generous for any real fleet, and narrow
enough that the model's coefficients stay within what the solvers handle exactly.

A value outside its range is an input error naming the field and the range (planner.instance),
never a solve that overflows, loses precision or reports a feasible instance infeasible. At their
corner matrix entries span [1e-6, 1e12] and objective coefficients reach 7.8e17 (tests/test_ranges.py),
inside what the solvers accept (HiGHS refuses entries >= 1e15 and drops those <= 1e-9; SCIP and
HiGHS take costs >= 1e20 as infinite).
The README's "Supported ranges" table is this one.
"""

from __future__ import annotations

import reprlib
from dataclasses import dataclass

EXCERPT = 60  # characters of a bad value quoted in an error message


@dataclass(frozen=True)
class Range:
    """lo <= value <= hi, or exactly 0 when `zero` (e.g. a GPU that draws no modelled power)."""

    lo: float
    hi: float
    zero: bool = False

    def __str__(self) -> str:
        span = f"[{number(self.lo)}, {number(self.hi)}]"
        return f"0 or {span}" if self.zero else span

    def check(self, value: float) -> float:
        """The value itself, or a ValueError naming the supported range."""
        if (self.zero and value == 0) or self.lo <= value <= self.hi:
            return value
        raise ValueError(f"{_shown(value)} is outside the supported range {self}")


def _shown(value: float) -> str:
    """A number as the README writes it; an integer too large for a float (10**400) as an excerpt."""
    try:
        return number(float(value))
    except OverflowError:
        return excerpt(value)


def number(x: float) -> str:
    """1e6 rather than 1e+06 or 1000000: the way the README and instance files write it."""
    if x != 0 and not 1e-3 <= abs(x) < 1e5:
        mantissa, exponent = f"{x:.6e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
    return f"{x:g}"


def excerpt(value: object) -> str:
    """A short repr of value: never the whole of a huge string, a deep structure or an alias bomb."""
    text = _SHORT.repr(value)
    return text if len(text) <= 2 * EXCERPT else f"{text[:2 * EXCERPT]}..."


_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = EXCERPT
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxdict, _SHORT.maxtuple = 3, 4, 4, 4


GPUS = Range(0, 1e7)  # of one generation at one site (inventory, and installed in any period)
DELIVERY_GPUS = Range(-1e7, 1e7)
LEASE_GPUS = Range(0, 1e9)  # a lease's min_gpus / max_gpus, over all its sites
NODE_SIZE = Range(1, 1e4)
POWER_KW = Range(1e-3, 1e3, zero=True)  # per GPU: above 1 W, so no power coefficient (MW per node) is below 1e-6
SPEED = Range(1e-6, 100, zero=True)  # train_speed, infer_speed (reference GPU = 1)
POWER_MW = Range(0, 1e6)  # per site
PUE = Range(1, 10)
PRICE = Range(0, 1e6)  # per GPU-hour, per unit-hour, per MWh
TIER_VALUE = Range(-1e6, 1e6)  # per unit-hour
PAYMENT = Range(0, 1e13)  # per period
FEE = Range(0, 1e15)  # a lease's termination fee, paid once
UNITS = Range(0, 1e12)  # compute / serving units (min_units, max_units, tier units)
DEMAND_SCALE = Range(0, 1e3)
PERIODS = Range(1, 1e4)
PERIOD_HOURS = Range(1e-3, 8784)  # up to a leap year
HORIZON_HOURS = Range(1e-3, 876_000)  # periods x period_hours: up to 100 years
DISCOUNT_RATE = Range(0, 10)  # per year
MEMORY_GB = Range(0, 1e6)
CAPEX = Range(0, 1e9)  # per GPU
DEPRECIATION_YEARS = Range(1e-3, 100)
PERIOD_INDEX = Range(0, 1e4)  # deliveries' and windows' period indices (also checked against the horizon)
