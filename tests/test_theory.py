"""Closed forms and identities from the theory of the linear mixed model.

* balanced one-way random effects, J groups of r: ML and REML estimates in closed form, truncated at 0;
* GLS β̂ in the balanced one-way model is the grand mean;
* the best linear predictor of a new observation, x₀ᵀβ̂ + ψᵀV⁻¹(y − Xβ̂), equals predict();
* the mixed-model equations are the limit of the Bayesian posterior mean under a flat prior on β.
"""
import numpy as np
import pytest

import fastmme
from fastmme.dense import best_linear_predictor, design_Z, lambda_matrix
from designs import random_design


def oneway(J, r, sd_alpha, seed):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(J), r)
    y = 10 + np.repeat(rng.normal(0, sd_alpha, J), r) + rng.normal(0, 1, J * r)
    return y, g


def anova(y, g, J, r):
    means = np.array([y[g == j].mean() for j in range(J)])
    ssa = r * np.sum((means - y.mean()) ** 2)
    sse = np.sum((y - means[g]) ** 2)
    return ssa, sse


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("J,r", [(6, 4), (10, 3), (5, 8)])
def test_balanced_oneway_closed_forms(J, r, seed):
    """ML: σ̂² = SSE/(n−J), σ̂²_α = (SSA/J − MSE)/r; REML: σ̂²_α = (SSA/(J−1) − MSE)/r; truncated at 0
    (then σ̂² = (SSE+SSA)/n for ML, /(n−1) for REML, and the fit is singular).  The closed-form point
    minimises fastmme's criterion, the result there equals the closed forms to 1e-10, and the
    optimiser finds it to 1e-5 (derivative-free: θ is located to about √ftol)."""
    y, g = oneway(J, r, sd_alpha=[0.0, 0.3, 1.5][seed % 3], seed=seed)
    n = J * r
    ssa, sse = anova(y, g, J, r)
    mse = sse / (n - J)
    X = np.ones((n, 1))
    for reml in (False, True):
        model = fastmme.Model(y, X, [fastmme.Term(g)], reml=reml)
        s2a = (ssa / (J - 1 if reml else J) - mse) / r
        if s2a > 0:
            s2 = mse
        else:
            s2a = 0.0
            s2 = (sse + ssa) / (n - 1 if reml else n)
        theta_cf = np.sqrt(s2a / s2)
        at = model.at([theta_cf])
        assert at.sigma ** 2 == pytest.approx(s2, rel=1e-10)
        assert at.covariances[0][0, 0] == pytest.approx(s2a, rel=1e-10, abs=1e-14)
        res = model.fit()
        assert res.deviance <= model.deviance([theta_cf]) + 1e-12 * abs(res.deviance)
        assert model.deviance([theta_cf]) <= res.deviance + 1e-10 * abs(res.deviance)
        for th in (theta_cf * 0.999 + 1e-4, theta_cf * 1.001 + 1e-4):   # a minimum: neighbours are worse
            assert model.deviance([th]) > model.deviance([theta_cf])
        assert res.sigma ** 2 == pytest.approx(s2, rel=1e-5)
        assert res.covariances[0][0, 0] == pytest.approx(s2a, rel=1e-5, abs=1e-6 * s2)
        assert res.singular == (s2a == 0.0)
        assert res.beta[0] == pytest.approx(y.mean(), rel=1e-12)


@pytest.mark.parametrize("theta", [0.0, 0.1, 1.0, 30.0])
def test_gls_estimate_is_grand_mean_in_balanced_oneway(theta):
    y, g = oneway(7, 5, 1.0, seed=1)
    res = fastmme.Model(y, np.ones((35, 1)), [fastmme.Term(g)]).at([theta])
    assert res.beta[0] == pytest.approx(y.mean(), rel=1e-10)


@pytest.mark.parametrize("kind", ["oneway", "slopes", "crossed"])
def test_best_linear_predictor_of_new_observation(kind):
    """predict() for a new observation in existing groups = x₀ᵀβ̂ + ψᵀ V⁻¹ (y − Xβ̂), V and ψ dense."""
    y, X, terms, theta, w = random_design(kind, seed=2)
    res = fastmme.fit(y, X, terms)
    Z = design_Z(terms)
    Lam = lambda_matrix(terms, res.theta)
    G = res.sigma ** 2 * Lam @ Lam.T
    V = Z @ G @ Z.T + res.sigma ** 2 * np.eye(len(y))
    rng = np.random.default_rng(0)
    for _ in range(5):
        x0 = np.array([1.0, rng.normal(), rng.normal()])
        groups0, z0_rows, z0_full = [], [], []
        for t in terms:
            j = int(rng.integers(t.n_levels))
            zrow = np.concatenate([[1.0], rng.normal(size=t.r - 1)]) if t.r > 1 else np.ones(1)
            full = np.zeros(t.q)
            full[j * t.r:(j + 1) * t.r] = zrow
            groups0.append(t.levels[j:j + 1])
            z0_rows.append(zrow[None, :] if t.z is not None else None)
            z0_full.append(full)
        psi = Z @ G @ np.concatenate(z0_full)          # Cov(y₀, y): shared random effects only
        blp = best_linear_predictor(x0, psi, y, X, V)
        ours = res.predict(x0[None, :], groups0, z0_rows)[0]
        assert ours == pytest.approx(blp, rel=1e-7)


def test_new_level_gets_population_prediction():
    y, X, terms, theta, w = random_design("crossed", seed=3)
    res = fastmme.fit(y, X, terms)
    x0 = np.array([[1.0, 0.3, -0.2]])
    pred = res.predict(x0, [np.array([999]), np.array([998])], new_levels="population")
    assert pred[0] == pytest.approx((x0 @ res.beta)[0], rel=1e-14)


def test_mme_are_limit_of_bayesian_posterior_mean():
    """β ~ N(0, τ²I), b ~ N(0, G), y | β, b ~ N(Xβ + Zb, σ²W⁻¹): the posterior mean, computed by
    conditioning the joint Gaussian of (β, b, y), tends to (β̂, b̂) of the MME as τ → ∞."""
    y, X, terms, theta, w = random_design("slopes", seed=6, weights=True)
    res = fastmme.Model(y, X, terms, weights=w).at(theta)
    sigma2 = res.sigma ** 2
    Z = design_Z(terms)
    Lam = lambda_matrix(terms, theta)
    G = sigma2 * Lam @ Lam.T
    target = np.concatenate([res.beta] + [b.ravel() for b in res.blups])
    errs = []
    for tau2 in [1e0, 1e2, 1e4, 1e6]:
        Vy = tau2 * X @ X.T + Z @ G @ Z.T + sigma2 * np.diag(1 / w)
        cov_theta_y = np.vstack([tau2 * X.T, G @ Z.T])
        post = cov_theta_y @ np.linalg.solve(Vy, y)
        errs.append(np.max(np.abs(post - target)) / np.max(np.abs(target)))
    assert all(a > b for a, b in zip(errs, errs[1:])), errs      # converges monotonically
    assert errs[-1] < 1e-5
