"""Fixed-effect factors with many levels (contemporary groups, herd-year-season) carried in the
sparse factor instead of dense columns of X.

A factor F (n × J one-hot) enters the augmented system like a random-intercept term with Λ = 1 and
no penalty: its block FᵀWF is diagonal, FᵀWZ is as sparse as the data, and its levels are ordered
among the random effects by the fill-reducing ordering, so no dense n × J or J × J matrix is ever
formed.  Rank deficiency is resolved before assembly, the way treatment contrasts do it for a dense
factor:

- the factors' levels form a graph (two levels are joined when a row has both); each connected set
  of levels of factors 2, 3, … loses one level (its first), which is set to zero;
- when X has an intercept, the first level of factor 1 is set to zero as well (R's treatment coding:
  every other level's estimate is its contrast with that level, the same numbers a dense factor
  gives);
- dense columns of X aliased with the factors (constant within levels, e.g. a sex effect when every
  group holds one sex) are dropped with a RankDeficiencyWarning, by Gram–Schmidt on the Schur
  complement XᵀX − XᵀF (FᵀF)⁻¹ FᵀX.

A zeroed level keeps its place in the equations with z = 0 for its rows and a unit diagonal, so its
column of the factor is the unit vector (pivot 1, solution 0, log-determinant 0).  Contrasts between
levels of one connected set are estimable; across sets they are not (with one factor there is one
set).  Tests: tests/test_sparse_fixed.py.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from ..config import RANK_TOL
from ..errors import FastmmeError, RankDeficiencyWarning
from .terms import _as_labels


@dataclass(frozen=True, eq=False)
class SparseFactor:
    """A fixed factor in the sparse part: codes (n,) int32, labels (J,), zeroed (J,) bool (levels
    set to zero), sets (J,) int64 (connected set of each level).  Duck-types the parts of Term the
    assembly reads (codes, r, n_levels, zmatrix)."""
    name: str
    codes: np.ndarray
    labels: np.ndarray
    zeroed: np.ndarray
    sets: np.ndarray
    r: int = 1

    @property
    def n_levels(self) -> int:
        return self.labels.shape[0]

    @property
    def levels(self) -> np.ndarray:
        return self.labels

    @property
    def q(self) -> int:
        return self.labels.shape[0]

    @property
    def n_estimable(self) -> int:
        return int(self.labels.shape[0] - np.sum(self.zeroed))

    def zmatrix(self) -> np.ndarray:
        """(n, 1): 1, or 0 on the rows of a zeroed level (which then drops out of the equations)."""
        return (~self.zeroed[self.codes]).astype(np.float64)[:, None]


def _intercept(X) -> bool:
    return X.shape[1] > 0 and bool(np.any(np.all(X == X[:1], axis=0) & (X[0] != 0)))


def _level_sets(codes_list, J_list):
    """Connected sets of the levels of all factors (a row joins its levels); per factor (J_k,) ids."""
    m = len(codes_list)
    if m == 1:
        return [np.zeros(J_list[0], dtype=np.int64)], 1
    off = np.concatenate([[0], np.cumsum(J_list)])
    rows = np.concatenate([codes_list[0].astype(np.int64)] * (m - 1))
    cols = np.concatenate([off[k] + codes_list[k].astype(np.int64) for k in range(1, m)])
    G = sp.coo_matrix((np.ones(rows.shape[0], dtype=np.int8), (rows, cols)), shape=(off[-1], off[-1]))
    n_sets, lab = connected_components(G, directed=False)
    return [lab[off[k]:off[k + 1]].astype(np.int64) for k in range(m)], int(n_sets)


def _first_per_set(sets, n_sets):
    first = np.full(n_sets, -1, dtype=np.int64)
    idx = np.arange(sets.shape[0])[::-1]
    first[sets[idx]] = idx            # the last write per set is its lowest level
    out = np.zeros(sets.shape[0], dtype=bool)
    out[first[first >= 0]] = True
    return out


def _schur_aliased(factors, X, tol=RANK_TOL):
    """Indices of X's columns (in order) whose residual after the factors and the earlier kept
    columns is below tol relative to the column's norm."""
    p = X.shape[1]
    if p == 0:
        return []
    n = X.shape[0]
    cols, off = [], 0
    for f in factors:
        keep = ~f.zeroed
        newcode = np.cumsum(keep) - 1
        rows = np.flatnonzero(keep[f.codes])
        cols.append((rows, off + newcode[f.codes[rows]]))
        off += f.n_estimable
    F = sp.csc_matrix((np.ones(sum(r.shape[0] for r, _ in cols)),
                       (np.concatenate([r for r, _ in cols]), np.concatenate([c for _, c in cols]))), shape=(n, off))
    FtF = (F.T @ F).tocsc()
    FtX = np.asarray(F.T @ X)
    if len(factors) == 1:
        d = FtF.diagonal()
        sol = FtX / d[:, None]
    else:
        from ..linalg.cholmod import SparseCholesky
        ch = SparseCholesky(FtF)
        if not ch.factorize(FtF.data) or not np.all(ch.diag_L2() > 1e-10 * FtF.diagonal().max()):
            names = ", ".join(f.name for f in factors)
            raise FastmmeError(f"the sparse fixed factors ({names}) are aliased beyond their connected sets "
                               "(some level is a combination of levels of the others); merge them into one "
                               "factor or give one of them as dense columns")
        sol = np.asarray(ch.solve(FtX))
    S = X.T @ X - FtX.T @ sol
    S = 0.5 * (S + S.T)
    xx = np.einsum("ij,ij->j", X, X)
    kept, aliased = [], []
    for j in range(p):
        if xx[j] == 0:
            aliased.append(j)
            continue
        if kept:
            K = np.array(kept)
            res = S[j, j] - S[j, K] @ np.linalg.solve(S[np.ix_(K, K)], S[K, j])
        else:
            res = S[j, j]
        if res <= tol * tol * xx[j]:
            aliased.append(j)
        else:
            kept.append(j)
    return aliased


