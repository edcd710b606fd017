"""The exact gradient of the Laplace objective of a GLMM in (θ, β), for canonical links (binomial logit
with whole numbers of trials, Poisson log) and terms without a known covariance.

With G(u) = Σ_i d_i(η_i) + ‖u‖² (the penalised deviance), η = offset + Xβ + ZΛu, û its minimiser and
A = ΛᵀZᵀWZΛ + I (W the working weights at û), the objective is F = log|A| + G(û) + const.  For a
parameter φ (an entry of θ or of β), by the envelope theorem (∇_u G(û) = 0) and implicit
differentiation of û (∇²_u G = 2A for a canonical link),

    ∂η/∂φ = Z (∂Λ/∂φ) û  or  X_φ,            dû/dφ = −A⁻¹ [½ (Z ∂Λ/∂φ)ᵀ d′ + (ZΛ)ᵀ W ∂η/∂φ],
    dη/dφ = ∂η/∂φ + ZΛ dû/dφ,
    dF/dφ = 2 Σ_i w_i c_iφ + Σ_i w′_i h_i dη_i/dφ + Σ_i d′_i ∂η_i/∂φ,

with d′ = ∂d/∂η, w′ = ∂w/∂η, h_i = z̃_i A⁻¹ z̃_iᵀ (z̃_i the row of ZΛ), and c_iφ = (Z ∂Λ/∂φ)_i A⁻¹ z̃_iᵀ
(θ only: the derivative of log|A| through Λ at fixed W).  A⁻¹ is needed only at the blocks of level
pairs that share a row, which the selected inverse of the sparse factor holds (Takahashi); the solves
are with the evaluator's factors.  One gradient costs one PIRLS, one selected inverse, n_θ + p solves and
a few passes over the rows.  Tests: tests/test_laplace_gradient.py (central differences of the objective).
"""
from __future__ import annotations

import numpy as np

from ..errors import FastmmeError
from ..linalg.cholmod import not_positive_definite
from ..linalg.kernels.gradient import rows_inverse
from ..linalg.kernels.matvec import add_z_times
from ..linalg.kernels.takahashi import values_at


def has_laplace_gradient(objective) -> bool:
    """The exact gradient applies: a canonical link, no known covariance K, and for the binomial whole
    numbers of trials (R's aic rounds the weights, so with fractional ones the objective is not
    Σ d_i + const in μ)."""
    f = objective.family
    whole = f.name != "binomial" or bool(np.all(np.abs(objective.pw - np.round(objective.pw)) <= 1e-8 * objective.pw))
    return f.link.canonical_for == f.name and whole and all(t.known is None for t in objective.terms)


def gradient_memory(objective) -> str:
    """"" when the gradient's per-row working memory fits (the rows' n × R × R blocks of A⁻¹ and two
    copies, R = Σ r_k, within a quarter of the available memory), else why not.  The selected inverse
    has its own guard (fastmme.linalg.cholmod.SelectedInverseTooLarge)."""
    from ..linalg.cholmod import available_memory
    n, R = objective.y.shape[0], sum(t.r for t in objective.terms)
    m = objective.theta_start().shape[0] + objective.p            # the parameters: n × m arrays
    rows_bytes = 8 * n * (3 * R * R + 4 * m + max(t.r for t in objective.terms) * m)
    if rows_bytes > 0.25 * available_memory():
        return f"the exact gradient's per-row blocks of A⁻¹ would need {rows_bytes / 2**30:.1f} GB"
    return ""


def _term_columns(objective, Ts):
    """Per term: (slice of the stacked columns, codes, Z_k, Z_k T_k)."""
    out, c = [], 0
    for t, T in zip(objective.terms, Ts):
        Z = t.zmatrix()
        out.append((slice(c, c + t.r), t.codes, Z, Z @ T))
        c += t.r
    return out, c


def _inverse_at_rows(alone, theta, cols, R, rest_cols=None):
    """P (n × R × R): for each row, A⁻¹ at the levels of the row (the stacked columns of the terms):
    [M⁻¹]_AA − x_A x_Aᵀ / x_y, x = M⁻¹ e_y, from the evaluator's own factors when the dense Schur
    complement runs the θ loop (_inverse_at_rows_schur), else from the selected inverse of the augmented
    sparse factor."""
    if alone.schur is not None:
        return _inverse_at_rows_schur(alone, theta, cols, R, rest_cols)
    return _inverse_at_rows_cholmod(alone, theta, cols, R)


