"""Random-effects terms and their relative covariance factor Λ.

A term k has a grouping factor with J_k levels and r_k model columns z.  Its random effects are
b_kj ~ N(0, Σ_k) for the levels j, with Σ_k = σ² T_k T_kᵀ and T_k lower triangular (lme4's relative
covariance factor).  θ_k holds the free entries of T_k in lme4's order: the lower triangle column by
column.  Λ_k = I_{J_k} ⊗ T_k.  A term owns this algebra: the rest of the package only calls
`lambda_block`, `theta_lower`, `theta_start` and `n_theta`.
Tests: tests/test_terms.py.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import FastmmeError

STRUCTURES = ("unstructured", "diagonal", "identity")


def _as_labels(groups):
    """Factorise labels: (codes int32, sorted level labels).  No caller data is modified."""
    # pandas objects are factorised as they are: converting a string column to a NumPy object array
    # first costs tens of MB per million rows
    arr = groups if isinstance(groups, (pd.Series, pd.Index, pd.Categorical)) else np.asarray(groups)
    if arr.ndim != 1:
        raise FastmmeError(f"groups must be one-dimensional (one label per observation); got shape {np.shape(arr)}")
    try:
        codes, levels = pd.factorize(arr, sort=True, use_na_sentinel=True)
    except TypeError:   # mixed, unorderable labels: order them by their text
        codes, levels = pd.factorize(np.asarray(arr).astype(str), sort=True, use_na_sentinel=True)
    if np.any(codes < 0):
        raise FastmmeError(f"groups contain {int(np.sum(codes < 0))} missing label(s) (None/NaN): give every "
                           "observation a group label or drop those rows first")
    return codes.astype(np.int32), np.asarray(levels)


def _psd_cholesky(S) -> np.ndarray:
    """Lower-triangular L with L Lᵀ = S for a positive semi-definite S (a zero pivot: a zero column).  A
    pivot is zero when at most 1e-14 of its own diagonal entry (column j is a combination of the earlier
    ones to rounding), so that L of D S D is D L for any positive diagonal D: the test does not depend on
    the scale of the term's covariates (fastmme.optimize.theta_scale)."""
    r = S.shape[0]
    L = np.zeros((r, r))
    for j in range(r):
        d = S[j, j] - L[j, :j] @ L[j, :j]
        if not d > 1e-14 * S[j, j]:
            continue
        L[j, j] = np.sqrt(d)
        L[j + 1:, j] = (S[j + 1:, j] - L[j + 1:, :j] @ L[j, :j]) / L[j, j]
    return L


def theta_start(terms) -> np.ndarray:
    """lme4's start (every T_k = I) for a sequence of terms, in their order."""
    return np.concatenate([t.theta_start() for t in terms])


def theta_lower(terms) -> np.ndarray:
    """lme4's lower bounds of θ (0 on the diagonals of the T_k, −inf elsewhere) for a sequence of terms."""
    return np.concatenate([t.theta_lower() for t in terms])


def theta_lower_free(terms) -> np.ndarray:
    """The bounds the gradient methods use: none for unstructured vector terms (r ≥ 2; Σ_k ∝ T_k T_kᵀ is
    smooth in every entry, as in MixedModels.jl 5), lme4's for scalar and diagonal terms."""
    return np.concatenate([np.full(t.n_theta, -np.inf) if t.structure == "unstructured" and t.r >= 2
                           else t.theta_lower() for t in terms])


