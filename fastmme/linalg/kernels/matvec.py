"""ZᵀWZ times vectors, from the assembled blocks (the rows are not read again).

Tests: tests/test_newton.py (against the dense ZᵀWZ of tests/naive.py).
"""
from numba import njit

from ...config import JIT
from .layout import diag_base, level_row, pair_block


@njit(**JIT)
def zz_matvec(zz, r, J, q_offset, diag_offset, pair_k, pair_l, pair_offset, pair_keys, key_offset, A, out):
    """out = ZᵀWZ · A for A (q × k): the diagonal blocks and both halves of every pair block."""
    K = r.shape[0]
    k = A.shape[1]
    out[:, :] = 0.0
    for t in range(K):
        rt = r[t]
        for j in range(J[t]):
            base = diag_base(diag_offset, t, j, rt)
            row0 = level_row(q_offset, t, j, rt)
            for a in range(rt):
                for b in range(rt):
                    v = zz[base + a * rt + b]
                    for c in range(k):
                        out[row0 + a, c] += v * A[row0 + b, c]
    for pr in range(pair_k.shape[0]):
        tk = pair_k[pr]
        tl = pair_l[pr]
        rk = r[tk]
        rl = r[tl]
        for m in range(key_offset[pr + 1] - key_offset[pr]):
            jk, jl, base = pair_block(pair_keys, key_offset, pair_offset, J[tl], rk, rl, pr, m)
            rowk = level_row(q_offset, tk, jk, rk)
            rowl = level_row(q_offset, tl, jl, rl)
            for a in range(rk):
                for b in range(rl):
                    v = zz[base + a * rl + b]
                    for c in range(k):
                        out[rowk + a, c] += v * A[rowl + b, c]
                        out[rowl + b, c] += v * A[rowk + a, c]


@njit(**JIT)
def add_z_times(codes, Z, b, out):
    """out += Z_k b_k by rows for one term: out_i += Σ_c Z[i, c] b[codes[i], c] (Z (n × r), b (J × r))."""
    r = Z.shape[1]
    for i in range(codes.shape[0]):
        j = codes[i]
        s = Z[i, 0] * b[j, 0]
        for c in range(1, r):
            s += Z[i, c] * b[j, c]
        out[i] += s


@njit(**JIT)
def add_levels(codes, b, out):
    """out += b[codes] for an intercept-only term (Z a column of ones: no n × 1 array of them)."""
    for i in range(codes.shape[0]):
        out[i] += b[codes[i], 0]
