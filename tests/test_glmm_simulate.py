"""simulate() of a GLMM (issue 17; lme4's simulate of a glmer fit): the marginal means of the simulated
responses against E[g⁻¹(η + b)] integrated by a 40-node Gauss–Hermite rule (new random effects, lme4's
default), and against μ̂ with the conditional modes kept (use_u=True); seeds, shapes, refusals."""
import numpy as np
import pytest

import fastmme
from fastmme import FastmmeError
from fastmme.evaluate.laplace import gauss_hermite


@pytest.fixture(scope="module")
def cbpp():
    return fastmme.glmm("cbind(incidence, size - incidence) ~ period + (1 | herd)", fastmme.datasets.load("cbpp"))


def test_new_random_effects_give_the_marginal_means(cbpp):
    nsim = 4000
    sims = cbpp.simulate(nsim, seed=1).to_numpy()
    obj = cbpp._objective
    eta = obj.X @ np.array(cbpp.beta)
    x, w = gauss_hermite(40)
    sd = float(np.sqrt(cbpp.covariances[0][0, 0]))
    mean = np.sum(w * obj.family.link.linkinv(eta[:, None] + sd * x[None, :]), axis=1)    # E[μ] over b
    # Var(y) per row: E[μ(1 − μ)]/n + Var(μ) (the binomial given b, then b)
    m2 = np.sum(w * obj.family.link.linkinv(eta[:, None] + sd * x[None, :]) ** 2, axis=1)
    var = (mean - m2) / obj.pw + (m2 - mean ** 2)
    # simulations share each herd's b, but the rows are averaged over independent simulations
    assert np.all(np.abs(sims.mean(axis=1) - mean) < 4.5 * np.sqrt(var / nsim))
    assert sims.shape == (obj.y.shape[0], nsim) and np.all((sims >= 0) & (sims <= 1))
    assert np.allclose(sims * obj.pw[:, None], np.round(sims * obj.pw[:, None]))      # whole successes


def test_conditional_modes_kept_give_the_fitted_means(cbpp):
    sims = cbpp.simulate(3000, seed=2, use_u=True).to_numpy()
    mu, n = np.array(cbpp.fitted), cbpp._objective.pw
    assert np.all(np.abs(sims.mean(axis=1) - mu) < 4.5 * np.sqrt(mu * (1 - mu) / n / 3000))


def test_poisson_seeds_and_refusals():
    d = fastmme.datasets.load("grouseticks")
    fit = fastmme.glmm("TICKS ~ YEAR + cHEIGHT + (1 | BROOD)", d, family="poisson", nAGQ=0)
    a, b = fit.simulate(3, seed=7), fit.simulate(3, seed=7)
    assert a.equals(b) and list(a.columns) == ["sim_1", "sim_2", "sim_3"]
    assert not a.equals(fit.simulate(3, seed=8))
    assert np.all(a.to_numpy() == np.round(a.to_numpy())) and np.all(a.to_numpy() >= 0)
    with pytest.raises(FastmmeError, match="nsim must be a positive integer"):
        fit.simulate(0)
