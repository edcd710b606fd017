"""Average information: an approximation of the Hessian of the profiled criterion, from solves only.

AI-REML's matrix (Gilmour, Thompson & Cullis 1995; Johnson & Thompson 1995) in lme4's θ
parametrisation.  With V = σ²(ZΛΛᵀZᵀ + W⁻¹), P the REML projection and Py = We/σ² (e the residual
y − Xβ̂ − Zb̂), the working variates of the parameters are

    v_i = (∂V/∂θ_i) P y = Z a_i,   a_i = ∂Λ_i û + Λ ∂Λ_iᵀ t,   t = ZᵀWe      (θ_i in T_k)
    v_σ = (∂V/∂σ²) P y = (y − Xβ̂)/σ² = (e + Zb̂)/σ²

and the Hessian of the criterion (−2 log-likelihood) is approximated by H_ij = v_iᵀ P v_j, with

    vᵀPv' = (vᵀWv' − (CᵀWv)ᵀ C_M⁻¹ (CᵀWv')) / σ²,   C = [ZΛ  X],  C_M = CᵀWC + diag(I, 0).

Everything is formed from the assembled blocks (ZᵀWZ·a by kernels/matvec.py, ZᵀWX, ZᵀWy) and
solves with the factors of the current evaluation — nothing of order n.  σ² is profiled out:
H_θθ − H_θσ H_σσ⁻¹ H_σθ.  It is exact neither for REML nor for ML, but it is positive semi-definite
and close to the Hessian near the optimum, which is what a Newton method needs; the gradient it
is used with is exact.  Tests: tests/test_newton.py.
"""
from __future__ import annotations

import numpy as np

from ..linalg.kernels.matvec import zz_matvec


def _apply_T(objective, theta, vec, transpose=False):
    """Λ vec (or Λᵀ vec) (fastmme.spec.covariance.RelativeFactor.apply)."""
    return objective.lam.apply(theta, vec, objective.pattern.q_offset, transpose)


def average_information(objective, theta, reml: bool, profiled: bool = True) -> np.ndarray:
    """The profiled AI matrix (n_θ × n_θ) at θ, from the current evaluator's solves (dense Schur or
    CHOLMOD); profiled=False: the (n_θ + 1)-square matrix in (θ, σ²).  With a known relationship matrix K (Var(v) = σ² K ⊗ I), a_i uses K ∂Λᵀ t and the
    penalty v̂ᵀK⁻¹v̂ replaces ûᵀû (the normal equations give Λᵀt = K⁻¹v̂)."""
    pt, b = objective.pattern, objective.blocks
    spec = objective.spec
    q, p, N = objective.q, objective.p, objective.N
    solve = objective.model_solver(theta)
    ey = np.zeros((N, 1))
    ey[-1] = 1.0
    x = solve(ey)[:, 0]
    sol = -x[:-1] / x[-1]
    u, beta, r2 = sol[:q], sol[q:q + p], 1.0 / x[-1]
    sigma2 = r2 / (b.n - objective.p_df if reml else b.n)

    def G(A):                       # ZᵀWZ · A
        out = np.empty_like(A)
        zz_matvec(b.zz, pt.r, pt.J, pt.q_offset, pt.diag_offset, pt.pair_k, pt.pair_l, pt.pair_offset,
                  pt.keys_flat, pt.key_offset, A, out)
        return out

    bfull = _apply_T(objective, theta, u)                     # b̂ = Λ û (and the sparse fixed levels' β̂)
    t = b.Zty - b.ZtX @ beta - G(bfull[:, None])[:, 0]        # ZᵀWe
    bvec = bfull.copy()
    bvec[objective.q_random:] = 0.0                           # y − Xβ̂ = e + Zb̂: the random part only
    Gb = G(bvec[:, None])[:, 0]
    Lt = _apply_T(objective, theta, t, transpose=True)        # Λᵀt = K⁻¹v̂ (= û for iid terms)
    # a_i for every θ_i (column i), term by term
    m = spec.n_theta
    A = np.zeros((q, m))
    col = 0
    for k, (term, T) in enumerate(zip(spec.terms, objective.lam.blocks(theta))):
        lo, hi = int(pt.q_offset[k]), int(pt.q_offset[k]) + term.r * term.n_levels
        U = u[lo:hi].reshape(term.n_levels, term.r)
        Tt = t[lo:hi].reshape(term.n_levels, term.r)
        for E in objective.lam.directions(k):
            KtE = Tt @ E if term.known is None else term.known.matvec(Tt @ E)
            A[lo:hi, col] = (U @ E.T + KtE @ T.T).reshape(-1)
            col += 1
    GA = G(A)
    W = np.empty((m + 1, m + 1))                              # vᵀ W v'
    W[:m, :m] = A.T @ GA
    W[:m, m] = W[m, :m] = t @ A + Gb @ A
    W[m, m] = r2 + u @ Lt + bvec @ Gb
    # CᵀW v for the θ variates (columns) and for e + Zb̂ (last column), then C_M⁻¹ of them; the q-long
    # arrays are dropped as soon as they are used (1M rows, 10⁵ levels: 28 → 19 MB at this step's peak)
    rhs = np.zeros((N, m + 1))
    rhs[q:q + p, :m] = b.ZtX.T @ A
    del A
    rhs[:q, :m] = _apply_T(objective, theta, GA, transpose=True)
    del GA
    rhs[:q, m] = Lt + _apply_T(objective, theta, Gb, transpose=True)
    rhs[q:q + p, m] = b.ZtX.T @ bvec
    z = solve(rhs)
    cz, zy = z[:-1], z[-1]                                    # C_M⁻¹ (CᵀW v), column by column in place
    for c in range(m + 1):
        cz[:, c] -= x[:-1] * zy[c] / x[-1]
    g = rhs[:-1]
    H = (W - g.T @ cz) / sigma2
    H = 0.5 * (H + H.T)
    H[:m, m] /= sigma2                                        # v_σ = (e + Zb̂)/σ²
    H[m, :m] /= sigma2
    H[m, m] /= sigma2 ** 2
    if not profiled:
        return H                    # (θ, σ²): the AI matrix of −2 log L before σ² is profiled out
    return H[:m, :m] - np.outer(H[:m, m], H[m, :m]) / H[m, m]
