"""Write the θ-dependent part of the augmented system into its fixed CSC pattern.

For a block B of ZᵀWZ between term k (level j) and term l (level j'), the system holds T_kᵀ B T_l
(plus the prior precision's diagonal: 1, or K⁻¹_jj); for ZᵀWX and ZᵀWy the rows of level j of term k become T_kᵀ (rows).
Only `data` is written; the pattern never changes.  No allocation in the loops except two small
buffers.  Reference: tests/test_objective.py (against the dense ΛᵀZᵀWZΛ + I).
"""
import numpy as np
from numba import njit

from ...config import JIT
from .layout import diag_base, level_row, pair_base
from .small import congruence


@njit(**JIT)
def write_lambda(zz, ZtX, Zty, T, t_offset, diag_add, r, J, q_offset, diag_offset,
                 pair_k, pair_l, pair_offset, pair_count,
                 pos_zz, pos_zx, pos_zy, data):
    """T: flat row-major T_k blocks at t_offset[k]; diag_add: the prior precision's diagonal (1, or
    K⁻¹_jj for a term with a known relationship matrix); pos_*: positions in `data` (-1 = not stored)."""
    K = r.shape[0]
    p = ZtX.shape[1]
    rmax = r.max()       # largest block: buffers for the small dense products
    tmp = np.empty(rmax * rmax)
    out = np.empty(rmax * rmax)
    for k in range(K):
        rk = r[k]
        to = t_offset[k]
        for j in range(J[k]):
            base = diag_base(diag_offset, k, j, rk)
            congruence(zz, base, T, to, rk, to, rk, tmp, out)       # T_kᵀ B T_k
            for a in range(rk):
                for b in range(rk):
                    pos = pos_zz[base + a * rk + b]
                    if pos >= 0:
                        data[pos] = out[a * rk + b] + (diag_add[level_row(q_offset, k, j, rk) + a] if a == b else 0.0)
            row0 = level_row(q_offset, k, j, rk)
            for a in range(rk):
                for c in range(p):
                    s = 0.0
                    for d in range(rk):
                        s += T[to + d * rk + a] * ZtX[row0 + d, c]
                    data[pos_zx[(row0 + a) * p + c]] = s
                s = 0.0
                for d in range(rk):
                    s += T[to + d * rk + a] * Zty[row0 + d]
                data[pos_zy[row0 + a]] = s
    for pr in range(pair_k.shape[0]):
        k = pair_k[pr]
        l = pair_l[pr]
        rk = r[k]
        rl = r[l]
        tk = t_offset[k]
        tl = t_offset[l]
        for m in range(pair_count[pr]):
            base = pair_base(pair_offset, pr, m, rk, rl)
            congruence(zz, base, T, tk, rk, tl, rl, tmp, out)       # T_kᵀ B T_l
            for e in range(rk * rl):
                data[pos_zz[base + e]] = out[e]
