"""The analytic gradient of the profiled criterion (selected inverse through the dense Schur structure)
against central finite differences of the criterion, for every covariance structure, REML and ML,
with and without weights, one to three terms; and its use by the optimiser."""
import numpy as np
import pytest

import fastmme
from fastmme.evaluate.objective import ProfiledDeviance
from designs import random_design

KINDS = ["oneway", "crossed", "nested", "slopes", "slopes3", "diagonal", "identity", "partial"]


def finite_differences(obj, th, reml, h=1e-6):
    out = np.empty_like(th)
    for i in range(th.shape[0]):
        e = np.zeros_like(th)
        e[i] = h * max(1.0, abs(th[i]))
        out[i] = (obj.deviance(th + e, reml) - obj.deviance(th - e, reml)) / (2 * e[i])
    return out


@pytest.mark.parametrize("kind", KINDS + ["three"])
@pytest.mark.parametrize("weights", [False, True])
def test_gradient_equals_finite_differences(kind, weights):
    for seed in range(2):
        y, X, terms, theta, w = random_design(kind, seed=seed, weights=weights)
        spec = fastmme.Model(y, X, terms, weights=w).spec
        obj = ProfiledDeviance(spec, evaluator="schur")
        rng = np.random.default_rng(seed)
        for th in (theta, theta * rng.uniform(0.3, 2.5, theta.shape)):
            for reml in (True, False):
                f, g = obj.deviance_and_gradient(th, reml)
                assert f == pytest.approx(obj.deviance(th, reml), rel=1e-13)
                fd = finite_differences(obj, th, reml)
                scale = max(1.0, np.abs(fd).max())
                np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-6 * scale)


def test_gradient_vanishes_at_zero_for_scalar_terms():
    """The criterion is even in a scalar term's θ_k: its derivative at θ_k = 0 is exactly 0."""
    y, X, terms, theta, w = random_design("crossed", seed=4)
    obj = ProfiledDeviance(fastmme.Model(y, X, terms).spec, evaluator="schur")
    th = theta.copy()
    th[0] = 0.0
    _, g = obj.deviance_and_gradient(th)
    assert g[0] == 0.0
    assert np.all(g[1:] != 0.0)


def test_gradient_is_zero_at_lme4_optimum():
    """sleepstudy REML at lme4's θ̂ (fixture): the gradient is small against the criterion's curvature."""
    d = fastmme.datasets.load("sleepstudy")
    X = np.column_stack([np.ones(len(d)), d.Days.to_numpy(float)])
    m = fastmme.Model(d.Reaction, X, [fastmme.Term(d.Subject, z=X)])
    r = m.fit()
    _, g = m._objective.deviance_and_gradient(r.theta)
    assert np.abs(g).max() < 1e-4
    assert r.deviance == pytest.approx(1743.6282719599, rel=1e-11)      # lme4 1.1-31, REML criterion


def test_lbfgsb_leaves_the_bound():
    """From lme4's start, L-BFGS-B (the Newton method's fallback) can stop on θ_k = 0 (a stationary
    point of the even criterion) or on a non-canonical T with a zero diagonal; minimize_gradient must
    leave both when a better point exists."""
    from fastmme.optimize.minimize import minimize_gradient
    for kind, seed in (("nested", 1), ("diagonal", 0)):
        y, X, terms, theta, w = random_design(kind, seed=seed, n=150, weights=seed == 1)
        m = fastmme.Model(y, X, terms, weights=w)
        obj = m._objective
        opt = minimize_gradient(obj.deviance_and_gradient, obj.deviance, m.theta_start, m.theta_lower,
                                canonical=obj.canonical_theta)
        assert "L-BFGS-B" in opt.message
        assert opt.fmin == pytest.approx(m.fit().deviance, rel=1e-10)
        assert opt.n_evals < 60


def test_canonical_theta_same_model():
    t = fastmme.Term(np.arange(6) % 3, z=np.column_stack([np.ones(6), np.arange(6.0)]))
    th = np.array([0.0, -0.4, 0.0])              # T = [[0, 0], [-0.4, 0]]
    c = t.canonical_theta(th)
    np.testing.assert_allclose(c, [0.0, 0.0, 0.4])
    T, U = t.lambda_block(th), t.lambda_block(c)
    np.testing.assert_allclose(T @ T.T, U @ U.T)
    full = np.array([0.8, 0.3, 0.5])
    np.testing.assert_allclose(t.canonical_theta(full), full)


@pytest.mark.parametrize("kind", KINDS + ["three"])
def test_sparse_gradient_of_plain_designs_equals_finite_differences(kind):
    """The CHOLMOD path's gradient (selected inverse; fastmme.evaluate.sparse_gradient) on designs without a
    relationship matrix, which it now serves too (before, they got BOBYQA only)."""
    from fastmme.evaluate.sparse_gradient import sparse_gradient
    y, X, terms, theta, w = random_design(kind, seed=1, weights=True)
    obj = ProfiledDeviance(fastmme.Model(y, X, terms, weights=w).spec, evaluator="cholmod")
    assert obj.has_gradient
    for reml in (True, False):
        g = sparse_gradient(obj, theta, reml)
        fd = finite_differences(obj, theta, reml)
        np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-6 * max(1.0, np.abs(fd).max()))
