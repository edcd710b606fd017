"""Known covariance structures of random-effects terms: Σ = Σ_k ⊗ K with K known up to scale.

A term with a relationship matrix K (a pedigree's A, a genomic G, a single-step H) has random effects
b = (T_k ⊗ I) v with v ~ N(0, σ² I_r ⊗ K).  The mixed-model equations in v keep K⁻¹ where the iid
model has I, so they stay as sparse as K⁻¹ (Henderson's animal model), and

    log|ΛᵀZᵀWZΛ + I| = log|(T ⊗ I)ᵀZᵀWZ(T ⊗ I) + I_r ⊗ K⁻¹| + r log|K|

(Λ = T ⊗ L_K with K = L_K L_Kᵀ): the profiled criterion is lme4's with that constant added.  This
module turns what the user gives (a Pedigree, K, or K⁻¹, with the levels' labels) into K⁻¹ in the
labels' order, log|K| and diag(K) (for reliabilities).  Tests: tests/test_relationship.py.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import FastmmeError


@dataclass(frozen=True, eq=False)
class KnownCovariance:
    labels: np.ndarray          # level labels, in the order of the matrix's rows
    precision: sp.csc_matrix    # K⁻¹, symmetric, sorted indices
    logdet: float               # log|K|
    _diag: np.ndarray | None = None   # diag(K) when known without work (pedigree: 1 + F)

    @property
    def n(self) -> int:
        return self.labels.shape[0]

    @functools.cached_property
    def diagonal(self) -> np.ndarray:
        """diag(K): given, or the diagonal of (K⁻¹)⁻¹ by the selected inverse of its sparse factor."""
        if self._diag is not None:
            return self._diag
        d = self._factor.inverse_diagonal()
        d.setflags(write=False)
        return d

    @functools.cached_property
    def _factor(self):
        from ..linalg.cholmod import SparseCholesky
        f = SparseCholesky(sp.tril(self.precision, format="csc"), ordering="default")
        if not f.factorize(sp.tril(self.precision, format="csc").data):
            raise FastmmeError("the relationship matrix's inverse is not positive definite: check how it was built, or "
                               "blend a genomic G with A₂₂ (fastmme.genomic.blend)")
        return f

    def matvec(self, V) -> np.ndarray:
        """K V for V (n × k), by solves with the sparse factor of K⁻¹ (K itself is never formed)."""
        return np.asarray(self._factor.solve(np.asarray(V, dtype=float))).reshape(np.shape(V))

    def draw(self, z: np.ndarray) -> np.ndarray:
        """C z with C Cᵀ = K, for z (n × k) of independent N(0, 1): k independent draws of N(0, K) as
        columns (through the sparse factor of K⁻¹; K itself is never formed)."""
        z = np.asarray(z, dtype=float)
        return np.asarray(self._factor.inverse_sqrt_times(z)).reshape(z.shape)

    def codes(self, groups) -> np.ndarray:
        """Position of each observation's label among the matrix's labels (int32); unknown labels are
        an error that names them."""
        arr = groups if isinstance(groups, (pd.Series, pd.Index, pd.Categorical)) else np.asarray(groups)
        if np.ndim(arr) != 1:
            raise FastmmeError(f"groups must be one-dimensional; got shape {np.shape(arr)}")
        pos = _label_index(self.labels).get_indexer(pd.Index(arr))
        if np.any(pos < 0):
            missing = pd.unique(np.asarray(arr, dtype=object)[pos < 0])
            shown = ", ".join(map(str, missing[:10])) + (f" (and {len(missing) - 10} more)" if len(missing) > 10 else "")
            raise FastmmeError(f"{len(missing)} group label(s) are not among the relationship matrix's labels, "
                               f"e.g. {shown}; add them to the pedigree or matrix (founders if their parents "
                               "are unknown), or drop those observations")
        return pos.astype(np.int32)


def _label_index(labels) -> pd.Index:
    idx = pd.Index(labels)
    if not idx.is_unique:
        dup = idx[idx.duplicated()].unique()
        raise FastmmeError(f"the relationship matrix's labels are not unique: {', '.join(map(str, dup[:10]))}; "
                           "give each row its own label")
    return idx


def _square(name, M, labels):
    """(matrix (dense ndarray or CSC), labels ndarray) from a DataFrame or a matrix plus labels."""
    if isinstance(M, pd.DataFrame):
        if labels is None:
            labels = M.index.to_numpy()
        if not M.index.equals(M.columns):
            raise FastmmeError(f"{name}: a DataFrame must have the same labels as index and columns")
        M = M.to_numpy(dtype=float)
    if labels is None:
        raise FastmmeError(f"{name} needs the labels of its rows: pass labels=[...] (the level labels in the "
                           "matrix's order) or a pandas DataFrame indexed by them")
    labels = np.asarray(labels)
    if sp.issparse(M):
        M = sp.csc_matrix(M, dtype=float, copy=True)
        M.sum_duplicates()
        M.sort_indices()
        data = M.data
    else:
        M = np.array(M, dtype=float, copy=True)
        data = M
    if M.ndim != 2 or M.shape[0] != M.shape[1]:
        raise FastmmeError(f"{name} must be a square matrix (one row and column per level); got shape {M.shape}")
    if labels.shape != (M.shape[0],):
        raise FastmmeError(f"{name} has {M.shape[0]} rows but {labels.size} labels were given: give one label per row")
    if not np.all(np.isfinite(data)):
        raise FastmmeError(f"{name} contains NaN or inf: fix those entries (a relationship matrix is finite)")
    asym = abs(M - M.T).max() if sp.issparse(M) else np.max(np.abs(M - M.T), initial=0.0)
    scale = abs(M).max() if sp.issparse(M) else np.max(np.abs(M), initial=0.0)
    if asym > 1e-10 * max(scale, 1e-300):
        raise FastmmeError(f"{name} is not symmetric (largest |K − Kᵀ| = {asym:.3g}): check how it was built, or "
                               "pass (K + Kᵀ) / 2 if the asymmetry is rounding")
    _label_index(labels)
    return M, labels


def known_covariance(relationship=None, precision=None, labels=None) -> KnownCovariance:
    """K⁻¹, log|K| and labels from a Pedigree (or an H⁻¹), a relationship matrix K or a precision matrix K⁻¹."""
    if (relationship is None) == (precision is None):
        raise FastmmeError("give exactly one of relationship= (a Pedigree, or K) and precision= (K⁻¹)")
    given = relationship if relationship is not None else precision
    if hasattr(given, "known_covariance"):          # a fastmme.pedigree.Pedigree, a fastmme.genomic.HInverse
        if labels is not None:
            raise FastmmeError(f"{given.carries} carries its own labels; do not pass labels=")
        return given.known_covariance()
    if relationship is not None:
        K, labels = _square("relationship", relationship, labels)
        Kd = K.toarray() if sp.issparse(K) else K
        import scipy.linalg
        try:
            c = scipy.linalg.cho_factor(Kd, lower=True, check_finite=False)
        except np.linalg.LinAlgError:
            raise FastmmeError("the relationship matrix is not positive definite (a genomic G usually is "
                               "not): blend it with A₂₂ or add a small value to its diagonal "
                               "(fastmme.genomic.blend) before fitting") from None
        logdet = 2.0 * float(np.sum(np.log(np.diag(c[0]))))
        Kinv = scipy.linalg.cho_solve(c, np.eye(Kd.shape[0]), check_finite=False)
        Kinv = 0.5 * (Kinv + Kinv.T)
        diag = np.diag(Kd).copy()
        diag.setflags(write=False)
        return KnownCovariance(labels=labels, precision=sp.csc_matrix(Kinv), logdet=logdet, _diag=diag)
    P, labels = _square("precision", precision, labels)
    P = sp.csc_matrix(P)
    P.eliminate_zeros()
    P.sort_indices()
    from ..linalg.cholmod import logdet_spd
    ld = logdet_spd(sp.tril(P, format="csc"))
    if ld is None:
        raise FastmmeError("the precision matrix is not positive definite; check how it was built")
    return KnownCovariance(labels=labels, precision=P, logdet=-ld)
