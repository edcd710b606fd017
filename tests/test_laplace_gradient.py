"""The exact gradient of the Laplace objective (fastmme.evaluate.laplace_gradient) against central
differences of the objective (Richardson-extrapolated), on real data and seeded designs, with both
evaluators; and the fits that use it: the same optimum as BOBYQA's, in fewer evaluations."""
import numpy as np
import pandas as pd
import pytest

import fastmme
from fastmme.errors import FastmmeError
from fastmme.evaluate.laplace import LaplaceObjective
from fastmme.evaluate.laplace_gradient import has_laplace_gradient, laplace_gradient
from fastmme.formula.frame import build_design
from fastmme.spec.family import family


def _seeded(seed=5, n=800):
    rng = np.random.default_rng(seed)
    g, h = rng.integers(0, 30, n), rng.integers(0, 12, n)
    x, off = rng.normal(size=n), rng.normal(0, 0.3, n)
    b = rng.multivariate_normal([0, 0], [[0.8, 0.3], [0.3, 0.5]], 30)
    eta = -0.3 + 0.6 * x + b[g, 0] + b[g, 1] * x + rng.normal(0, 0.6, 12)[h]
    trials = rng.integers(1, 6, n)
    return pd.DataFrame({"y": (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float),
                         "k": rng.binomial(trials, 1 / (1 + np.exp(-eta))), "m": trials,
                         "c": rng.poisson(np.exp(0.5 * eta + off)), "x": x, "g": g.astype(str),
                         "h": h.astype(str), "off": off})


CASES = [
    ("cbpp", "cbind(incidence, size - incidence) ~ period + (1 | herd)", "binomial"),
    ("grouseticks", "TICKS ~ YEAR + HEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)", "poisson"),
    ("seeded", "y ~ x + (1 + x | g) + (1 | h)", "binomial"),
    ("seeded", "cbind(k, m - k) ~ x + (1 + x || g)", "binomial"),
    ("seeded", "c ~ x + offset(off) + (1 + x | g) + (1 | h)", "poisson"),
]


def _objective(name, formula, fam, evaluator):
    from fastmme.formula.glm_response import glm_response
    data = _seeded() if name == "seeded" else fastmme.datasets.load(name)
    f2, df, w = glm_response(formula, data, None, family(fam))
    d = build_design(f2, df, weights=w, sparse_fixed=False)
    return LaplaceObjective(d.y, d.X, d.terms, family(fam), weights=d.weights, offset=d.offset,
                            x_names=d.x_names, evaluator=evaluator)


def _check_against_differences(obj, th, be, bound=2e-5):
    k = th.shape[0]
    par = np.concatenate([th, be])
    value, grad = laplace_gradient(obj, th, be, precise=True)

    def diff(i, h):
        e = np.zeros(par.shape[0])
        e[i] = h
        return (obj.laplace(*np.split(par + e, [k]), precise=True) -
                obj.laplace(*np.split(par - e, [k]), precise=True)) / (2 * h)
    steps = 1e-3 * np.maximum(np.abs(par), 0.1)
    fd = np.array([(4 * diff(i, s / 2) - diff(i, s)) / 3 for i, s in enumerate(steps)])
    assert np.max(np.abs(grad - fd) / np.maximum(1.0, np.abs(fd))) < bound


@pytest.mark.parametrize("evaluator", ["schur", "cholmod"])
@pytest.mark.parametrize("name,formula,fam", CASES)
def test_gradient_equals_central_differences(name, formula, fam, evaluator):
    obj = _objective(name, formula, fam, evaluator)
    assert obj.alone.evaluator == evaluator and has_laplace_gradient(obj)
    rng = np.random.default_rng(len(formula))
    k = obj.theta_start().shape[0]
    th = obj.theta_start() * rng.uniform(0.3, 1.2, k) + np.where(obj.theta_lower() == 0, 0.05, 0.1)
    be = np.linalg.lstsq(obj.X, obj.eta_start - obj.offset, rcond=None)[0] + rng.normal(0, 0.05, obj.p)
    assert laplace_gradient(obj, th, be, precise=True)[0] == pytest.approx(obj.laplace(th, be, precise=True), rel=1e-12)
    _check_against_differences(obj, th, be)


