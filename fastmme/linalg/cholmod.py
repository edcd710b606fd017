"""CHOLMOD adapter: the only module that imports scikit-sparse.

Symbolic analysis once (`analyze`), numeric refactorisation per θ (`factorize`) into the same
factor, the diagonal of L (CHOLMOD's D() reads it without copying the factor), and solves.
Works with scikit-sparse 0.4.x on SuiteSparse 5 and 7.
"""
from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp

try:  # scikit-sparse 0.4.x
    from sksparse.cholmod import CholmodNotPositiveDefiniteError, analyze as _analyze
except ImportError as exc:  # pragma: no cover - set-up problem, not a user error
    raise ImportError("fastmme needs scikit-sparse (CHOLMOD); run `make setup` or "
                      "`pip install scikit-sparse==0.4.16` with libsuitesparse-dev installed") from exc

from ..errors import FastmmeError, NotPositiveDefinite


def fill_reducing_order(lower: sp.csc_matrix) -> np.ndarray:
    """CHOLMOD's fill-reducing ordering (AMD, METIS when it pays) of a symmetric pattern."""
    return np.asarray(_analyze(lower, mode="simplicial", ordering_method="default").P(), dtype=np.int64)


class SparseCholesky:
    """LLᵀ = P A Pᵀ for a fixed pattern; A is given by its lower triangle in CSC form."""

    def __init__(self, lower: sp.csc_matrix, ordering="natural", mode="auto"):
        self._matrix = lower
        self._factor = _analyze(lower, mode=mode, ordering_method=ordering)
        self.perm = np.asarray(self._factor.P(), dtype=np.int64)
        self.position = np.empty_like(self.perm)       # original index -> factor position
        self.position[self.perm] = np.arange(self.perm.shape[0])

    def factorize(self, data: np.ndarray) -> bool:
        """Numeric factorisation of the matrix with these values; False if not positive definite."""
        A = self._matrix
        A.data = data
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                self._factor.cholesky_inplace(A)
            except CholmodNotPositiveDefiniteError:
                return False
        return True

    def diag_L2(self) -> np.ndarray:
        """diag(L)² in factor order (entry i belongs to original index perm[i])."""
        return np.asarray(self._factor.D())

    def solve(self, b: np.ndarray) -> np.ndarray:
        """A⁻¹ b (b a vector or a dense matrix)."""
        return self._factor.solve_A(b)

    def inverse_sqrt_times(self, z: np.ndarray) -> np.ndarray:
        """x = Pᵀ L⁻ᵀ z for P A Pᵀ = L Lᵀ: for z ~ N(0, I), x ~ N(0, A⁻¹) (z a vector or a dense matrix
        of independent columns)."""
        return self._factor.apply_Pt(self._factor.solve_Lt(z, use_LDLt_decomposition=False))

    def _lower(self):
        L = self._factor.L().tocsc()
        L.sort_indices()
        return L

    def selected_inverse_bytes(self) -> int:
        """Estimated peak memory of selected_inverse: L (its values and row indices) and Z, 20 bytes
        an entry, and the largest dense working set of one supernode."""
        from .kernels.takahashi import peak_block_bytes, supernodes
        L = self._lower()
        start, _ = supernodes(L.indptr, L.indices)
        return 20 * int(L.nnz) + peak_block_bytes(L.indptr, start)

    def selected_inverse(self):
        """(Z, perm): A⁻¹ on the pattern of L as a lower-triangular CSC matrix in factor order (entry
        (a, b) is A⁻¹ at original indices perm[a], perm[b]).  Takahashi's recurrences
        (kernels/takahashi.py) on the current numeric factor; A⁻¹ itself is never formed."""
        from .kernels.takahashi import selected_inverse
        need, free = self.selected_inverse_bytes(), available_memory()
        if need > 0.8 * free:
            raise SelectedInverseTooLarge(f"the selected inverse of this factor needs about {need / 2**30:.1f} GB (its widest "
                               f"dense block included) and {free / 2**30:.1f} GB are available: PEVs, "
                               "reliabilities and AI-REML gradients are not computed at this size; fewer "
                               "levels in the largest separator (e.g. fewer contemporary groups) or more memory")
        L = self._lower()
        Z = selected_inverse(L.indptr, L.indices, L.data)
        return sp.csc_matrix((Z, L.indices, L.indptr), shape=L.shape), self.perm

    def inverse_diagonal(self) -> np.ndarray:
        """diag(A⁻¹) in the original order (what prediction-error variances need)."""
        Z, perm = self.selected_inverse()
        out = np.empty(Z.shape[0])
        out[perm] = Z.diagonal()
        return out

    def nnz_L(self) -> int:
        return int(self._factor.L().nnz)


