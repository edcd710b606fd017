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
Tests: tests/test_takahashi.py (dense inverse).
"""
import numpy as np
from numba import njit

from ..config import JIT
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


@njit(**JIT)
def _tri_inv(L):
    """L⁻¹ of a lower-triangular C-contiguous L: by halves, [[A, 0], [B, C]]⁻¹ = [[A⁻¹, 0],
    [−C⁻¹BA⁻¹, C⁻¹]], so the work is in BLAS products (≈ n³/3 flops); rows below 48."""
    n = L.shape[0]
    X = np.zeros((n, n))
    if n <= 48:
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
    h = n // 2
    Ai = _tri_inv(np.ascontiguousarray(L[:h, :h]))
    Ci = _tri_inv(np.ascontiguousarray(L[h:, h:]))
    X[:h, :h] = Ai
    X[h:, h:] = Ci
    X[h:, :h] = -(Ci @ (np.ascontiguousarray(L[h:, :h]) @ Ai))
    return X


@njit(**JIT)
def _lower_gram(X):
    """XᵀX for a lower-triangular C-contiguous X, by halves: [[AᵀA + BᵀB, BᵀC], [CᵀB, CᵀC]]."""
    n = X.shape[0]
    if n <= 48:
        return np.ascontiguousarray(X.T @ X)
    h = n // 2
    B = np.ascontiguousarray(X[h:, :h])
    C = np.ascontiguousarray(X[h:, h:])
    P = np.empty((n, n))
    P[:h, :h] = _lower_gram(np.ascontiguousarray(X[:h, :h])) + B.T @ B
    BC = B.T @ C
    P[:h, h:] = BC
    P[h:, :h] = BC.T
    P[h:, h:] = _lower_gram(C)
    return P


@njit(**JIT)
def selected_inverse(indptr, indices, data):
    """Z on the pattern of the lower-triangular L (CSC, sorted rows, diagonal first in each column)."""
    start, of = supernodes(indptr, indices)
    ns = start.shape[0] - 1
    Z = np.zeros(data.shape[0])
    for s in range(ns - 1, -1, -1):
        f = start[s]
        w = start[s + 1] - f
        p0 = indptr[f]
        m = indptr[f + 1] - p0 - w
        R = indices[p0 + w:p0 + w + m]
        # L_D (w × w lower) and L_B (m × w)
        LD = np.zeros((w, w))
        LB = np.empty((m, w))
        for c in range(w):
            pc = indptr[f + c]
            for r in range(c, w):
                LD[r, c] = data[pc + r - c]
            for t in range(m):
                LB[t, c] = data[pc + w - c + t]
        LDinv = _tri_inv(LD)
        ZJJ = _lower_gram(LDinv)                            # L_D⁻ᵀ L_D⁻¹
        if m > 0:
            U = LB @ LDinv                                  # Û = L_B L_D⁻¹
            ZRR = np.empty((m, m))
            b = 0
            while b < m:                                    # the columns of R, by their supernode
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
            ZRJ = -(ZRR @ U)
            ZJJ -= U.T @ ZRJ
            for c in range(w):
                pc = indptr[f + c]
                for t in range(m):
                    Z[pc + w - c + t] = ZRJ[t, c]
        for c in range(w):
            pc = indptr[f + c]
            for r in range(c, w):
                Z[pc + r - c] = ZJJ[r, c]
    return Z
