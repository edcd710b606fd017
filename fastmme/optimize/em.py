"""One EM-REML step for the covariance parameters, from the selected inverse of the sparse factor.

For term k with J_k levels, relationship K (I for an iid term), BLUPs B̂ (J_k × r_k) and the
coefficient matrix C of the mixed-model equations in (v, β) (v the system's unknowns, b_j = T_k v_j),
the REML expectation–maximisation update (Henderson 1984; what AIREMLF90 and WOMBAT fall back to when
an average-information step leaves the parameter space) is

    Σ_k ← [ B̂ᵀ K⁻¹ B̂ + σ² T_k S_k T_kᵀ ] / J_k,      S_k = Σ_{j,j'} K⁻¹_{jj'} [C⁻¹]_{v_j' v_j}

with σ² = r²/(n − p) at the current θ.  It stays positive semi-definite (a sum of a Gram matrix and
a posterior covariance), never increases the REML criterion in exact EM, and its fixed points are the
REML score equations.  [C⁻¹] is read on the pattern of K⁻¹, which lies inside the pattern of L, so
the selected inverse holds it: [C⁻¹]_ab = [M_aug⁻¹]_ab − x_a x_b / x_y with x = M_aug⁻¹ e_y.
Relative covariances Σ_k / σ² give the new θ.  Tests: tests/test_em.py.
"""
from __future__ import annotations

import numpy as np

from ..errors import FastmmeError


def em_theta(objective, theta) -> np.ndarray:
    """θ after one EM-REML step from θ (sparse path; REML)."""
    if not objective.ev.sparse_steps:
        raise FastmmeError("EM-REML steps use the sparse factor; build the objective with evaluator='cholmod'")
    obj = objective
    th = obj.check_theta(theta)
    u, _, r2, x = obj.solve(th)
    sigma2 = r2 / (obj.blocks.n - obj.p_df)
    Zs, fpos = obj.selected_inverse(th)
    iperm, pt = obj.system.iperm_z, obj.pattern

    def cinv(a_sys, b_sys):                   # [C⁻¹] at pairs of system indices (on the pattern of L)
        fa, fb = fpos[a_sys], fpos[b_sys]
        z = np.asarray(Zs[np.maximum(fa, fb), np.minimum(fa, fb)]).reshape(-1)
        return z - x[a_sys] * x[b_sys] / x[-1]

    out = []
    for k, (term, T) in enumerate(zip(obj.spec.terms, obj.lam.blocks(th))):
        r, J, q0 = term.r, term.n_levels, int(pt.q_offset[k])
        U = u[q0:q0 + r * J].reshape(J, r)
        if term.known is None:
            rows = cols = np.arange(J)
            vals = np.ones(J)
            KU = U
        else:
            P = term.known.precision.tocoo()
            rows, cols, vals = P.row.astype(np.int64), P.col.astype(np.int64), P.data
            KU = np.asarray(term.known.precision @ U)
        S = np.empty((r, r))
        for a in range(r):
            for c in range(r):
                S[a, c] = vals @ cinv(iperm[q0 + cols * r + a], iperm[q0 + rows * r + c])
        S = 0.5 * (S + S.T)
        Sigma_rel = T @ (U.T @ KU / sigma2 + S) @ T.T / J      # Σ_k,new / σ²
        if term.structure != "unstructured":
            Sigma_rel = np.diag(np.diag(Sigma_rel)) if term.structure == "diagonal" else \
                np.eye(r) * np.mean(np.diag(Sigma_rel))
        out.append(term.theta_from_covariance(0.5 * (Sigma_rel + Sigma_rel.T)))
    return np.concatenate(out)