FACTOR_BYTES_PER_ENTRY = 16       # a value, a row index and CHOLMOD's supernodal padding, per entry of L
GUARD_MIN_BYTES = 64 << 20         # factors below this are never refused
MAX_FACTOR_ENTRIES = 2**31 - 1     # CHOLMOD's int (not long) interface, which scikit-sparse 0.4 uses


def factor_column_counts(lower: sp.csc_matrix) -> np.ndarray:
    """Entries of each column of the Cholesky factor of the matrix (lower triangle, in its own order),
    from the symbolic structure alone (kernels/symbolic.py)."""
    from .kernels.symbolic import column_counts
    rows = lower.tocsr()
    return column_counts(rows.indptr.astype(np.int64), rows.indices.astype(np.int64), lower.shape[0])[1]


def check_factor_memory(lower: sp.csc_matrix, describe, counts=None) -> None:
    """Refuse, before any numeric work, a factor that would not fit in the available memory (instead
    of the operating system killing the process).  describe(counts) names the part responsible;
    counts: the factor's column counts if already known."""
    if counts is None:
        counts = factor_column_counts(lower)
    if factor_fits(counts):
        return
    if int(counts.sum()) >= MAX_FACTOR_ENTRIES:
        raise FastmmeError(f"the sparse factor of this model would have {int(counts.sum()):,} entries, more than "
                           f"the {MAX_FACTOR_ENTRIES:,} that CHOLMOD's 32-bit interface (scikit-sparse 0.4) can "
                           f"index: {describe(counts)}")
    need = FACTOR_BYTES_PER_ENTRY * int(counts.sum())
    free = available_memory()
    raise FastmmeError(f"the sparse factor of this model would have {int(counts.sum()):,} entries (about "
                       f"{need / 2**30:.1f} GB) and {free / 2**30:.1f} GB are available: {describe(counts)}")


def factor_fits(counts) -> bool:
    """Whether a factor with these column counts passes check_factor_memory."""
    total = int(np.sum(counts))
    need = FACTOR_BYTES_PER_ENTRY * total
    return total < MAX_FACTOR_ENTRIES and not (need > GUARD_MIN_BYTES and need > 0.8 * available_memory())


class SelectedInverseTooLarge(FastmmeError):
    """The selected inverse of a factor would not fit in the available memory."""


def available_memory() -> int:
    """Bytes of physical memory available now (Linux), or a large number where unknown."""
    import os
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 1 << 50


def logdet_spd(lower: sp.csc_matrix) -> float | None:
    """log|A| of a sparse symmetric positive-definite A given by its lower triangle; None if not PD."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            f = _analyze(lower, mode="auto", ordering_method="default").cholesky(lower)
        except CholmodNotPositiveDefiniteError:
            return None
    d = np.asarray(f.D())
    if not np.all(d > 0):
        return None
    return float(np.sum(np.log(d)))


def not_positive_definite(theta) -> FastmmeError:
    theta = np.asarray(theta)
    at = f"theta = {theta}" if theta.size <= 6 else \
        f"a theta of {theta.size} entries with max |theta| = {np.max(np.abs(theta)):.3g}"
    return NotPositiveDefinite(f"the mixed-model equations are not numerically positive definite at {at}; "
                        "this happens when the response is fitted exactly or theta is extreme (above ~1e7) — "
                        "check y and X, or rescale the response")
