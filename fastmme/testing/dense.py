"""Dense GLS reference: the marginal model y ~ N(Xβ, V), V = Z Σ Zᵀ + σ² W⁻¹, formed explicitly.

This is the textbook computation the sparse engine avoids: O(n²) memory and O(n³) time.  It is the
oracle of the tests and the baseline of the benchmarks.  With V = σ² V₀(θ), V₀ = ZΛΛᵀZᵀ + W⁻¹:

    β̂(θ)  = (Xᵀ V₀⁻¹ X)⁻¹ Xᵀ V₀⁻¹ y                   (GLS / BLUE)
    r²(θ) = (y − Xβ̂)ᵀ V₀⁻¹ (y − Xβ̂)
    ML:    −2ℓ = log|V₀| + n [1 + log(2π r² / n)]
    REML:  −2ℓ_R = log|V₀| + log|Xᵀ V₀⁻¹ X| + (n − p) [1 + log(2π r² / (n − p))]
    b̂     = Σ Zᵀ V⁻¹ (y − Xβ̂) = ΛΛᵀ Zᵀ V₀⁻¹ (y − Xβ̂)   (BLUP)
    best linear predictor of y₀: x₀ᵀβ̂ + ψᵀ V⁻¹ (y − Xβ̂), ψ = Cov(y₀, y)

Tests: tests/test_dense.py.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg

from ..spec.model_spec import make_spec


def design_Z(terms) -> np.ndarray:
    """Dense Z (n × q): term by term, level-major, the term's columns within a level (lme4's order)."""
    blocks = []
    for t in terms:
        Zk = np.zeros((t.n, t.q))
        zm = t.zmatrix()
        for a in range(t.r):
            Zk[np.arange(t.n), t.codes * t.r + a] = zm[:, a]
        blocks.append(Zk)
    return np.hstack(blocks)


def lambda_matrix(terms, theta) -> np.ndarray:
    """Dense Λ(θ) = blockdiag_k(L_k ⊗ T_k), L_k = I, or the Cholesky factor of a known K (ΛΛᵀ holds
    K ⊗ T_kT_kᵀ, level-major)."""
    mats, i = [], 0
    for t in terms:
        T = t.lambda_block(np.asarray(theta)[i:i + t.n_theta])
        i += t.n_theta
        if t.known is None:
            mats.append(np.kron(np.eye(t.n_levels), T))
        else:
            K = np.linalg.inv(t.known.precision.toarray())
            mats.append(np.kron(np.linalg.cholesky(0.5 * (K + K.T)), T))
    return scipy.linalg.block_diag(*mats)


@dataclass(frozen=True)
class DenseGLS:
    beta: np.ndarray
    beta_cov: np.ndarray      # σ̂² (Xᵀ V₀⁻¹ X)⁻¹
    sigma2: float
    b: np.ndarray             # all BLUPs stacked (q,)
    blups: list               # per term, J_k × r_k
    V: np.ndarray             # σ̂² V₀
    residual: np.ndarray      # y − Xβ̂


class DenseModel:
    """The same model as fastmme.Model, computed with the n × n marginal covariance."""

    def __init__(self, y, X, terms, reml=True, weights=None):
        self.spec = make_spec(y, X, terms, reml=reml, weights=weights)
        self.Z = design_Z(self.spec.terms)

    def V0(self, theta) -> np.ndarray:
        ZL = self.Z @ lambda_matrix(self.spec.terms, theta)
        return ZL @ ZL.T + np.diag(1.0 / self.spec.weights)

    def _parts(self, theta):
        s = self.spec
        V0 = self.V0(theta)
        cf = scipy.linalg.cho_factor(V0, lower=True)
        logdetV0 = 2.0 * np.sum(np.log(np.diag(cf[0])))
        Vi_X = scipy.linalg.cho_solve(cf, s.X)
        XtViX = s.X.T @ Vi_X
        beta = np.linalg.solve(XtViX, Vi_X.T @ s.y) if s.p else np.zeros(0)
        res = s.y - s.X @ beta
        Vi_res = scipy.linalg.cho_solve(cf, res)
        r2 = float(res @ Vi_res)
        return V0, logdetV0, XtViX, beta, res, Vi_res, r2

    def deviance(self, theta, reml=None) -> float:
        reml = self.spec.reml if reml is None else reml
        n, p = self.spec.n, self.spec.p
        _, logdetV0, XtViX, _, _, _, r2 = self._parts(theta)
        if reml:
            ld_x = np.linalg.slogdet(XtViX)[1] if p else 0.0
            return logdetV0 + ld_x + (n - p) * (1 + np.log(2 * np.pi * r2 / (n - p)))
        return logdetV0 + n * (1 + np.log(2 * np.pi * r2 / n))

    def gls(self, theta, reml=None) -> DenseGLS:
        reml = self.spec.reml if reml is None else reml
        n, p = self.spec.n, self.spec.p
        V0, _, XtViX, beta, res, Vi_res, r2 = self._parts(theta)
        sigma2 = r2 / (n - p if reml else n)
        Lam = lambda_matrix(self.spec.terms, theta)
        b = Lam @ Lam.T @ self.Z.T @ Vi_res
        blups, i = [], 0
        for t in self.spec.terms:
            blups.append(b[i:i + t.q].reshape(t.n_levels, t.r))
            i += t.q
        beta_cov = sigma2 * np.linalg.inv(XtViX) if p else np.zeros((0, 0))
        return DenseGLS(beta=beta, beta_cov=beta_cov, sigma2=sigma2, b=b, blups=blups,
                        V=sigma2 * V0, residual=res)


def gls(y, X, V):
    """β̂ = (Xᵀ V⁻¹ X)⁻¹ Xᵀ V⁻¹ y and its covariance (Xᵀ V⁻¹ X)⁻¹ for a given V."""
    cf = scipy.linalg.cho_factor(np.asarray(V, dtype=float), lower=True)
    Vi_X = scipy.linalg.cho_solve(cf, X)
    A = X.T @ Vi_X
    beta = np.linalg.solve(A, Vi_X.T @ y)
    return beta, np.linalg.inv(A)


def best_linear_predictor(x0, psi, y, X, V):
    """x₀ᵀβ̂ + ψᵀ V⁻¹ (y − Xβ̂): the best linear predictor of y₀ with Cov(y₀, y) = ψ."""
    beta, _ = gls(y, X, V)
    return float(x0 @ beta + psi @ np.linalg.solve(V, y - X @ beta))