def _inverse_at_rows_cholmod(alone, theta, cols, R):
    """_inverse_at_rows from the selected inverse of the augmented sparse factor (Takahashi)."""
    Zs, fpos = alone.selected_inverse(theta)
    x = alone.inverse_columns(np.array([alone.N - 1]))[:, 0]
    iperm, q_offset = alone.system.iperm_z, alone.pattern.q_offset
    n = cols[0][1].shape[0]
    sysidx = np.empty((n, R), dtype=np.int64)
    for k, (sl, codes, _, _) in enumerate(cols):
        r = sl.stop - sl.start
        for a in range(r):
            sysidx[:, sl.start + a] = iperm[q_offset[k] + codes.astype(np.int64) * r + a]
    P = np.empty((n, R, R))
    if not Zs.has_sorted_indices:
        Zs.sort_indices()
    vals = np.empty(n)
    for a in range(R):
        for b in range(a, R):
            fa, fb = fpos[sysidx[:, a]], fpos[sysidx[:, b]]
            values_at(Zs.indptr, Zs.indices, Zs.data, np.maximum(fa, fb), np.minimum(fa, fb), vals)
            if np.isnan(vals).any():
                raise AssertionError("a level pair that shares a row is not on the pattern of the factor")
            P[:, a, b] = P[:, b, a] = vals - x[sysidx[:, a]] * x[sysidx[:, b]] / x[-1]
    return P


def schur_row_columns(alone, cols, R) -> np.ndarray:
    """(n × R) the column of S of each row's level for every stacked column of the terms other than the
    eliminated one (−1 at its columns): fixed by the design, made once per objective (LaplaceObjective)."""
    sc, q_offset = alone.schur, alone.pattern.q_offset
    rest_cols = np.full((cols[0][1].shape[0], R), -1, dtype=np.int64)
    for k, (sl, codes, _, _) in enumerate(cols):
        if k != sc.s:
            r = sl.stop - sl.start
            for a in range(r):
                rest_cols[:, sl.start + a] = sc.rest_pos[q_offset[k] + codes.astype(np.int64) * r + a]
    return rest_cols


def _inverse_at_rows_schur(alone, theta, cols, R, rest_cols=None):
    """_inverse_at_rows from the dense Schur complement's S⁻¹ and its level factors (DenseSchur.inverse_parts):
    no sparse factor (10⁶ rows, 100,000 × 2,000 crossed levels: 0.2 s a gradient instead of 1.8 s, and no
    CHOLMOD factor in memory).  rest_cols: schur_row_columns, if already made."""
    sc = alone.schur
    try:
        Sinv, Mjj, U = sc.inverse_parts(alone.lam.flat(theta), alone.lam.t_offset)
    except np.linalg.LinAlgError:
        raise not_positive_definite(theta) from None
    if rest_cols is None:
        rest_cols = schur_row_columns(alone, cols, R)
    P = np.empty((rest_cols.shape[0], R, R))
    if rows_inverse(cols[sc.s][1], cols[sc.s][0].start, rest_cols, Mjj, U, sc.lev_ptr, sc.ent_col, Sinv, P):
        raise AssertionError("a level pair that shares a row is not among the Schur complement's entries")
    return P


def _scatter(cols, terms, q_offset, q, V):
    """(ZΛ)ᵀ V for V (n × m): per term and level, the sum over the level's rows of z̃_iᵀ V_i."""
    out = np.zeros((q, V.shape[1]))
    for k, (sl, codes, _, zt) in enumerate(cols):
        r, J, q0 = sl.stop - sl.start, terms[k].n_levels, int(q_offset[k])
        for a in range(r):
            for m in range(V.shape[1]):
                out[q0 + a:q0 + J * r:r, m] = np.bincount(codes, zt[:, a] * V[:, m], minlength=J)
    return out