class Term:
    """One random-effects term.

    Parameters
    ----------
    groups : array-like, length n
        Group label of each observation (ints or strings); factorised internally, labels kept in
        `levels` (sorted, as R's factor()).
    z : None or array-like (n,) or (n, r)
        The term's model columns.  None is a random intercept (a column of ones).
    structure : {"unstructured", "diagonal", "identity"}
        Σ_k unstructured (lme4's ``(x | g)``), diagonal (lme4's ``(x || g)``) or σ_k² I (one variance
        shared by the r columns).
    name : str, optional
        Name of the grouping factor, used in messages and output.
    z_names : sequence of str, optional
        Names of the columns of z (default "(Intercept)" for z=None, else "z0", "z1", ...).
    relationship : Pedigree, array, sparse matrix, DataFrame or KnownCovariance, optional
        A known relationship matrix K between the levels: Var(b) = Σ_k ⊗ K (the animal model with a
        pedigree's A; random regression with K).  The levels are then all of K's labels, in K's order,
        including levels without observations (animals without records).
    precision : sparse matrix, array or DataFrame, optional
        K⁻¹ instead of K (a single-step H⁻¹, or a precomputed A⁻¹).
    labels : sequence, optional
        The labels of K's (or K⁻¹'s) rows when a plain matrix is given.
    """

    def __init__(self, groups, z=None, structure="unstructured", name=None, z_names=None,
                 relationship=None, precision=None, labels=None):
        if structure not in STRUCTURES:
            raise FastmmeError(f"structure must be one of {STRUCTURES}; got {structure!r}")
        self.known = None
        if relationship is not None or precision is not None:
            from .relationship import KnownCovariance, known_covariance
            if isinstance(relationship, KnownCovariance) and precision is None and labels is None:
                self.known = relationship
            else:
                self.known = known_covariance(relationship, precision, labels)
            self.codes, self.levels = self.known.codes(groups), self.known.labels
        elif labels is not None:
            raise FastmmeError("labels= names the rows of a relationship or precision matrix; give one of those")
        else:
            self.codes, self.levels = _as_labels(groups)
        n = self.codes.shape[0]
        if z is None:
            self.z = None
            self.r = 1
            names = ["(Intercept)"]
        else:
            if hasattr(z, "columns") and z_names is None:
                z_names = [str(c) for c in z.columns]
            zz = np.array(z, dtype=np.float64, copy=True)
            if zz.ndim == 1:
                zz = zz[:, None]
            if zz.ndim != 2 or zz.shape[0] != n:
                raise FastmmeError(f"z of term {name or ''} must have shape (n, r) with n = {n} "
                                   f"(the length of groups); got {np.shape(z)}")
            if zz.shape[1] == 0:
                raise FastmmeError("z has no columns: pass z=None for a random intercept")
            if not np.all(np.isfinite(zz)):
                raise FastmmeError(f"z of term {name or ''} contains NaN or inf: drop or impute those rows")
            self.z = np.ascontiguousarray(zz)
            self.r = zz.shape[1]
            names = [f"z{i}" for i in range(self.r)]
        if z_names is not None:
            names = [str(s) for s in z_names]
            if len(names) != self.r:
                raise FastmmeError(f"z_names has {len(names)} names for {self.r} columns of z: give one name per column")
        self.z_names = tuple(names)
        self.structure = structure
        self.name = name

    # ---- sizes -------------------------------------------------------------------------------
    @property
    def n(self) -> int:
        return self.codes.shape[0]

    @property
    def n_levels(self) -> int:
        return len(self.levels)

    @property
    def q(self) -> int:
        """Number of random effects of the term, J_k r_k."""
        return self.n_levels * self.r

    @property
    def n_theta(self) -> int:
        r = self.r
        return {"unstructured": r * (r + 1) // 2, "diagonal": r, "identity": 1}[self.structure]

    # ---- θ ↔ Λ ---------------------------------------------------------------------------------
    def _diag_mask(self) -> np.ndarray:
        """True where θ is a diagonal entry of T (bounded below by 0)."""
        if self.structure != "unstructured":
            return np.ones(self.n_theta, dtype=bool)
        return np.array([i == j for j in range(self.r) for i in range(j, self.r)])

    def theta_lower(self) -> np.ndarray:
        """Lower bounds of θ_k: 0 for diagonal entries of T_k, -inf for the others (lme4's `lower`)."""
        return np.where(self._diag_mask(), 0.0, -np.inf)

    def theta_start(self) -> np.ndarray:
        """lme4's start: T_k = I."""
        return np.where(self._diag_mask(), 1.0, 0.0)

    def lambda_block(self, theta_k) -> np.ndarray:
        """T_k (r × r, lower triangular) from θ_k."""
        r = self.r
        t = np.asarray(theta_k, dtype=np.float64)
        if self.structure == "identity":
            return t[0] * np.eye(r)
        if self.structure == "diagonal":
            return np.diag(t)
        T = np.zeros((r, r))
        k = 0
        for j in range(r):
            for i in range(j, r):
                T[i, j] = t[k]
                k += 1
        return T

    def canonical_theta(self, theta_k) -> np.ndarray:
        """θ_k of the same Σ_k ∝ T Tᵀ with T the semi-definite Cholesky factor of T Tᵀ (a zero pivot
        gets a zero column below it).  T is not unique when a diagonal entry is 0: [[0, 0], [b, 0]] and
        [[0, 0], [0, |b|]] give one Σ, and only the second can grow the first variance without a
        covariance.  The criterion is the same at both."""
        t = np.asarray(theta_k, dtype=np.float64)
        if self.structure != "unstructured":
            return np.abs(t)
        T = self.lambda_block(t)
        return self._theta_of(_psd_cholesky(T @ T.T))

    def theta_from_covariance(self, S) -> np.ndarray:
        """θ_k with T_k T_kᵀ = S (S = Σ_k / σ², relative to the residual variance)."""
        r = self.r
        S = np.atleast_2d(np.asarray(S, dtype=np.float64))
        if S.shape != (r, r) or not np.all(np.isfinite(S)) or not np.allclose(S, S.T):
            raise FastmmeError(f"term {self.name or ''}: give a symmetric {r} × {r} covariance matrix "
                               f"(a number when r = 1); got shape {S.shape}")
        w = np.linalg.eigvalsh(S)
        if w.min() < -1e-12 * max(1.0, w.max()):
            raise FastmmeError(f"term {self.name or ''}: the covariance matrix is not positive semi-definite "
                               f"(smallest eigenvalue {w.min():.3g}): give a valid covariance matrix (variances "
                               "≥ 0, correlations in [−1, 1])")
        off = S - np.diag(np.diag(S))
        if self.structure == "identity":
            if np.any(off != 0) or not np.allclose(np.diag(S), S[0, 0]):
                raise FastmmeError(f"term {self.name or ''} has structure 'identity': give σ² I")
            return np.array([np.sqrt(S[0, 0])])
        if self.structure == "diagonal":
            if np.any(off != 0):
                raise FastmmeError(f"term {self.name or ''} has structure 'diagonal': give a diagonal matrix")
            return np.sqrt(np.diag(S))
        return self._theta_of(_psd_cholesky(S))

    def _theta_of(self, L) -> np.ndarray:
        r = self.r
        return np.array([L[i, j] for j in range(r) for i in range(j, r)])

    def lambda_jacobian(self) -> np.ndarray:
        """∂ vec(T_k) / ∂θ_k as an (n_theta × r²) matrix (T row-major; the map θ_k → T_k is linear)."""
        return np.stack([self.lambda_block(e).ravel() for e in np.eye(self.n_theta)])

    def theta_names(self, group_name: str) -> list[str]:
        """lme4's names of θ: "g.(Intercept)", "g.x.(Intercept)", "g.x" (lower triangle by column)."""
        nm = self.z_names
        if self.structure == "identity":
            return [f"{group_name}.{'|'.join(nm)}"]
        if self.structure == "diagonal":
            return [f"{group_name}.{a}" for a in nm]
        return [f"{group_name}.{nm[i]}" if i == j else f"{group_name}.{nm[i]}.{nm[j]}"
                for j in range(self.r) for i in range(j, self.r)]

    def zmatrix(self) -> np.ndarray:
        """The term's model columns (n, r) as float64 (ones for an intercept)."""
        if self.z is None:
            return np.ones((self.n, 1))
        return self.z

    def __repr__(self) -> str:
        cols = " + ".join(self.z_names)
        bar = "||" if self.structure == "diagonal" else "|"
        s = f"({cols} {bar} {self.name or 'g'})"
        if self.structure == "identity":
            s += " [identity]"
        if self.known is not None:
            s += " [known relationship]"
        return f"Term{s}: {self.n_levels} levels"
