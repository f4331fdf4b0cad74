"""Risk measures of SPEC section 6 on scenario values V with probabilities p."""

from __future__ import annotations

import numpy as np


def tail_shares(values: np.ndarray, probabilities: np.ndarray, alpha: float) -> np.ndarray:
    """Each scenario's share of the worst 1 - alpha of probability (they add up to 1): worst scenarios
    first, the one at the boundary with the part of its probability that fits."""
    order = np.argsort(values, kind="stable")
    p = np.asarray(probabilities, dtype=float)[order]
    tail = 1.0 - alpha
    shares = np.zeros(len(p))
    shares[order] = np.minimum(p, np.maximum(0.0, tail - (np.cumsum(p) - p))) / tail
    return shares


def cvar(values: np.ndarray, probabilities: np.ndarray, alpha: float) -> float:
    """The expected value over the worst 1 - alpha of probability."""
    return float(tail_shares(values, probabilities, alpha) @ np.asarray(values, dtype=float))


def value_at_risk(values: np.ndarray, probabilities: np.ndarray, alpha: float) -> float:
    """The best value within the worst 1 - alpha (the eta at which Rockafellar-Uryasev's max is attained)."""
    return float(np.asarray(values, dtype=float)[tail_shares(values, probabilities, alpha) > 0].max())


def risk_objective(values: np.ndarray, probabilities: np.ndarray, alpha: float, weight: float) -> float:
    """F(V) = (1 - w) E[V] + w CVaR_alpha(V)."""
    expected = float(np.asarray(probabilities) @ np.asarray(values))
    return expected if weight == 0 else (1 - weight) * expected + weight * cvar(values, probabilities, alpha)
