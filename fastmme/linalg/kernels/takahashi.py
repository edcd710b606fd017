"""Selected inverse of a sparse Cholesky factor: the entries of A⁻¹ on the pattern of L.

With A = L Lᵀ and Z = A⁻¹, Z L = L⁻ᵀ is upper triangular with diagonal 1/L_jj, so for i ≥ j

    Z_ij = (δ_ij / L_jj − Σ_{k > j, L_kj ≠ 0} Z_ik L_kj) / L_jj          (Takahashi et al. 1973)

Processing columns from last to first, every Z_ik needed lies on the pattern of L (the pattern is
closed under this recurrence), so Z is computed there and nowhere else.  What AI-REML's traces and
breeders' PEVs (diag C⁻¹) need, without forming C⁻¹.

The recurrence is run by supernodes (Lin et al. 2011, SelInv): consecutive columns f..l whose
patterns nest (column c holds rows c..l and the same rows R below l) form a dense diagonal block
L_D (w × w) and a dense block L_B (|R| × w).  With Û = L_B L_D⁻¹ and Z_RR gathered from the later
columns,

    Z_RJ = −Z_RR Û,        Z_JJ = L_D⁻ᵀ L_D⁻¹ − Ûᵀ Z_RJ,

dense products (BLAS) instead of one sparse dot product per entry.  Z_RR is gathered through the
supernode of each of its columns (rows at fixed offsets), not by searching.

Narrow supernodes (w ≤ WIDE) run in one compiled sweep with scalar triangular algebra; wide ones (the
separators at the top of the elimination tree: a million-animal pedigree's sires form one of 10⁴
columns) are done in place by LAPACK (dtrtri then dlauum: L_D⁻ᵀL_D⁻¹ in the block's own storage)
and one BLAS update, so the widest block costs one dense w × w array, not several copies.
Tests: tests/test_takahashi.py (dense inverse, both paths).
"""
import numpy as np
from numba import njit
from scipy.linalg import blas, lapack

from ...config import JIT
from .small import find_sorted


@njit(**JIT)
def supernodes(indptr, indices):
    """(start (ns + 1,), supernode of each column (n,)): maximal runs of columns j, j+1 with the
    pattern of j equal to {j} ∪ the pattern of j + 1."""
    n = indptr.shape[0] - 1
    start = np.empty(n + 1, dtype=np.int64)
    of = np.empty(n, dtype=np.int64)
    ns = 0
    for j in range(n):
        if j > 0:
            c0 = indptr[j] - indptr[j - 1]
            c1 = indptr[j + 1] - indptr[j]
            if c0 == c1 + 1 and c0 > 1 and indices[indptr[j - 1] + 1] == j:
                of[j] = ns - 1
                continue
        start[ns] = j
        of[j] = ns
        ns += 1
    start[ns] = n
    return start[:ns + 1].copy(), of


@njit(**JIT)
def _row_offset(indices, indptr, start, s, row):
    """Offset of `row` in the pattern of the first column of supernode s (binary search below it)."""
    f = start[s]
    l = start[s + 1] - 1
    if row <= l:
        return row - f
    pos = find_sorted(indices, indptr[f] + (l - f + 1), indptr[f + 1], row)
    if pos < 0:
        raise ValueError("the pattern of L is not closed under the recurrence")
    return pos - indptr[f]


WIDE = 64        # supernodes wider than this go to LAPACK in place


@njit(**JIT)
def _blocks(indptr, data, f, w, m):
    """(L_D (w × w, C order, zero above the diagonal), L_B (m × w)) of the supernode starting at f."""
    LD = np.zeros((w, w))
    LB = np.empty((m, w))
    for c in range(w):
        pc = indptr[f + c]
        for r in range(c, w):
            LD[r, c] = data[pc + r - c]
        for t in range(m):
            LB[t, c] = data[pc + w - c + t]
    return LD, LB


@njit(**JIT)
def _gather(indptr, indices, start, of, Z, R):
    """Z_RR (m × m, both triangles) from the columns already done, through their supernodes."""
    m = R.shape[0]
    ZRR = np.empty((m, m))
    b = 0
    while b < m:
        sk = of[R[b]]
        e = b
        while e < m and of[R[e]] == sk:
            e += 1
        fk = start[sk]
        offs = np.empty(m - b, dtype=np.int64)
        for a in range(b, m):
            offs[a - b] = _row_offset(indices, indptr, start, sk, R[a])
        for c in range(b, e):
            base = indptr[R[c]] - (R[c] - fk)       # column R[c] holds rows from R[c] on
            for a in range(c, m):
                v = Z[base + offs[a - b]]
                ZRR[a, c] = v
                ZRR[c, a] = v
        b = e
    return ZRR