def resolve(factors: dict, X: np.ndarray, x_names: list):
    """(SparseFactor tuple, X kept, names kept, names dropped) for factors {name: labels (n,)} and the
    (already full-rank) dense X.  Warns (RankDeficiencyWarning) for dropped columns of X."""
    if not factors:
        return (), X, list(x_names), []
    n = X.shape[0]
    names, codes_list, labels_list = [], [], []
    for name, groups in factors.items():
        codes, labels = _as_labels(groups)
        if codes.shape[0] != n:
            raise FastmmeError(f"sparse fixed factor {name!r} has {codes.shape[0]} labels for {n} observations")
        names.append(str(name))
        codes_list.append(codes)
        labels_list.append(labels)
    J_list = [len(lv) for lv in labels_list]
    sets_list, n_sets = _level_sets(codes_list, J_list)
    out = []
    for k, (nm, codes, labels, sets) in enumerate(zip(names, codes_list, labels_list, sets_list)):
        zeroed = np.zeros(labels.shape[0], dtype=bool)
        if k > 0:
            zeroed = _first_per_set(sets, n_sets)
        elif _intercept(X):
            zeroed[0] = True
        codes.setflags(write=False)
        for a in (labels, zeroed, sets):
            a.setflags(write=False)
        out.append(SparseFactor(name=nm, codes=codes, labels=labels, zeroed=zeroed, sets=sets))
    aliased = _schur_aliased(out, X)
    dropped = [x_names[j] for j in aliased]
    if dropped:
        warnings.warn(f"fixed-effect columns {', '.join(dropped)} are aliased with the sparse fixed factor(s) "
                      f"{', '.join(names)} (constant within their levels): dropped; their effects are not "
                      "estimable", RankDeficiencyWarning, stacklevel=4)
        keep = [j for j in range(X.shape[1]) if j not in set(aliased)]
        X = np.ascontiguousarray(X[:, keep])
        x_names = [x_names[j] for j in keep]
    return tuple(out), X, list(x_names), dropped
