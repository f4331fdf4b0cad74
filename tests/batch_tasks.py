"""Module-level tasks for batch tests: workers (spawned processes, Dask workers) import them by name."""

from __future__ import annotations

import os
import signal
import time


def square(x: float) -> float:
    return x * x


def slow_square(x: float) -> float:
    """Slow enough that a batch is still running when a test kills something."""
    time.sleep(0.3)
    return x * x


def pid(_: object) -> int:
    time.sleep(0.2)  # long enough that every worker gets an item
    return os.getpid()


def refuse_three(x: int) -> int:
    if x == 3:
        raise ArithmeticError(f"no {x}")
    return x


def die_on_one(x: int) -> int:
    """A worker killed from outside (the OOM killer, an operator) while on item 1."""
    if x == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    return x