@pytest.mark.parametrize("where", ["rows", "selected inverse"])
def test_a_gradient_too_big_for_memory_falls_back_to_bobyqa_and_says_so(monkeypatch, where):
    import fastmme.linalg.cholmod as cm
    import fastmme.optimize.glmm as og
    if where == "rows":
        monkeypatch.setattr(og, "gradient_memory", lambda obj: "the exact gradient's per-row blocks of A⁻¹ would "
                                                                 "need 9.9 GB")
        said = "would need 9.9 GB: lme4's two stages by BOBYQA"
    else:
        def guard(*args):                 # the selected inverse's own guard, raised in stage 2's first gradient
            raise cm.SelectedInverseTooLarge("the selected inverse of this factor needs about 9.9 GB: …")
        monkeypatch.setattr(og, "laplace_gradient", guard)
        said = "the selected inverse of this factor needs about 9.9 GB: lme4's two stages by BOBYQA"
    fit = fastmme.glmm("cbind(incidence, size - incidence) ~ period + (1 | herd)", fastmme.datasets.load("cbpp"))
    assert fit.stage2 == "BOBYQA" and "differences of the objective" in fit.vcov_method
    assert any(said in f for f in fit.fallbacks), fit.fallbacks
    assert "fallback: " in str(fit)
    assert fit.minus2loglik == pytest.approx(184.0525637, abs=1e-6)


def test_prior_weights_identity_terms_a_zero_theta_and_clamped_rows():
    rng = np.random.default_rng(11)
    n = 600
    g, h = rng.integers(0, 20, n), rng.integers(0, 8, n)
    z = rng.normal(size=(n, 2))
    x = rng.normal(size=n)
    X = np.column_stack([np.ones(n), x])
    counts = rng.poisson(np.exp(0.3 + 0.4 * x)).astype(float)
    pw = rng.uniform(0.5, 2.0, n)                        # Poisson prior weights need not be whole numbers
    terms = [fastmme.Term(g, z, structure="identity", name="g"), fastmme.Term(h, name="h")]
    obj = LaplaceObjective(counts, X, terms, family("poisson"), weights=pw)
    assert has_laplace_gradient(obj)
    _check_against_differences(obj, np.array([0.4, 0.0]), np.array([0.3, 0.4]))   # θ_h at its bound
    # a covariate that pushes some rows past the logit clamp (|η| > 30), with y = 1 there (with y = 0 PIRLS
    # itself fails at such points: PirlsFailure, which the optimiser treats as a failed evaluation)
    xb = np.where(np.arange(n) < 3, 9.0, rng.normal(size=n))
    y = np.where(np.arange(n) < 3, 1.0, (rng.random(n) < 0.5).astype(float))
    obj = LaplaceObjective(y, np.column_stack([np.ones(n), xb]), [fastmme.Term(g, name="g")], family("binomial"))
    be = np.array([0.1, 3.5])
    assert np.any(np.abs(obj.X @ be) > 30)
    _check_against_differences(obj, np.array([0.7]), be)
    # fractional binomial weights: R's aic rounds them, so the gradient is not offered
    frac = LaplaceObjective(np.where(y > 0, 0.4, 0.0), obj.X, [fastmme.Term(g, name="g")], family("binomial"),
                            weights=np.full(n, 2.5))           # 1 success in 2.5 trials: R's aic rounds to 2
    assert not has_laplace_gradient(frac)


def test_non_canonical_links_have_no_gradient_and_keep_bobyqa():
    d = fastmme.datasets.load("cbpp")
    obj = _objective("cbpp", "cbind(incidence, size - incidence) ~ period + (1 | herd)", "binomial", "auto")
    probit = LaplaceObjective(obj.y, obj.X, obj.terms, family("binomial", "probit"), weights=obj.pw)
    assert not has_laplace_gradient(probit)
    with pytest.raises(FastmmeError, match="canonical link"):
        laplace_gradient(probit, [1.0], np.zeros(obj.p))
    fit = fastmme.glmm("cbind(incidence, size - incidence) ~ period + (1 | herd)", d, family="binomial", link="probit")
    assert fit.stage2 == "BOBYQA" and "derivative-free" in fit.certificate


