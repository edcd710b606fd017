"""GLMM families and links (fastmme.spec.family, kernels/glm.py) against closed forms from SciPy, with
R's clamps; PIRLS's fused passes against the array functions they are made of."""
import numpy as np
import pytest
from scipy import special, stats

from fastmme.linalg.kernels import glm
from fastmme.spec.family import family

EPS = np.finfo(float).eps
ETA = np.concatenate([np.linspace(-40, 40, 161), [-30.0, 30.0, 0.0, 1e-300, -1e-300, 7.9, -8.2, 700.0, -700.0]])


def _reference_linkinv(link, eta):
    if link == "logit":
        return np.where(eta > 30, 1 - EPS, np.where(eta < -30, EPS, special.expit(eta)))
    if link == "probit":
        t = -special.ndtri(EPS)
        return stats.norm.cdf(np.clip(eta, -t, t))
    if link == "cloglog":
        return np.clip(-np.expm1(-np.exp(eta)), EPS, 1 - EPS)
    return np.maximum(np.exp(eta), EPS)


@pytest.mark.parametrize("fam,link", [("binomial", "logit"), ("binomial", "probit"), ("binomial", "cloglog"),
                                      ("poisson", "log")])
def test_link_inverse_and_its_derivative(fam, link):
    f = family(fam, link)
    eta = ETA[np.abs(ETA) <= (300 if link == "log" else 800)]
    with np.errstate(over="ignore"):
        ref = _reference_linkinv(link, eta)
    mu = f.link.linkinv(eta)
    np.testing.assert_allclose(mu, ref, rtol=1e-13, atol=0)
    assert np.all(mu > 0) and (link == "log" or np.all(mu < 1))
    # dμ/dη against a central difference where the link is smooth (inside R's clamps)
    inner = eta[(np.abs(eta) < (25 if link == "logit" else 6)) & (np.abs(eta) > 1e-3)]
    h = 1e-6
    fd = (f.link.linkinv(inner + h) - f.link.linkinv(inner - h)) / (2 * h)
    np.testing.assert_allclose(f.link.mu_eta(inner), fd, rtol=1e-6, atol=1e-9)
    assert np.all(f.link.mu_eta(eta) >= EPS)
    mid = inner[np.abs(inner) < 3]         # where μ keeps its digits (1 − μ does not near the clamps)
    np.testing.assert_allclose(f.link.linkfun(f.link.linkinv(mid)), mid, rtol=1e-10, atol=1e-12)
    assert f.link.linkinv(np.zeros((2, 3))).shape == (2, 3)        # any shape, as NumPy's


@pytest.mark.parametrize("fam,link", [("binomial", "logit"), ("binomial", "probit"), ("binomial", "cloglog"),
                                      ("poisson", "log")])
def test_second_derivative_and_the_clamps(fam, link):
    f = family(fam, link)
    inner = np.linspace(-5, 5, 41) + 0.013
    h = 1e-5
    fd = (f.link.mu_eta(inner + h) - f.link.mu_eta(inner - h)) / (2 * h)
    np.testing.assert_allclose(f.link.dmu_eta(inner), fd, rtol=1e-6, atol=1e-9)
    eta = np.array([-800.0, -40.0, -31.0, 0.0, 31.0, 40.0])
    clamp = f.link.clamped(eta)
    with np.errstate(over="ignore"):
        mu = f.link.linkinv(eta)
        moved = f.link.linkinv(eta + 1e-3)
    assert np.all(mu[clamp] == moved[clamp])           # μ does not move where the clamp holds
    if link == "logit":
        np.testing.assert_array_equal(clamp, np.abs(eta) > 30)
    assert not clamp[3]


def test_deviance_residuals_and_aic_are_the_likelihoods():
    rng = np.random.default_rng(0)
    n = 200
    trials = rng.integers(1, 9, n).astype(float)
    mu = rng.uniform(0.02, 0.98, n)
    y = rng.binomial(trials.astype(int), mu) / trials
    b = family("binomial")
    ll = stats.binom.logpmf(np.round(trials * y), trials, mu)
    np.testing.assert_allclose(b.aic(y, mu, trials), -2 * np.sum(ll), rtol=1e-12)
    sat = stats.binom.logpmf(np.round(trials * y), trials, y)
    np.testing.assert_allclose(b.dev_resids(y, mu, trials), 2 * (sat - ll), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b.variance(mu), mu * (1 - mu), rtol=1e-15)
    counts = rng.poisson(3.0, n).astype(float)
    lam = rng.uniform(0.5, 6, n)
    w = rng.uniform(0.5, 2, n)
    p = family("poisson")
    np.testing.assert_allclose(p.aic(counts, lam, w), -2 * np.sum(w * stats.poisson.logpmf(counts, lam)), rtol=1e-12)
    sat = stats.poisson.logpmf(counts, np.maximum(counts, 1e-300))
    np.testing.assert_allclose(p.dev_resids(counts, lam, w), 2 * w * (sat - stats.poisson.logpmf(counts, lam)),
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(p.variance(lam), lam, rtol=1e-15)
    np.testing.assert_allclose(b.dev_resids(y, mu, 1.0), b.dev_resids(y, mu, np.ones(n)))    # a scalar weight


@pytest.mark.parametrize("fam,link", [("binomial", "logit"), ("binomial", "cloglog"), ("poisson", "log")])
def test_the_fused_pirls_passes_equal_the_array_functions(fam, link):
    f = family(fam, link)
    rng = np.random.default_rng(1)
    n = 500
    eta = rng.normal(0, 2, n)
    pw = rng.integers(1, 5, n).astype(float)
    y = (rng.binomial(pw.astype(int), f.link.linkinv(eta)) / pw) if fam == "binomial" else \
        rng.poisson(f.link.linkinv(eta)).astype(float)
    off = rng.normal(size=n)
    w, z = np.empty(n), np.empty(n)
    glm.working_values(f.code, f.link.code, eta, y, pw, off, w, z)
    mu, me = f.link.linkinv(eta), f.link.mu_eta(eta)
    np.testing.assert_allclose(w, pw * me ** 2 / f.variance(mu), rtol=1e-14)
    np.testing.assert_allclose(z, eta - off + (y - mu) / me, rtol=1e-14, atol=1e-14)
    d = np.empty(n)
    glm.deviance_residuals(f.code, f.link.code, eta, y, pw, d)
    np.testing.assert_array_equal(d, f.dev_resids(y, mu, pw))
    # the parallel forms (large designs) give the same rows, bit for bit
    w2, z2, d2 = np.empty(n), np.empty(n), np.empty(n)
    glm.working_values_parallel(f.code, f.link.code, eta, y, pw, off, w2, z2)
    glm.deviance_residuals_parallel(f.code, f.link.code, eta, y, pw, d2)
    np.testing.assert_array_equal(w2, w)
    np.testing.assert_array_equal(z2, z)
    np.testing.assert_array_equal(d2, d)