def laplace_gradient(objective, theta, beta, precise: bool = False):
    """(F, ∂F/∂(θ, β)) of the Laplace objective at (θ, β) (see the module docstring)."""
    if not has_laplace_gradient(objective):
        raise FastmmeError("the exact Laplace gradient needs a canonical link (binomial logit, Poisson log) and "
                           "terms without a known covariance")
    obj = objective
    th = obj.check_theta(theta)
    mode = obj.pirls(th, beta, precise)          # leaves the u-system assembled at the mode
    alone, f = obj.alone, obj.family
    Ts = alone.lam.blocks(th)
    eta, mu, u = mode["eta"], mode["mu"], mode["u"]
    me = f.link.mu_eta(eta)
    w = obj.pw * me * me / f.variance(mu)         # = a μ′ for a canonical link
    w1 = obj.pw * f.link.dmu_eta(eta)             # ∂w/∂η
    d1 = -2.0 * obj.pw * (obj.y - mu)             # ∂d/∂η, 0 where R's clamp holds μ constant
    d1[f.link.clamped(eta)] = 0.0
    cols, R = _term_columns(obj, Ts)
    q, q_offset = alone.q, alone.pattern.q_offset
    if alone.schur is not None and obj.schur_rows is None:
        obj.schur_rows = schur_row_columns(alone, cols, R)       # fixed by the design: made once
    P = _inverse_at_rows(alone, th, cols, R, obj.schur_rows)
    zt = np.empty((eta.shape[0], R))
    ub = []                                       # û by term, as (J, r)
    for k, (sl, codes, _, z) in enumerate(cols):
        zt[:, sl] = z
        ub.append(u[q_offset[k]:q_offset[k] + (sl.stop - sl.start) * obj.terms[k].n_levels].reshape(-1, sl.stop - sl.start))
    Pz = np.einsum("iab,ib->ia", P, zt)           # A⁻¹ z̃_iᵀ at the row's levels
    h = np.einsum("ia,ia->i", zt, Pz)
    n_th = th.shape[0]
    p = obj.p
    m = n_th + p
    deta = np.empty((eta.shape[0], m))            # ∂η/∂φ at fixed u
    direct = np.zeros(m)                          # 2 Σ w c (θ only)
    half_d = np.zeros((q, m))                     # ½ (Z ∂Λ/∂φ)ᵀ d′
    col = 0
    for k, (sl, codes, Z, _) in enumerate(cols):
        r = sl.stop - sl.start
        J = obj.terms[k].n_levels
        for E in alone.lam.directions(k):
            dz = Z @ E                            # the row of Z ∂Λ/∂θ_j on term k's levels
            deta[:, col] = 0.0
            add_z_times(codes, dz, np.ascontiguousarray(ub[k]), deta[:, col])
            direct[col] = 2.0 * float(np.sum(w * np.einsum("ia,ia->i", dz, Pz[:, sl])))
            for a in range(r):
                half_d[q_offset[k] + a:q_offset[k] + J * r:r, col] = 0.5 * np.bincount(codes, dz[:, a] * d1, minlength=J)
            col += 1
    deta[:, n_th:] = obj.X
    rhs = half_d + _scatter(cols, obj.terms, q_offset, q, w[:, None] * deta)
    solve = alone.model_solver(th)
    ey = np.zeros((q + 1, 1))
    ey[-1] = 1.0
    x = solve(ey)[:, 0]
    sol = solve(np.vstack([rhs, np.zeros((1, m))]))[:q]
    du = -(sol - np.outer(x[:q], x[:q] @ rhs) / x[q])  # −A⁻¹ rhs
    # Σ_i w′_i h_i dη_i/dφ with dη/dφ = ∂η/∂φ + ZΛ dû/dφ: the ZΛ part summed by level first (Σ over a
    # level's rows of w′h z̃_i, then against dû), never as an n × m array (10⁶ rows: 0.3 s a gradient)
    wh = w1 * h
    grad = direct + (wh + d1) @ deta
    for k, (sl, codes, _, z) in enumerate(cols):
        r, J = sl.stop - sl.start, obj.terms[k].n_levels
        blk = du[q_offset[k]:q_offset[k] + r * J].reshape(J, r, m)
        per_level = np.stack([np.bincount(codes, wh * z[:, a], minlength=J) for a in range(r)], axis=1)
        grad += np.einsum("ja,jam->m", per_level, blk)
    return float(mode["value"]), grad