@pytest.mark.parametrize("name,formula,fam", CASES[:2])
def test_fit_with_the_gradient_reaches_bobyqas_optimum(name, formula, fam, monkeypatch):
    data = fastmme.datasets.load(name)
    fit = fastmme.glmm(formula, data, family=fam)
    assert fit.stage2.startswith("L-BFGS-B") and fit.gradient < 1e-6 and fit.converged
    assert "exact gradient" in fit.vcov_method and "exact gradient" in str(fit)
    assert fit.stage1 == "" and "from θ's start" in fit.certificate and "nAGQ = 0" not in fit.certificate
    import fastmme.optimize.glmm as og
    monkeypatch.setattr(og, "has_laplace_gradient", lambda obj: False)     # BOBYQA, and the objective's Hessian
    ref = fastmme.glmm(formula, data, family=fam)
    assert ref.stage2 == "BOBYQA" and "differences of the objective" in ref.vcov_method
    assert ref.certificate.startswith("BOBYQA over θ (nAGQ = 0), then BOBYQA over (θ, β)")
    assert fit.minus2loglik <= ref.minus2loglik + 1e-9 * abs(ref.minus2loglik)
    assert fit.n_evals < ref.n_evals
    np.testing.assert_allclose(fit.theta, ref.theta, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(fit.beta, ref.beta, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(fit.beta_se, ref.beta_se, rtol=1e-4)    # Hessian from the gradient vs the objective


@pytest.mark.parametrize("formula", ["y ~ x + (1 + x | g) + (1 | h)", "y ~ x + (1 | g) + (1 + x | h)",
                                     "y ~ x + (1 | g) + (1 | h) + (1 | g:h)"])
def test_the_rows_blocks_of_the_inverse_from_the_schur_complement_equal_the_selected_inverses(formula):
    """The gradient's A⁻¹ at every row's levels from the dense Schur complement's factors (what the Schur
    evaluator uses: no sparse factor is made) equals the one read from the sparse factor's selected inverse
    of the same system."""
    from fastmme.evaluate.laplace_gradient import (_inverse_at_rows_cholmod, _inverse_at_rows_schur,
                                                   _term_columns, laplace_gradient)
    obj = _objective("seeded", formula, "binomial", "schur")
    th = obj.theta_start() * 0.8 + np.where(obj.theta_lower() == 0, 0.05, 0.1)
    laplace_gradient(obj, th, np.array([-0.2, 0.5]))
    assert obj.alone._chol is None
    cols, R = _term_columns(obj, obj.alone.lam.blocks(th))
    schur = _inverse_at_rows_schur(obj.alone, th, cols, R)
    sparse = _inverse_at_rows_cholmod(obj.alone, th, cols, R)
    assert schur.shape == sparse.shape == (obj.y.shape[0], R, R)
    np.testing.assert_allclose(schur, sparse, rtol=1e-10, atol=1e-14)


def test_pirls_failing_at_the_start_of_the_one_stage_hands_over_to_lme4s_two_stages(monkeypatch):
    """A PirlsFailure at the one stage's start (θ's start, β at its joint mode) is the one failure caught
    there: lme4's two stages by BOBYQA fit instead, and the fit and its summary say so; any other error
    propagates."""
    import fastmme.optimize.glmm as og
    from fastmme.evaluate.laplace import PirlsFailure

    def fail(*args):
        raise PirlsFailure("PIRLS did not converge in 100 iterations at theta = [1.]: …")
    monkeypatch.setattr(og, "_one_stage_start", fail)
    cbpp = fastmme.datasets.load("cbpp")
    fit = fastmme.glmm("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp)
    said = "PIRLS failed at the start (PIRLS did not converge in 100 iterations at theta = [1.]): lme4's two stages"
    assert any(said in f for f in fit.fallbacks), fit.fallbacks
    assert fit.stage1 and fit.stage2 == "BOBYQA" and "fallback: " in str(fit)
    assert fit.minus2loglik == pytest.approx(184.0525637, abs=1e-6)

    def broken(*args):
        raise TypeError("a bug, not a numerical failure")
    monkeypatch.setattr(og, "_one_stage_start", broken)
    with pytest.raises(TypeError, match="a bug"):
        fastmme.glmm("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp)


def test_the_hessians_points_start_from_the_estimates_mode_and_not_from_each_other():
    """Inside starts_from(mode) every PIRLS starts from that mode: a point's value and gradient are the same
    bit for bit whatever was evaluated before it (the finite-difference Hessian's stencil)."""
    obj = _objective("seeded", "y ~ x + (1 + x | g) + (1 | h)", "binomial", "auto")
    th, be = np.array([0.9, 0.2, 0.5, 0.6]), np.array([-0.3, 0.6])
    centre = obj.pirls(th, be, precise=True)
    n0 = obj.n_pirls
    cold = laplace_gradient(obj, th * 1.01, be, precise=True)
    n_cold, n0 = obj.n_pirls - n0, obj.n_pirls
    with obj.starts_from(centre):
        first = laplace_gradient(obj, th * 1.01, be, precise=True)
        assert obj.n_pirls - n0 < n_cold                  # from the mode nearby: fewer iterations
        assert first[0] == pytest.approx(cold[0], rel=1e-13)
        laplace_gradient(obj, th * 0.7, be + 0.3, precise=True)
        again = laplace_gradient(obj, th * 1.01, be, precise=True)
    assert first[0] == again[0]
    np.testing.assert_array_equal(first[1], again[1])
    assert obj._start is None