@njit(**JIT)
def _store(indptr, Z, f, w, m, ZRJ, ZJJ):
    """Write Z_JJ's lower triangle and Z_RJ into the supernode's columns."""
    for c in range(w):
        pc = indptr[f + c]
        for r in range(c, w):
            Z[pc + r - c] = ZJJ[r, c]
        for t in range(m):
            Z[pc + w - c + t] = ZRJ[t, c]


@njit(**JIT)
def _tri_inv(L):
    """L⁻¹ of a small lower-triangular L (row by row)."""
    n = L.shape[0]
    X = np.zeros((n, n))
    for r in range(n):
        X[r, r] = 1.0
        for k in range(r):
            lrk = L[r, k]
            if lrk != 0.0:
                for c in range(k + 1):
                    X[r, c] -= lrk * X[k, c]
        inv = 1.0 / L[r, r]
        for c in range(r + 1):
            X[r, c] *= inv
    return X


@njit(**JIT)
def _sweep(indptr, indices, data, start, of, Z, hi, lo):
    """Supernodes hi − 1 down to lo, all narrow, in one compiled loop."""
    for s in range(hi - 1, lo - 1, -1):
        f = start[s]
        w = start[s + 1] - f
        p0 = indptr[f]
        m = indptr[f + 1] - p0 - w
        R = indices[p0 + w:p0 + w + m]
        LD, LB = _blocks(indptr, data, f, w, m)
        LDinv = _tri_inv(LD)
        ZJJ = np.ascontiguousarray(LDinv.T @ LDinv)                # L_D⁻ᵀ L_D⁻¹
        ZRJ = np.empty((m, w))
        if m > 0:
            U = LB @ LDinv                                          # Û = L_B L_D⁻¹
            ZRJ = -(_gather(indptr, indices, start, of, Z, R) @ U)
            ZJJ -= U.T @ ZRJ
        _store(indptr, Z, f, w, m, ZRJ, ZJJ)


def _wide(indptr, indices, data, start, of, Z, s):
    """One wide supernode by LAPACK/BLAS in place: L_D (C order, lower) seen in Fortran order is L_Dᵀ
    (upper), so dtrtri leaves L_D⁻¹ and dlauum then L_D⁻ᵀ L_D⁻¹ in the same array."""
    f = start[s]
    w = start[s + 1] - f
    p0 = indptr[f]
    m = indptr[f + 1] - p0 - w
    LD, LB = _blocks(indptr, data, f, w, m)
    _, info = lapack.dtrtri(LD.T, lower=0, overwrite_c=1)
    if info != 0:
        raise ValueError(f"dtrtri failed on a diagonal block of the factor (info {info})")
    ZRJ = np.empty((m, w))
    if m > 0:
        U = LB @ LD                                                 # Û = L_B L_D⁻¹
        del LB
        ZRJ = -(_gather(indptr, indices, start, of, Z, indices[p0 + w:p0 + w + m]) @ U)
    _, info = lapack.dlauum(LD.T, lower=0, overwrite_c=1)
    if info != 0:
        raise ValueError(f"dlauum failed on a diagonal block of the factor (info {info})")
    if m > 0:                                                       # Z_JJ −= Ûᵀ Z_RJ, into the lower part
        blas.dgemm(-1.0, U.T, ZRJ.T, beta=1.0, c=LD.T, trans_b=1, overwrite_c=1)
    _store(indptr, Z, f, w, m, ZRJ, LD)


def selected_inverse(indptr, indices, data, wide: int = WIDE):
    """Z on the pattern of the lower-triangular L (CSC, sorted rows, diagonal first in each column)."""
    start, of = supernodes(indptr, indices)
    ns = start.shape[0] - 1
    Z = np.zeros(data.shape[0])
    hi = ns
    for s in np.flatnonzero(np.diff(start) > wide)[::-1]:
        _sweep(indptr, indices, data, start, of, Z, hi, s + 1)
        _wide(indptr, indices, data, start, of, Z, s)
        hi = s
    _sweep(indptr, indices, data, start, of, Z, hi, 0)
    return Z


def peak_block_bytes(indptr, start) -> int:
    """Largest dense working set of one supernode (L_D, Û, Z_RR, Z_RJ), in bytes."""
    w = np.diff(start)
    m = np.diff(indptr)[start[:-1]] - w
    return int(8 * np.max(w * w + m * m + 2 * m * w)) if w.shape[0] else 0


@njit(**JIT)
def values_at(indptr, indices, data, rows, cols, out):
    """out[t] = Z[rows[t], cols[t]] of a lower CSC matrix with sorted row indices (rows[t] ≥ cols[t]), by
    binary search in the column; NaN where the entry is not stored."""
    for t in range(rows.shape[0]):
        j = cols[t]
        pos = find_sorted(indices, indptr[j], indptr[j + 1], rows[t])
        out[t] = data[pos] if pos >= 0 else np.nan
