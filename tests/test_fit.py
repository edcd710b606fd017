"""The optimiser: the optimum does not depend on the starting values; starts and progress callbacks."""
import numpy as np
import pytest

import fastmme
from fastmme.optimize.start import moment_start
from designs import random_design


@pytest.mark.parametrize("kind", ["crossed", "nested", "slopes", "partial", "diagonal"])
def test_optimum_independent_of_start(kind):
    for seed in range(3):
        y, X, terms, theta, w = random_design(kind, seed=seed, n=150, weights=seed == 1)
        m = fastmme.Model(y, X, terms, weights=w)
        a, b = m.fit(), m.fit(start="lme4")
        assert a.deviance == pytest.approx(b.deviance, rel=1e-10)
        assert min(a.deviance, b.deviance) <= m.deviance(theta)


def test_moment_start_is_used_only_when_better():
    y, X, terms, theta, w = random_design("crossed", seed=2, n=300)
    m = fastmme.Model(y, X, terms)
    th0 = moment_start(m._objective)
    if th0 is not None:
        assert m.deviance(th0) < m.deviance(m.theta_start)
    assert moment_start(fastmme.Model(*random_design("oneway", seed=1)[:2], random_design("oneway", seed=1)[2])._objective) is None


def test_explicit_start_and_progress_callback():
    y, X, terms, theta, w = random_design("slopes", seed=4)
    calls = []
    res = fastmme.Model(y, X, terms).fit(start=theta, progress=lambda k, f: calls.append((k, f)))
    assert len(calls) >= res.n_evals - len(theta) and calls[-1][1] >= res.deviance - 1e-9
    assert all(b[1] <= a[1] for a, b in zip(calls, calls[1:]))     # best value never increases


@pytest.mark.parametrize("evaluator", ["schur", "cholmod"])
def test_a_result_reads_its_quantities_at_its_own_estimate(evaluator):
    """A FitResult holds a read-only view at θ̂ (fastmme.evaluate.at_estimate), not the objective (the
    structural part: no objective attribute, θ̂ read-only); and moving the model's objective to another θ
    (a refit, a profile) leaves condVar, PEVs and the variance components' SEs of a finished result
    unchanged (the behaviour, which held before the view as well)."""
    from fastmme.evaluate.objective import ProfiledDeviance
    y, X, terms, theta, w = random_design("crossed", seed=4, n=200)
    m = fastmme.Model(y, X, terms)
    m._objective = ProfiledDeviance(m.spec, evaluator=evaluator)
    a = m.fit()
    assert not hasattr(a, "_objective") and np.array_equal(a._at.theta, a.theta)
    with pytest.raises(ValueError):
        a._at.theta[0] = 1.0
    ref = m.fit()
    want = (ref.cond_var + ref.pev, ref.variance_components()["se"])      # read with the objective at θ̂
    m.deviance(np.asarray(a.theta) * 3.0)            # the objective now sits elsewhere
    for x, z in zip(a.cond_var + a.pev, want[0]):    # a's first reads
        np.testing.assert_allclose(x, z, rtol=1e-12, atol=0)
    np.testing.assert_allclose(a.variance_components()["se"], want[1], rtol=1e-10)
    moved = fastmme.Model(y, X, terms).at(np.asarray(a.theta) * 3.0)
    assert not np.allclose(moved.cond_var[0], want[0][0], rtol=1e-6)      # condVar does depend on θ
