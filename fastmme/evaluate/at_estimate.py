"""A finished fit's read-only view of its objective: the quantities a result computes on first use
(condVar, PEVs, fixed-level variances, the AI matrix behind the variance components' standard errors),
each at the estimate (θ̂, σ̂) and nowhere else.

The result (fastmme.results.fit.FitResult) holds this view, not the objective: through it a result can
evaluate at θ̂ only, and the objective's caches cannot make two reads of a result disagree, because
every method here factorises at θ̂ first (a no-op when the factor is already there; a read does move the
model's cached factor back to θ̂).  The objective stays
the model's (fastmme.api.Model): refits, profiles and EM steps use it through the model.
Tests: tests/test_dense.py (condVar and PEVs against the n × n posterior), tests/test_fit.py.
"""
from __future__ import annotations

import numpy as np


class AtEstimate:
    """The objective seen from a result: everything at (θ̂, σ̂)."""
    __slots__ = ("_objective", "theta", "sigma")

    def __init__(self, objective, theta, sigma: float):
        th = np.array(theta, dtype=np.float64)
        th.setflags(write=False)
        self._objective, self.theta, self.sigma = objective, th, float(sigma)

    @property
    def spec(self):
        """The validated model (fastmme.spec.model_spec.ModelSpec): terms, sparse factors."""
        return self._objective.spec

    @property
    def p_df(self) -> int:
        """Fixed-effect parameters counted by lme4's logLik df (with the sparse factors' estimable levels)."""
        return self._objective.p_df

    def cond_var(self) -> tuple:
        """Per term, (J_k × r_k × r_k) conditional covariances σ² T_k [A_Z⁻¹]_jj T_kᵀ (lme4's condVar)."""
        return _cond_var(self._objective, self.theta, self.sigma)

    def pev(self) -> tuple:
        """Per term, (J_k × r_k × r_k) prediction-error covariances σ² T_k [C⁻¹]_jj T_kᵀ (C: the whole
        coefficient matrix, so the fixed effects' uncertainty is included)."""
        return _scaled_blocks(self._objective, self.theta, self.sigma, fixed_known=False)

    def fixed_level_variances(self) -> list:
        """Per sparse fixed factor, [C⁻¹]_jj of its levels (unscaled)."""
        return self._objective.fixed_level_variances(self.theta)

    def average_information(self, reml: bool) -> np.ndarray:
        """The AI matrix of the unprofiled criterion in (θ, σ²) at the estimate."""
        from .information import average_information
        return average_information(self._objective, self.theta, reml, profiled=False)


def _scaled_blocks(objective, theta, sigma, fixed_known):
    """σ² T_k B_j T_kᵀ for the blocks B of objective.inverse_blocks (selected inverse)."""
    out = []
    for B, T in zip(objective.inverse_blocks(theta, fixed_known), objective.lam.blocks(theta)):
        res = sigma ** 2 * np.einsum("ab,jbc,dc->jad", T, B, T)
        res.setflags(write=False)
        out.append(res)
    return tuple(out)


def _cond_var(objective, theta, sigma):
    """σ² T_k [A_Z⁻¹]_jj T_kᵀ with A_Z = ΛᵀZᵀWZΛ + I, from the Schur evaluator's factors when it ran the θ
    loop (ProfiledDeviance.inverse_blocks), else from the sparse factor of the augmented system.

    With R the fixed and response rows, A_Z⁻¹ = [M_aug⁻¹]_ZZ − G_Z H⁻¹ G_Zᵀ, G = M_aug⁻¹ E_R,
    H = G_R.  The diagonal blocks of [M_aug⁻¹]_ZZ come from the selected inverse of the sparse factor
    (Takahashi; memory of the order of the factor's), or, where that would not fit in memory, from
    solves with unit vectors in chunks.  (The solves were the only route for designs without
    relationship matrices: on 10⁶ rows and 51,000 levels, y ~ 1 + x + (1 + x | g) + (1 | h), they took
    about 600 s and 134 MB where the selected inverse takes 0.6 s and 33 MB, equal to 9e-16.)
    """
    if objective.schur is not None:       # from the Schur evaluator's own factors: no sparse factor is made
        return _scaled_blocks(objective, theta, sigma, fixed_known=True)
    objective.factorize(theta)
    if objective.has_known or objective.has_sparse_fixed or objective.selected_inverse_fits():
        return _scaled_blocks(objective, theta, sigma, fixed_known=True)
    sysm = objective.system
    q, N = sysm.q, sysm.N
    rest = np.arange(q, N)
    G = objective.inverse_columns(rest)          # N × (p + 1)
    H = G[q:]
    Hinv_GzT = np.linalg.solve(H, G[:q].T)      # (p+1) × q, rows in system order
    Ts = objective.lam.blocks(theta)
    out = []
    pt = objective.pattern
    chunk_cols = max(1, int(4_000_000 // max(N, 1)))
    for k, T in enumerate(Ts):
        r, J = int(pt.r[k]), int(pt.J[k])
        res = np.empty((J, r, r))
        per = max(1, chunk_cols // r)
        for j0 in range(0, J, per):
            j1 = min(J, j0 + per)
            zeta = pt.q_offset[k] + np.arange(j0 * r, j1 * r)
            idx = sysm.iperm_z[zeta]
            S = objective.inverse_columns(idx)       # N × (len)
            for t in range(j1 - j0):
                ii = idx[t * r:(t + 1) * r]
                blk = S[ii, t * r:(t + 1) * r] - G[ii] @ Hinv_GzT[:, ii]
                res[j0 + t] = sigma ** 2 * (T @ blk @ T.T)
        res.setflags(write=False)
        out.append(res)
    return tuple(out)
