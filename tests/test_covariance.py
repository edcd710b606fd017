"""fastmme.spec.covariance: Λ(θ) of a set of terms against the dense Λ of the oracle, its chain rule and
the variance components' Jacobian against finite differences; a GlmmFit holds no evaluator."""
import gc
import weakref

import numpy as np
import pytest

import fastmme
from fastmme import Term
from fastmme.dense import lambda_matrix
from fastmme.evaluate.laplace import LaplaceObjective
from fastmme.spec.covariance import RelativeFactor, sdcor_from_theta, theta_from_sdcor, variance_components


def _terms(seed):
    rng = np.random.default_rng(seed)
    n = 60
    g, h = rng.integers(0, 5, n), rng.integers(0, 4, n)
    x = rng.normal(size=(n, 2))
    return [Term(g, np.column_stack([np.ones(n), x]), name="g"),          # unstructured, r = 3
            Term(h, x, structure="diagonal", name="h"),                     # diagonal, r = 2
            Term(g, x[:, 0], structure="identity", name="gi")]              # r = 1


@pytest.mark.parametrize("seed", [0, 1])
def test_flat_blocks_and_apply_equal_the_dense_lambda(seed):
    terms = _terms(seed)
    lam = RelativeFactor(terms, n_fixed=2)
    rng = np.random.default_rng(10 + seed)
    th = rng.normal(size=lam.n_theta)
    flat = lam.flat(th)
    assert flat.shape[0] == sum(t.r * t.r for t in terms) + 2 and np.all(flat[-2:] == 1.0)
    for k, (t, T) in enumerate(zip(terms, lam.blocks(th))):
        np.testing.assert_array_equal(flat[lam.t_offset[k]:lam.t_offset[k] + t.r * t.r], T.ravel())
    q_offset = np.concatenate([[0], np.cumsum([t.q for t in terms])])
    L = lambda_matrix(terms, th)
    v = rng.normal(size=(L.shape[0] + 3, 2))         # 3 rows after the random effects: left as they are
    for transpose in (False, True):
        got = lam.apply(th, v, q_offset, transpose)
        np.testing.assert_allclose(got[:-3], (L.T if transpose else L) @ v[:-3], rtol=1e-13, atol=1e-13)
        np.testing.assert_array_equal(got[-3:], v[-3:])


def test_chain_is_the_gradient_through_T():
    terms = _terms(2)
    lam = RelativeFactor(terms)
    rng = np.random.default_rng(3)
    A = rng.normal(size=lam.flat(np.zeros(lam.n_theta)).shape[0])

    def f(th):                       # a smooth function of flat T: Σ A ⊙ T + ½ ‖T‖²
        T = lam.flat(th)
        return A @ T + 0.5 * T @ T
    th = rng.normal(size=lam.n_theta)
    g = lam.chain(A + lam.flat(th))
    h = 1e-6
    fd = np.array([(f(th + h * e) - f(th - h * e)) / (2 * h) for e in np.eye(lam.n_theta)])
    np.testing.assert_allclose(g, fd, rtol=1e-7, atol=1e-8)
    for k, t in enumerate(terms):
        assert len(lam.directions(k)) == t.n_theta


def test_variance_components_jacobian_and_sdcor_round_trip():
    terms = _terms(4)
    rng = np.random.default_rng(5)
    th = np.abs(rng.normal(size=RelativeFactor(terms).n_theta)) + 0.1
    s2 = 1.7
    index, est, J = variance_components(terms, th, s2)
    assert index[-1] == (-1, 0, 0) and est[-1] == s2
    h = 1e-6
    par = np.concatenate([th, [s2]])
    for i, e in enumerate(np.eye(par.shape[0])):
        up = variance_components(terms, (par + h * e)[:-1], (par + h * e)[-1])[1]
        dn = variance_components(terms, (par - h * e)[:-1], (par - h * e)[-1])[1]
        np.testing.assert_allclose((np.array(up) - np.array(dn)) / (2 * h), np.array(J)[:, i], rtol=1e-6, atol=1e-8)
    phi = sdcor_from_theta(terms, th, 1.3)
    back = theta_from_sdcor(terms, phi)
    for T0, T1 in zip(RelativeFactor(terms).blocks(th), RelativeFactor(terms).blocks(back)):
        np.testing.assert_allclose(T1 @ T1.T, T0 @ T0.T, rtol=1e-12, atol=1e-12)


def test_a_glmm_fit_holds_no_evaluator_and_its_profile_still_runs():
    d = fastmme.datasets.load("cbpp")
    fit = fastmme.glmm("cbind(incidence, size - incidence) ~ period + (1 | herd)", d, family="binomial")
    held = [v for v in vars(fit).values() if isinstance(v, LaplaceObjective)]
    assert held == []
    obj = fit._objective                      # built on demand from the design
    assert isinstance(obj, LaplaceObjective)
    np.testing.assert_allclose(obj.laplace(fit.theta, fit.beta), fit.minus2loglik, rtol=1e-9)
    ref = weakref.ref(obj)
    del obj
    gc.collect()
    assert ref() is None                      # nothing in the fit points at it
    np.testing.assert_allclose(fit.predict(re=False), d["period"].map(
        dict(zip(["1", "2", "3", "4"], np.concatenate([[0.0], fit.beta[1:]])))).to_numpy(float) + fit.beta[0],
        rtol=1e-12)
