"""Risk measures of SPEC section 6 on scenario values V with probabilities p."""

from __future__ import annotations

import numpy as np


def cvar(values: np.ndarray, probabilities: np.ndarray, alpha: float) -> float:
    """The expected value over the worst 1 - alpha of probability: worst scenarios first, the one at the
    boundary counted with the part of its probability that fits."""
    order = np.argsort(values, kind="stable")
    v, p = np.asarray(values, dtype=float)[order], np.asarray(probabilities, dtype=float)[order]
    tail = 1.0 - alpha
    taken = np.minimum(p, np.maximum(0.0, tail - (np.cumsum(p) - p)))
    return float(taken @ v / tail)


def risk_objective(values: np.ndarray, probabilities: np.ndarray, alpha: float, weight: float) -> float:
    """F(V) = (1 - w) E[V] + w CVaR_alpha(V)."""
    expected = float(np.asarray(probabilities) @ np.asarray(values))
    return expected if weight == 0 else (1 - weight) * expected + weight * cvar(values, probabilities, alpha)
