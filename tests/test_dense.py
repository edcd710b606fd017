"""The sparse engine against the dense GLS oracle at random θ (relative 1e-9)."""
import numpy as np
import pytest

import fastmme
from fastmme.dense import DenseModel, design_Z, lambda_matrix
from designs import KINDS, random_design


def rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)


@pytest.mark.parametrize("weights", [False, True])
@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("kind", KINDS)
def test_deviance_beta_blups_equal_dense(kind, reml, weights):
    for seed in range(3):
        y, X, terms, theta, w = random_design(kind, seed=seed, weights=weights)
        sparse = fastmme.Model(y, X, terms, reml=reml, weights=w)
        dense = DenseModel(y, X, terms, reml=reml, weights=w)
        rng = np.random.default_rng(seed + 100)
        for th in [theta, theta * rng.uniform(0.1, 3, theta.shape)]:
            d_s, d_d = sparse.deviance(th), dense.deviance(th)
            assert abs(d_s - d_d) <= 1e-9 * abs(d_d), (kind, d_s, d_d)
            res = sparse.at(th)
            g = dense.gls(th)
            assert rel(res.beta, g.beta) < 1e-9
            assert rel(res.beta_cov, g.beta_cov) < 1e-9
            assert res.sigma ** 2 == pytest.approx(g.sigma2, rel=1e-9)
            assert rel(np.concatenate([b.ravel() for b in res.blups]), g.b) < 1e-9


@pytest.mark.parametrize("kind", ["crossed", "slopes", "nested"])
def test_solution_satisfies_henderson_mme(kind):
    """[XᵀWX XᵀWZ; ZᵀWX ZᵀWZ + σ²G⁻¹] [β̂; b̂] = [XᵀWy; ZᵀWy] with G = σ²ΛΛᵀ."""
    y, X, terms, theta, w = random_design(kind, seed=11, weights=True)
    res = fastmme.Model(y, X, terms, weights=w).at(theta)
    Z = design_Z(terms)
    Lam = lambda_matrix(terms, theta)
    W = np.diag(w)
    Ginv_s2 = np.linalg.inv(Lam @ Lam.T)              # σ² G⁻¹
    C = np.block([[X.T @ W @ X, X.T @ W @ Z], [Z.T @ W @ X, Z.T @ W @ Z + Ginv_s2]])
    rhs = np.concatenate([X.T @ W @ y, Z.T @ W @ y])
    sol = np.concatenate([res.beta] + [b.ravel() for b in res.blups])
    np.testing.assert_allclose(C @ sol, rhs, rtol=1e-9, atol=1e-9 * np.abs(rhs).max())


@pytest.mark.parametrize("kind", ["oneway", "slopes", "crossed"])
def test_cond_var_equals_dense_posterior_covariance(kind):
    """lme4's condVar: σ² Λ (ΛᵀZᵀWZΛ + I)⁻¹ Λᵀ, diagonal blocks per level."""
    y, X, terms, theta, w = random_design(kind, seed=4, weights=True)
    res = fastmme.Model(y, X, terms, weights=w).at(theta)
    Z = design_Z(terms)
    Lam = lambda_matrix(terms, theta)
    full = res.sigma ** 2 * Lam @ np.linalg.inv(Lam.T @ Z.T @ np.diag(w) @ Z @ Lam + np.eye(Z.shape[1])) @ Lam.T
    off = 0
    for t, cv in zip(terms, res.cond_var):
        for j in range(t.n_levels):
            s = slice(off + j * t.r, off + (j + 1) * t.r)
            np.testing.assert_allclose(cv[j], full[s, s], rtol=1e-9, atol=1e-12 * np.abs(full).max())
        off += t.q


@pytest.mark.parametrize("kind", ["oneway", "slopes", "crossed"])
def test_cond_var_by_solves_equals_selected_inverse(kind, monkeypatch):
    """Where the selected inverse would not fit in memory, condVar comes from solves with unit vectors:
    the same blocks (the selected inverse is checked against the dense oracle above)."""
    from fastmme.evaluate.objective import ProfiledDeviance
    y, X, terms, theta, w = random_design(kind, seed=4, weights=True)
    fast = fastmme.Model(y, X, terms, weights=w).at(theta).cond_var
    monkeypatch.setattr(ProfiledDeviance, "selected_inverse_fits", lambda self: False)
    slow = fastmme.Model(y, X, terms, weights=w).at(theta).cond_var
    for a, b in zip(fast, slow):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13 * np.abs(b).max())


def test_fit_reaches_dense_optimum():
    """The sparse fit's optimum is the dense criterion's optimum."""
    from scipy.optimize import minimize
    y, X, terms, theta, w = random_design("crossed", seed=8)
    res = fastmme.fit(y, X, terms)
    dense = DenseModel(y, X, terms)
    ref = minimize(lambda t: dense.deviance(t), x0=np.ones(2), bounds=[(0, None)] * 2, method="L-BFGS-B",
                   options=dict(ftol=1e-14, gtol=1e-10))
    assert res.deviance <= ref.fun + 1e-7
    assert res.deviance == pytest.approx(dense.deviance(res.theta), rel=1e-10)
