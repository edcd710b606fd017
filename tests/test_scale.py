"""Exact criteria at any response scale (issue 15, item 2): y = M + z with M/sd(z) up to 10⁸ gives the
criterion, θ, β, SEs and σ of the centred problem (y − mean y) to 1e-10 relative, the intercept
shifted by the mean; offsets (lme4's offset) equal fitting y − offset."""
import numpy as np
import pandas as pd
import pytest

import fastmme


def data(seed=1, n=600, J=30):
    rng = np.random.default_rng(seed)
    g = rng.integers(0, J, n)
    x = rng.normal(size=n)
    z = 0.5 * x + rng.normal(size=J)[g] * 0.7 + 0.4 * rng.normal(size=J)[g] * x + rng.normal(size=n)
    return pd.DataFrame({"z": z, "x": x, "g": g, "w": 1 + (np.arange(n) % 3) / 2})


@pytest.mark.parametrize("formula", ["y ~ x + (1 | g)", "y ~ x + (1 + x | g)"])
@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("M", [1e2, 1e4, 1e6, 1e7, 1e8])
def test_a_large_response_mean_gives_the_centred_fit(M, reml, formula):
    df = data()
    sd = df.z.std()
    y = M * sd + df.z
    big = fastmme.lmm(formula, df.assign(y=y), reml=reml, weights="w")
    ref = fastmme.lmm(formula, df.assign(y=y - y.mean()), reml=reml, weights="w")
    rel = 1e-10
    assert big.deviance == pytest.approx(ref.deviance, rel=rel)
    np.testing.assert_allclose(big.core.theta, ref.core.theta, rtol=1e-8, atol=1e-10)
    assert big.sigma == pytest.approx(ref.sigma, rel=rel)
    np.testing.assert_allclose(big.core.beta_se, ref.core.beta_se, rtol=1e-9)
    assert big.fixef["x"] == pytest.approx(ref.fixef["x"], rel=1e-9)
    assert big.fixef["(Intercept)"] - y.mean() == pytest.approx(ref.fixef["(Intercept)"], abs=1e-10 * M * sd + 1e-9)
    # the fitted values and residuals are in the caller's units
    np.testing.assert_allclose(big.residuals.to_numpy(), ref.residuals.to_numpy(), atol=1e-15 * M * sd * 10 + 1e-9)


def test_the_criterion_at_fixed_theta_does_not_depend_on_the_mean():
    df = data()
    d0 = fastmme.lmm("y ~ x + (1 + x | g)", df.assign(y=df.z))
    th = np.array(d0.core.theta) * 1.3
    for M in (1e4, 1e8):
        dm = fastmme.lmm("y ~ x + (1 + x | g)", df.assign(y=df.z + M))
        assert dm.model.deviance(th) == pytest.approx(d0.model.deviance(th), rel=1e-10)


def test_an_offset_equals_fitting_the_response_less_it():
    df = data()
    y, X = df.z.to_numpy() + 3.0, np.column_stack([np.ones(len(df)), df.x.to_numpy()])
    off = np.sin(np.arange(len(df)))
    terms = [fastmme.Term(df.g, z=X, name="g")]
    a = fastmme.Model(y, X, terms, offset=off).fit()
    b = fastmme.Model(y - off, X, terms).fit()
    assert a.deviance == pytest.approx(b.deviance, rel=1e-12)
    np.testing.assert_allclose(a.beta, b.beta, rtol=1e-9)
    np.testing.assert_allclose(a.fitted, b.fitted + off, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(a.residuals, b.residuals, atol=1e-10)
    with pytest.raises(fastmme.FastmmeError, match="offset has length"):
        fastmme.Model(y, X, terms, offset=off[:-1])


def test_the_working_response_is_made_again_with_the_same_numbers_as_its_shift():
    """The spec keeps b₀ but not y − offset − X b₀ (n values, made only when the blocks are assembled):
    made again, it is bitwise the response whose least-squares fit gave b₀, and its own fit on X is
    at rounding (b₀ took it all)."""
    from fastmme import Model
    from fastmme.spec.model_spec import working_response
    df = data()
    y = 1e6 * df.z.std() + df.z.to_numpy()
    X = np.column_stack([np.ones(len(df)), df.x.to_numpy()])
    off = 0.1 * df.x.to_numpy()
    spec = Model(y, X, fastmme.Term(df.g.to_numpy()), weights=df.w.to_numpy(), offset=off).spec
    assert not any(isinstance(v, np.ndarray) and v.shape == (len(df),) and v is not spec.y and v is not spec.offset
                   and v is not spec.weights for v in vars(spec).values())
    r = spec.working_response()
    np.testing.assert_array_equal(r, spec.working_response())
    r2, b0 = working_response(spec.y, spec.X, spec.weights, spec.offset)
    np.testing.assert_array_equal(b0, spec.shift)
    np.testing.assert_array_equal(r2, r)
    sw = np.sqrt(spec.weights)
    c = np.linalg.lstsq(X * sw[:, None], r * sw, rcond=None)[0]
    assert np.max(np.abs(c)) < 1e-9 * np.max(np.abs(r))
