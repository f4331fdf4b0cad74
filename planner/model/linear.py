"""A MILP in matrix form, built in vectorised blocks and handed whole to any solver backend.

    maximise  c @ x   subject to   row_lo <= A @ x <= row_hi,   lb <= x <= ub,   x[integer] integral

Constraint rows are added one named family at a time (the SPEC rule they implement), so a
row index can always be traced back to its rule and key (for reports, duals and `explain`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import scipy.sparse as sp

INF = np.inf


@dataclass
class Family:
    """A block of rows (or variables) implementing one rule; `keys` says which row is which."""

    name: str
    start: int
    stop: int
    keys: pd.DataFrame | None = None


@dataclass
class LinearModel:
    lb: list[np.ndarray] = field(default_factory=list)
    ub: list[np.ndarray] = field(default_factory=list)
    integer: list[np.ndarray] = field(default_factory=list)
    n_vars: int = 0
    var_families: list[Family] = field(default_factory=list)

    _rows: list[np.ndarray] = field(default_factory=list)
    _cols: list[np.ndarray] = field(default_factory=list)
    _vals: list[np.ndarray] = field(default_factory=list)
    row_lo: list[np.ndarray] = field(default_factory=list)
    row_hi: list[np.ndarray] = field(default_factory=list)
    n_rows: int = 0
    row_families: list[Family] = field(default_factory=list)

    objective_terms: dict[str, np.ndarray] = field(default_factory=dict)

    def add_variables(
        self, name: str, n: int, lb: float | np.ndarray = 0.0, ub: float | np.ndarray = INF,
        integer: bool = False, keys: pd.DataFrame | None = None,
    ) -> np.ndarray:
        """Create n variables; returns their column indices."""
        ids = np.arange(self.n_vars, self.n_vars + n)
        self.lb.append(np.broadcast_to(np.asarray(lb, dtype=float), (n,)).copy())
        self.ub.append(np.broadcast_to(np.asarray(ub, dtype=float), (n,)).copy())
        self.integer.append(np.full(n, integer))
        self.var_families.append(Family(name, self.n_vars, self.n_vars + n, keys))
        self.n_vars += n
        return ids

    def add_constraints(
        self, name: str, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray,
        lo: float | np.ndarray, hi: float | np.ndarray, n_rows: int | None = None,
        keys: pd.DataFrame | None = None,
    ) -> None:
        """Add a family of rows lo <= sum(vals * x[cols]) <= hi, given as (local row, col, coef) triples."""
        rows = np.asarray(rows, dtype=np.int64)
        m = int(n_rows if n_rows is not None else (rows.max() + 1 if rows.size else 0))
        if m == 0:
            return
        self._rows.append(rows + self.n_rows)
        self._cols.append(np.asarray(cols, dtype=np.int64))
        self._vals.append(np.asarray(vals, dtype=float))
        self.row_lo.append(np.broadcast_to(np.asarray(lo, dtype=float), (m,)).copy())
        self.row_hi.append(np.broadcast_to(np.asarray(hi, dtype=float), (m,)).copy())
        self.row_families.append(Family(name, self.n_rows, self.n_rows + m, keys))
        self.n_rows += m

    def add_objective(self, term: str, cols: np.ndarray, vals: np.ndarray) -> None:
        """Accumulate coefficients of one named objective term (e.g. `energy_cost`, subtracted)."""
        vec = self.objective_terms.setdefault(term, np.zeros(0))
        if vec.size < self.n_vars:
            vec = np.concatenate([vec, np.zeros(self.n_vars - vec.size)])
        np.add.at(vec, np.asarray(cols, dtype=np.int64), np.asarray(vals, dtype=float))
        self.objective_terms[term] = vec

    # ----- the assembled arrays the solvers consume -----
    def term_vector(self, term: str) -> np.ndarray:
        vec = self.objective_terms.get(term, np.zeros(0))
        return np.concatenate([vec, np.zeros(self.n_vars - vec.size)])

    def objective(self, costs: tuple[str, ...] = ("energy_cost", "termination_fees", "relaxation")) -> np.ndarray:
        """c: the sum of all value terms minus the cost terms."""
        c = np.zeros(self.n_vars)
        for term in self.objective_terms:
            c += -self.term_vector(term) if term in costs else self.term_vector(term)
        return c

    def matrix(self) -> sp.csr_matrix:
        if not self._rows:
            return sp.csr_matrix((0, self.n_vars))
        coo = sp.coo_matrix(
            (np.concatenate(self._vals), (np.concatenate(self._rows), np.concatenate(self._cols))),
            shape=(self.n_rows, self.n_vars),
        )
        return coo.tocsr()  # duplicate (row, col) entries are summed

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return _cat(self.lb), _cat(self.ub)

    def row_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return _cat(self.row_lo), _cat(self.row_hi)

    def integrality(self) -> np.ndarray:
        return _cat(self.integer, dtype=bool)

    def relax(self, family: str, penalty: float) -> list[tuple[Family, np.ndarray]]:
        """Elastic copy of a family of one-sided rows: a slack e >= 0 per row moves its bound
        (lo - e for >= rows, hi + e for <= rows), each unit of e costing `penalty` in the
        `relaxation` cost term. Returns each block of the family with its slack columns."""
        _, hi = self.row_bounds()
        out = []
        for fam in [f for f in self.row_families if f.name == family]:
            rows = np.arange(fam.start, fam.stop)
            slack = self.add_variables(f"relax[{family}]", len(rows), 0.0, INF, keys=fam.keys)
            self._rows.append(rows)
            self._cols.append(slack)
            self._vals.append(np.where(np.isfinite(hi[rows]), -1.0, 1.0))
            self.add_objective("relaxation", slack, np.full(len(rows), penalty))
            out.append((fam, slack))
        return out

    def copy(self) -> LinearModel:
        """An independent copy: rows, columns and objective terms added to it leave this model as it is."""
        return replace(
            self, lb=list(self.lb), ub=list(self.ub), integer=list(self.integer), var_families=list(self.var_families),
            _rows=list(self._rows), _cols=list(self._cols), _vals=list(self._vals), row_lo=list(self.row_lo),
            row_hi=list(self.row_hi), row_families=list(self.row_families),
            objective_terms={term: vec.copy() for term, vec in self.objective_terms.items()},
        )

    def with_fixed(self, cols: np.ndarray, values: np.ndarray) -> LinearModel:
        """An independent copy with `cols` fixed at `values`; every other column keeps its bounds and integrality."""
        return self.with_bounds(cols, values, values)

    def with_bounds(self, cols: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> LinearModel:
        """An independent copy with the bounds of `cols` set to `lower`, `upper`; every other column as it is."""
        lb, ub = self.bounds()
        lb[cols], ub[cols] = lower, upper
        return replace(self.copy(), lb=[lb], ub=[ub], integer=[self.integrality()])

    def relaxed(self, cols: np.ndarray | None = None) -> LinearModel:
        """An independent copy with `cols` (default: all) continuous: a relaxation, whose bound holds for this model."""
        integer = self.integrality()
        integer[slice(None) if cols is None else cols] = False
        return replace(self.copy(), integer=[integer])

    def row_family(self, row: int) -> Family:
        for fam in self.row_families:
            if fam.start <= row < fam.stop:
                return fam
        raise IndexError(row)


@dataclass
class Assembled:
    """A model's arrays, assembled once, that sub-models are cut from (block rounding cuts thousands)."""

    matrix: sp.csr_matrix
    lb: np.ndarray
    ub: np.ndarray
    row_lo: np.ndarray
    row_hi: np.ndarray
    integer: np.ndarray
    cost: np.ndarray

    @classmethod
    def of(cls, lm: LinearModel) -> Assembled:
        return cls(lm.matrix(), *lm.bounds(), *lm.row_bounds(), lm.integrality(), lm.objective())

    def part(self, cols: np.ndarray, rows: np.ndarray, x: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> LinearModel:
        """`cols` and `rows` alone (bounds `lower`, `upper`), every other column held at its value in `x`."""
        a = self.matrix[rows]
        held = x.copy()
        held[cols] = 0.0
        fixed = a @ held
        sub = LinearModel()
        var = sub.add_variables("part", len(cols), lower, upper)
        sub.integer = [self.integer[cols]]
        part = a[:, cols].tocoo()
        sub.add_constraints("part_rows", part.row, part.col, part.data, self.row_lo[rows] - fixed,
                            self.row_hi[rows] - fixed, n_rows=len(rows))
        sub.add_objective("value", var, self.cost[cols])
        return sub


def _cat(parts: list[np.ndarray], dtype: type = float) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)
