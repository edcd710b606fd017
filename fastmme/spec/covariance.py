"""The covariance model of the random effects, Var(b) = σ² Λ P⁻¹ Λᵀ, and all of its algebra.

Λ = blockdiag_k(I_{J_k} ⊗ T_k) is the relative covariance factor of the terms (lme4's Λ_θ; T_k lower
triangular, θ_k its free entries, fastmme.spec.terms.Term maps θ_k ↔ T_k), and P the prior precision of
v = Λ⁻¹b: I for iid terms, K⁻¹ ⊗ I_r (level-major) for a term with a known relationship matrix K, no
penalty for the levels of sparse fixed factors, which sit after the random effects with Λ = 1.

This module owns that algebra; nothing else builds T from θ or maps back:
- `RelativeFactor`: θ → the T_k blocks, and the flat array (row-major blocks at `t_offset`, one per
  unit, 1 for each sparse fixed factor) that the kernels write into the system; a gradient with respect
  to flat T back to θ (`chain`); ∂T_k/∂θ_k (`jacobian`); Λ v and Λᵀ v; the canonical form of θ
  (the bounds and start of θ are the terms' own: fastmme.spec.terms.theta_lower, theta_start);
- `Prior`: P's diagonal (added per θ) and its constant off-diagonal entries;
- lme4's (sd, cor) parametrisation of the profile (`sdcor_from_theta`, `theta_from_sdcor`, names, bounds)
  and the Jacobian of σ² vech(T_k T_kᵀ) for the standard errors of the variance components.
Tests: tests/test_covariance.py, tests/test_terms.py, tests/test_objective.py, tests/test_gradient.py.
"""
from __future__ import annotations

import numpy as np


class RelativeFactor:
    """Λ(θ) of a sequence of terms, followed by n_fixed sparse fixed factors (Λ = 1, no θ)."""

    def __init__(self, terms, n_fixed: int = 0):
        self.terms = tuple(terms)
        r = np.array([t.r for t in self.terms] + [1] * int(n_fixed), dtype=np.int64)
        self.n_fixed = int(n_fixed)
        self.t_offset = np.concatenate([[0], np.cumsum(r * r)[:-1]]).astype(np.int64)
        ends = np.cumsum([t.n_theta for t in self.terms])
        self.slices = [slice(int(e - t.n_theta), int(e)) for t, e in zip(self.terms, ends)]
        self.n_theta = int(sum(t.n_theta for t in self.terms))
        self._jacobians = [None] * len(self.terms)

    # ---- θ ----------------------------------------------------------------------------------
    def canonical(self, theta) -> np.ndarray:
        """θ of the same covariances with each T_k the semi-definite Cholesky factor (Term.canonical_theta)."""
        return np.concatenate([t.canonical_theta(theta[sl]) for t, sl in zip(self.terms, self.slices)])

    # ---- T ----------------------------------------------------------------------------------
    def blocks(self, theta) -> list:
        """The T_k (r_k × r_k) of the terms at θ."""
        return [t.lambda_block(theta[s]) for t, s in zip(self.terms, self.slices)]

    def flat(self, theta) -> np.ndarray:
        """The T_k row-major one after the other (at t_offset), then 1 per sparse fixed factor."""
        ones = [np.ones(self.n_fixed)]
        return np.concatenate([T.ravel() for T in self.blocks(theta)] + ones)

    def jacobian(self, k: int) -> np.ndarray:
        """∂ vec(T_k) / ∂θ_k (n_theta_k × r_k², row-major T; θ_k → T_k is linear)."""
        if self._jacobians[k] is None:
            jac = self.terms[k].lambda_jacobian()
            jac.setflags(write=False)           # shared by every caller
            self._jacobians[k] = jac
        return self._jacobians[k]

    def chain(self, grad_T) -> np.ndarray:
        """∂f/∂θ from ∂f/∂(flat T) (the kernels' gradient, at t_offset)."""
        return np.concatenate([self.jacobian(k) @ grad_T[o:o + t.r * t.r]
                               for k, (t, o) in enumerate(zip(self.terms, self.t_offset))])

    def directions(self, k: int):
        """The r_k × r_k matrices ∂T_k/∂θ_kᵢ, one per entry of θ_k."""
        r = self.terms[k].r
        return [Erow.reshape(r, r).copy() for Erow in self.jacobian(k)]

    def apply(self, theta, vec, q_offset, transpose: bool = False) -> np.ndarray:
        """Λ vec (or Λᵀ vec) for a q-vector or q × k matrix: T_k (or T_kᵀ) on each level's rows, term k
        from q_offset[k]; rows after the random effects (sparse fixed levels, Λ = 1) are left as they are."""
        v = vec.reshape(vec.shape[0], -1)
        out = v.copy()
        for k, (term, T) in enumerate(zip(self.terms, self.blocks(theta))):
            lo, hi = int(q_offset[k]), int(q_offset[k]) + term.r * term.n_levels
            seg = v[lo:hi].reshape(term.n_levels, term.r, v.shape[1])
            out[lo:hi] = np.einsum("ab,jbc->jac", T.T if transpose else T, seg).reshape(hi - lo, v.shape[1])
        return out.reshape(vec.shape)


