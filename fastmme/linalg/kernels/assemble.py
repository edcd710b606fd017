"""The one pass over the rows: accumulate ZᵀWZ, ZᵀWX, ZᵀWy, XᵀWX, XᵀWy, yᵀWy.

Z is never formed: row i has, for term k, the r_k values z_k[i, :] at level codes[k, i].
Outputs are accumulated (+=), so blocks of separate row chunks add up.
Reference: tests/naive.py (dense products); tests/test_assembly.py.
"""
import numpy as np
from numba import njit

from ...config import JIT
from .layout import diag_base, level_row, pair_base


@njit(**JIT)
def assemble_rows(codes, zcat, X, y, w, r, z_offset, q_offset, diag_offset,
                  pair_k, pair_l, pair_offset, pair_rows,
                  zz, ZtX, Zty, XtX, Xty, scalars):
    """Accumulate the cross-products of n rows.

    codes (K, n) int, zcat (n, R) float64 (term k's columns at z_offset[k]), X (n, p), y (n,),
    w (n,) prior weights; pair_rows (npairs, n) from ZtZPattern.locate.
    Writes zz (pattern layout), ZtX (q, p), Zty (q,), XtX (p, p) lower triangle, Xty (p,),
    scalars[0] += yᵀWy, scalars[1] += Σ log w, scalars[2] += n.
    """
    n = y.shape[0]
    K = codes.shape[0]
    p = X.shape[1]
    npairs = pair_k.shape[0]
    for i in range(n):
        wi = w[i]
        yi = y[i]
        for a in range(p):
            xa = wi * X[i, a]
            Xty[a] += xa * yi
            for b in range(a + 1):
                XtX[a, b] += xa * X[i, b]
        scalars[0] += wi * yi * yi
        scalars[1] += np.log(wi)
        for k in range(K):
            rk = r[k]
            j = codes[k, i]
            zo = z_offset[k]
            base = diag_base(diag_offset, k, j, rk)
            row0 = level_row(q_offset, k, j, rk)
            for a in range(rk):
                za = wi * zcat[i, zo + a]
                Zty[row0 + a] += za * yi
                for c in range(p):
                    ZtX[row0 + a, c] += za * X[i, c]
                for b in range(rk):
                    zz[base + a * rk + b] += za * zcat[i, zo + b]
        for pr in range(npairs):
            k = pair_k[pr]
            l = pair_l[pr]
            rk = r[k]
            rl = r[l]
            base = pair_base(pair_offset, pr, pair_rows[pr, i], rk, rl)
            zk = z_offset[k]
            zl = z_offset[l]
            for a in range(rk):
                za = wi * zcat[i, zk + a]
                for b in range(rl):
                    zz[base + a * rl + b] += za * zcat[i, zl + b]
    scalars[2] += n


@njit(**JIT)
def assemble_response_rows(codes, zcat, X, y, w, r, z_offset, q_offset, Zty, Xty, scalars):
    """Accumulate only the response's cross-products ZᵀWy, XᵀWy and yᵀWy of n rows (another response over
    the rows of assemble_rows, whose other sums do not involve y), in assemble_rows' order of operations:
    the same numbers it gives."""
    n = y.shape[0]
    K = codes.shape[0]
    p = X.shape[1]
    for i in range(n):
        wi = w[i]
        yi = y[i]
        for a in range(p):
            Xty[a] += (wi * X[i, a]) * yi
        scalars[0] += wi * yi * yi
        for k in range(K):
            rk = r[k]
            row0 = level_row(q_offset, k, codes[k, i], rk)
            zo = z_offset[k]
            for a in range(rk):
                Zty[row0 + a] += (wi * zcat[i, zo + a]) * yi
