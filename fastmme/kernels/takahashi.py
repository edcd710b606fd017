"""Selected inverse of a sparse Cholesky factor: the entries of A⁻¹ on the pattern of L.

With A = L Lᵀ and Z = A⁻¹, Z L = L⁻ᵀ is upper triangular with diagonal 1/L_jj, so for i ≥ j

    Z_ij = (δ_ij / L_jj − Σ_{k > j, L_kj ≠ 0} Z_ik L_kj) / L_jj          (Takahashi et al. 1973)

Processing columns from last to first, every Z_ik needed lies on the pattern of L (the pattern is
closed under this recurrence), so Z is computed there and nowhere else.  What AI-REML's traces and
breeders' PEVs (diag C⁻¹) need, without forming C⁻¹.  Tests: tests/test_takahashi.py (dense inverse).
"""
import numpy as np
from numba import njit

from ..config import JIT
from .small import find_sorted


@njit(**JIT)
def selected_inverse(indptr, indices, data):
    """Z on the pattern of the lower-triangular L (CSC, sorted rows, diagonal first in each column)."""
    n = indptr.shape[0] - 1
    Z = np.zeros(data.shape[0])
    for j in range(n - 1, -1, -1):
        p0 = indptr[j]
        p1 = indptr[j + 1]
        ljj = data[p0]
        for a in range(p1 - 1, p0, -1):          # Z_ij for the rows i > j of column j
            i = indices[a]
            acc = 0.0
            for b in range(p0 + 1, p1):
                k = indices[b]
                if i >= k:                        # Z_ik lives in column k, row i
                    pos = find_sorted(indices, indptr[k], indptr[k + 1], i)
                else:                             # Z_ik = Z_ki, in column i, row k
                    pos = find_sorted(indices, indptr[i], indptr[i + 1], k)
                if pos < 0:
                    raise ValueError("the pattern of L is not closed under the recurrence")
                acc += Z[pos] * data[b]
            Z[a] = -acc / ljj
        acc = 0.0
        for b in range(p0 + 1, p1):
            acc += Z[b] * data[b]
        Z[p0] = (1.0 / ljj - acc) / ljj
    return Z
