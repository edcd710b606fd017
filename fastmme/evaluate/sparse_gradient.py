"""The gradient of the profiled criterion on the sparse (CHOLMOD) path, from the selected inverse.

M_aug(θ) = [[C', m], [mᵀ, yᵀWy]] is the augmented system (fastmme.evaluate.system) with C' the coefficient
matrix of (v, β).  Its θ-dependent entries are quadratic in T (T_kᵀ B T_l) or linear (T_kᵀ ZᵀWX), so
the exact derivative of every entry along θ_i is a difference of two writes of the system:

    ∂M/∂θ_i = (M(T + E_i) − M(T − E_i)) / 2,   E_i = ∂T/∂θ_i.

With x = M_aug⁻¹ e_y (so r² = 1/x_y and C'⁻¹m = −x_C/x_y) and S = C'⁻¹ = [M_aug⁻¹]_CC − x_C x_Cᵀ/x_y:

    ∂ log|C'| / ∂θ_i = tr(S ∂C'_i)                     (the entries of S on the pattern of C': the
                                                        selected inverse, Takahashi; never all of S)
    ∂ r² / ∂θ_i     = xᵀ ∂M_i x / x_y²
    REML: ∂d/∂θ_i = tr(S ∂C'_i) + (n − p) ∂r²/r²
    ML:   ∂d/∂θ_i = tr(S_vv ∂C'_vv,i) + n ∂r²/r²,  S_vv = [M_aug⁻¹]_vv − G_v H⁻¹ G_vᵀ (G: columns X, y)

The relationship matrices' log-determinants are constants.  Tests: tests/test_relationship.py
(against finite differences of the criterion).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def _symmetric(lower_data, sysm, keep_rows_cols) -> sp.csr_matrix:
    """The symmetric matrix with lower triangle `lower_data` on the system's pattern, restricted to
    the system indices where keep_rows_cols is True (the rest zeroed)."""
    N = sysm.N
    L = sp.csc_matrix((lower_data, sysm._indices, sysm._indptr), shape=(N, N))
    D = sp.diags(keep_rows_cols.astype(float))
    L = D @ L @ D
    return (L + L.T - sp.diags(L.diagonal())).tocsr()


def sparse_gradient(objective, theta, reml: bool) -> np.ndarray:
    """∂ criterion / ∂θ at θ (the criterion itself from objective.deviance)."""
    obj = objective
    obj.factorize(theta)
    sysm = obj.system
    N, q = obj.N, obj.q
    Zs, fpos = obj.selected_inverse(theta)      # M_aug⁻¹, read on the lower pattern of M only
    m_rows = sysm._indices.astype(np.int64)
    m_cols = np.repeat(np.arange(N, dtype=np.int64), np.diff(sysm._indptr))
    fa, fb = fpos[m_rows], fpos[m_cols]
    z_on_m = np.asarray(Zs[np.maximum(fa, fb), np.minimum(fa, fb)]).reshape(-1)
    del fa, fb, Zs
    e = np.zeros(N)
    e[-1] = 1.0
    x = np.asarray(obj.chol.solve(e)).reshape(-1)
    r2 = 1.0 / x[-1]
    keep = np.ones(N, dtype=bool)
    keep[-1] = False
    if reml:
        Gc, Hinv = x[:, None], np.array([[1.0 / x[-1]]])
        m = obj.blocks.n - obj.p_df
    else:
        rest = np.concatenate([sysm.iperm_z[obj.q_random:q], np.arange(q, N)])   # the fixed effects and y
        keep[rest] = False
        Gc = obj.inverse_columns(rest)
        Hinv = np.linalg.inv(Gc[rest])
        m = obj.blocks.n
    Gk = Gc * keep[:, None]
    weight = np.where(m_rows == m_cols, 1.0, 2.0) * keep[m_rows] * keep[m_cols] * z_on_m   # Σ_ij S_ij ∂C_ij
    th = obj.check_theta(theta)
    T = obj.lam.flat(th)
    grad = np.empty(th.shape[0])
    col = 0
    lam = obj.lam
    for k, (term, off_t) in enumerate(zip(lam.terms, lam.t_offset)):
        for Erow in lam.jacobian(k):
            E = np.zeros_like(T)
            E[off_t:off_t + term.r * term.r] = Erow
            dM = 0.5 * (sysm.write(T + E, obj.lam.t_offset).copy() - sysm.write(T - E, obj.lam.t_offset))
            dMfull = _symmetric(dM, sysm, np.ones(N, dtype=bool))
            dC = _symmetric(dM, sysm, keep)
            tr = float(weight @ dM) - float(np.sum((Gk.T @ (dC @ Gk)) * Hinv.T))
            dr2 = float(x @ (dMfull @ x)) / x[-1] ** 2
            grad[col] = tr + m * dr2 / r2
            col += 1
    sysm.write(T, obj.lam.t_offset)          # leave the system's values at θ
    return grad