class Prior:
    """The precision P of v in the system: I for iid terms, I_r ⊗ K⁻¹ (level-major) for terms with a
    known relationship matrix (fastmme.spec.relationship).  `diag` (q,) is added to the diagonal per θ;
    the off-diagonal entries (u-indices row > col, values) are constant: θ never touches them.
    layout: the block layout of u (a ZtZPattern: r, q_offset and q per unit)."""

    def __init__(self, layout, knowns=None, fixed_diag=None):
        q = layout.q
        self.diag = np.ones(q)
        if fixed_diag is not None:      # sparse fixed factors (the last u-indices): no penalty, 1 where zeroed
            self.diag[q - fixed_diag.shape[0]:] = fixed_diag
        rows, cols, vals = [], [], []
        self.logdet = 0.0                 # Σ_k r_k log|K_k|, added to log|L_Z|²
        for k, known in enumerate(knowns or ()):
            if known is None:
                continue
            r, q0 = int(layout.r[k]), int(layout.q_offset[k])
            P = known.precision.tocoo()
            self.logdet += r * known.logdet
            d = np.asarray(known.precision.diagonal())
            low = P.row > P.col
            i, j, v = P.row[low].astype(np.int64), P.col[low].astype(np.int64), P.data[low]
            for a in range(r):
                self.diag[q0 + np.arange(known.n) * r + a] = d
                rows.append(q0 + i * r + a)
                cols.append(q0 + j * r + a)
                vals.append(v)
        self.rows = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        self.cols = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
        self.vals = np.concatenate(vals) if vals else np.zeros(0)

    @property
    def nnz(self) -> int:
        return self.rows.shape[0]


# ---- the variance components: lme4's (sd, cor) and the standard errors' Jacobian --------------
def sdcor_from_theta(terms, theta, sigma):
    """lme4's (sd, cor) parameters in θ's positions, then σ."""
    out, i = [], 0
    for t in terms:
        th = theta[i:i + t.n_theta]
        i += t.n_theta
        T = t.lambda_block(th)
        S = sigma ** 2 * T @ T.T
        sd = np.sqrt(np.diag(S))
        if t.structure == "unstructured":
            for j in range(t.r):
                for a in range(j, t.r):
                    out.append(sd[a] if a == j else (S[a, j] / (sd[a] * sd[j]) if sd[a] * sd[j] > 0 else 0.0))
        elif t.structure == "diagonal":
            out.extend(sd)
        else:
            out.append(sd[0])
    out.append(sigma)
    return np.array(out)


def _chol_psd(S):
    r = S.shape[0]
    T = np.zeros_like(S)
    for j in range(r):
        d = S[j, j] - T[j, :j] @ T[j, :j]
        T[j, j] = np.sqrt(max(d, 0.0))
        for a in range(j + 1, r):
            T[a, j] = (S[a, j] - T[a, :j] @ T[j, :j]) / T[j, j] if T[j, j] > 0 else 0.0
    return T


def theta_from_sdcor(terms, phi):
    """θ from lme4's (sd, cor) parameters and σ (phi[-1]): the inverse of sdcor_from_theta."""
    sigma = phi[-1]
    out, i = [], 0
    for t in terms:
        v = phi[i:i + t.n_theta]
        i += t.n_theta
        if t.structure == "unstructured":
            sd, C, k = np.zeros(t.r), np.eye(t.r), 0
            for j in range(t.r):
                for a in range(j, t.r):
                    if a == j:
                        sd[a] = v[k]
                    else:
                        C[a, j] = C[j, a] = v[k]
                    k += 1
            T = _chol_psd(np.outer(sd, sd) * C) / sigma
            out.extend(T[a, j] for j in range(t.r) for a in range(j, t.r))
        else:
            out.extend(np.asarray(v) / sigma)
    return np.array(out)


def sdcor_names(terms, term_names):
    """lme4's names of the (sd, cor) parameters (confint's rows, oldNames = FALSE), then "sigma"."""
    names = []
    for t, g in zip(terms, term_names):
        zn = t.z_names
        if t.structure == "unstructured":
            for j in range(t.r):
                for a in range(j, t.r):
                    names.append(f"sd_{zn[a]}|{g}" if a == j else f"cor_{zn[a]}.{zn[j]}|{g}")
        elif t.structure == "diagonal":
            names.extend(f"sd_{z}|{g}" for z in zn)
        else:
            names.append(f"sd_{'|'.join(zn)}|{g}")
    return names + ["sigma"]


def sdcor_bounds(terms):
    """Bounds of the (sd, cor) parameters and σ: sd ≥ 0, cor in [−1, 1]."""
    lo, hi = [], []
    for t in terms:
        if t.structure == "unstructured":
            for j in range(t.r):
                for a in range(j, t.r):
                    lo.append(0.0 if a == j else -1.0)
                    hi.append(np.inf if a == j else 1.0)
        else:
            lo += [0.0] * t.n_theta
            hi += [np.inf] * t.n_theta
    return np.array(lo + [0.0]), np.array(hi + [np.inf])


def variance_components(terms, theta, s2):
    """The variance components, per term the lower triangle of Σ_k = s2 T_k T_kᵀ (θ's order; only the
    diagonal for diagonal and identity terms), then s2: a list of (k, i, j) (j = i on the diagonal; k = −1
    for s2), their values, and their Jacobian with respect to (θ, s2) (one row each)."""
    th = np.asarray(theta)
    m = th.shape[0]
    index, est, J = [], [], []
    col = 0
    for k, t in enumerate(terms):
        T = t.lambda_block(th[col:col + t.n_theta])
        jac = t.lambda_jacobian()
        for i in range(t.r):
            for j in range(i + 1):
                if t.structure != "unstructured" and i != j:
                    continue
                row = np.zeros(m + 1)
                for a, Erow in enumerate(jac):
                    E = Erow.reshape(t.r, t.r)
                    row[col + a] = s2 * (E @ T.T + T @ E.T)[i, j]
                row[m] = (T @ T.T)[i, j]
                J.append(row)
                est.append(s2 * (T @ T.T)[i, j])
                index.append((k, i, j))
        col += t.n_theta
    row = np.zeros(m + 1)
    row[m] = 1.0
    J.append(row)
    est.append(s2)
    index.append((-1, 0, 0))
    return index, est, J
