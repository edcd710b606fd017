"""GLMMs (issue 17): lme4's glmer references (tools/make_glmm_reference.R → tests/fixtures/lme4_glmm.json,
lme4 fitted with PIRLS converged tightly), a dense oracle of the Laplace approximation, and bad input.

Checks per reference model and nAGQ (0 and 1): the objective at three fixed points to 1e-8 (relative);
the optimum no worse than lme4's objective at lme4's optimum by 1e-6 (relative); θ and β within 1e-4
(absolute); the SEs within 1e-4 (relative), except the VerbAgg models' Hessian SEs: 5e-4, where ours
are stable to 1e-5 across difference steps from 3e-2 to 3e-3 of each parameter's scale and lme4's
differ from them by 3.6e-4 at the same optimum (to 1e-5)."""
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import gammaln

import fastmme
from fastmme import FastmmeError, FormulaError
from fastmme.evaluate.laplace import LaplaceObjective
from fastmme.spec.family import family

REF = json.loads((Path(__file__).parent / "fixtures" / "lme4_glmm.json").read_text())["models"]
CASES = [(name, k) for name in REF for k in (0, 1)]


def _vec(v):
    return np.atleast_1d(np.asarray(v, dtype=float))


@pytest.fixture(scope="module")
def fits():
    out = {}
    for name, m in REF.items():
        d = fastmme.datasets.load(m["data"])
        for k in (0, 1):
            out[(name, k)] = fastmme.glmm(m["formula"], d, family=m["family"], link=m["link"],
                                          weights=m.get("weights"), nAGQ=k)
    return out


def _in_lme4_order(fit, groups):
    """θ reordered as lme4 orders its terms (by decreasing number of levels)."""
    names = list(fit.theta_names)
    order, used = [], set()
    for g in groups:
        i = next(i for i, nm in enumerate(names) if nm.split(".")[0] == g and i not in used)
        used.add(i)
        order.append(i)
    return np.asarray(fit.theta)[order]


def _ref(name, k):
    return next(f for f in REF[name]["fits"] if f["nAGQ"] == k)


@pytest.mark.parametrize("name,k", CASES)
def test_objective_at_fixed_parameters_equals_lme4(fits, name, k):
    fit, ref = fits[(name, k)], _ref(name, k)
    obj = fit._objective
    groups = ref["theta_groups"] if isinstance(ref["theta_groups"], list) else [ref["theta_groups"]]
    names = [nm.split(".")[0] for nm in fit.theta_names]
    perm = []                                  # lme4's θ order → ours
    for g in names:
        perm.append(next(i for i, h in enumerate(groups) if h == g and i not in perm))
    for pt in ref["objective_at"]:
        th = _vec(pt["theta"])[perm]
        v = obj.laplace(th, _vec(pt["beta"])) if k else obj.laplace_beta_free(th)
        assert v == pytest.approx(pt["value"], rel=1e-8)


@pytest.mark.parametrize("name,k", CASES)
def test_optimum_and_estimates_match_lme4(fits, name, k):
    fit, ref = fits[(name, k)], _ref(name, k)
    assert fit.converged
    assert fit.minus2loglik <= ref["tight_at_optimum"] * (1 + 1e-6)
    groups = ref["theta_groups"] if isinstance(ref["theta_groups"], list) else [ref["theta_groups"]]
    np.testing.assert_allclose(_in_lme4_order(fit, groups), _vec(ref["theta"]), atol=1e-4)
    np.testing.assert_allclose(fit.beta, _vec(ref["beta"]), atol=1e-4)
    se = _vec(ref["se_hessian"] if k else ref["se_rx"])
    np.testing.assert_allclose(fit.beta_se, se, rtol=5e-4 if name.startswith("verbagg") and k else 1e-4)
    assert list(fit.x_names) == list(np.atleast_1d(ref["beta_names"]))
    assert fit.aic == pytest.approx(fit.minus2loglik + 2 * (len(fit.beta) + len(fit.theta)))
    assert fit.vcov_method.startswith("Hessian" if k else "weighted")


def test_deviance_is_lme4s_sum_of_squared_deviance_residuals(fits):
    fit = fits[("cbpp", 1)]
    assert fit.deviance == pytest.approx(73.4742835743, rel=2e-4)   # lme4's deviance(): at its own θ̂
    assert fit.deviance < fit.minus2loglik


def test_response_forms_agree():
    """cbind(k, n − k), k / n with weights = n, and the same binary data as 0/1 rows and as a factor."""
    d = fastmme.datasets.load("cbpp")
    a = fastmme.glmm("cbind(incidence, size - incidence) ~ period + (1 | herd)", d, nAGQ=0)
    b = fastmme.glmm("incidence / size ~ period + (1 | herd)", d, weights="size", nAGQ=0)
    assert a.minus2loglik == pytest.approx(b.minus2loglik, rel=1e-12)
    np.testing.assert_allclose(a.beta, b.beta, rtol=1e-10)
    rows = d.loc[d.index.repeat(d["size"])].reset_index(drop=True)
    rows["y"] = np.concatenate([np.r_[np.ones(k), np.zeros(n - k)] for k, n in zip(d.incidence, d["size"])])
    rows["yes"] = np.where(rows["y"] > 0, "Y", "N")
    c = fastmme.glmm("y ~ period + (1 | herd)", rows, nAGQ=0)
    e = fastmme.glmm("yes ~ period + (1 | herd)", rows, nAGQ=0)
    np.testing.assert_allclose(c.beta, a.beta, rtol=1e-7)
    np.testing.assert_allclose(c.theta, a.theta, rtol=1e-6)
    np.testing.assert_allclose(e.beta, c.beta, rtol=1e-12)
    # the Bernoulli and binomial likelihoods differ by the binomial coefficients only
    const = -2 * float(np.sum(gammaln(d["size"] + 1) - gammaln(d.incidence + 1)
                              - gammaln(d["size"] - d.incidence + 1)))
    assert c.minus2loglik + const == pytest.approx(a.minus2loglik, rel=1e-9)


# -- the dense oracle: the integrand's mode and Hessian computed densely --------------------------

def _dense_laplace(y, X, Z, Lam, fam, beta, w):
    """log|ΛᵀZᵀWZΛ + I| + ‖u‖² + aic at the mode of the penalised deviance, by dense Newton steps
    (Fisher scoring, W the working weights at the mode, as lme4's Laplace approximation)."""
    from scipy.optimize import minimize
    ZL = Z @ Lam

    def pdev(u):
        mu = fam.link.linkinv(X @ beta + ZL @ u)
        return float(np.sum(fam.dev_resids(y, mu, w)) + u @ u)

    def grad(u):
        eta = X @ beta + ZL @ u
        mu, me = fam.link.linkinv(eta), fam.link.mu_eta(eta)
        return -2 * ZL.T @ (w * (y - mu) * me / fam.variance(mu)) + 2 * u

    u = minimize(pdev, np.zeros(ZL.shape[1]), jac=grad, method="BFGS", options={"gtol": 1e-11}).x
    eta = X @ beta + ZL @ u
    mu, me = fam.link.linkinv(eta), fam.link.mu_eta(eta)
    W = w * me * me / fam.variance(mu)
    M = ZL.T @ (W[:, None] * ZL) + np.eye(ZL.shape[1])
    return np.linalg.slogdet(M)[1] + u @ u + fam.aic(y, mu, w)


@pytest.mark.parametrize("fam_name,link", [("binomial", "logit"), ("binomial", "probit"),
                                           ("binomial", "cloglog"), ("poisson", "log")])
def test_laplace_equals_the_dense_oracle(fam_name, link):
    rng = np.random.default_rng(11)
    n, J, H = 90, 9, 5
    g, h = rng.integers(0, J, n), rng.integers(0, H, n)
    x = rng.normal(size=n)
    X = np.column_stack([np.ones(n), x])
    eta = 0.2 + 0.5 * x + rng.normal(0, 0.7, J)[g] + rng.normal(0, 0.4, H)[h]
    fam = family(fam_name, link)
    if fam_name == "binomial":
        w = rng.integers(1, 6, n).astype(float)
        y = rng.binomial(w.astype(int), fam.link.linkinv(np.clip(eta, -3, 3))) / w
    else:
        w = np.ones(n)
        y = rng.poisson(np.exp(eta)).astype(float)
    terms = [fastmme.Term(g, z=np.column_stack([np.ones(n), x]), name="g"), fastmme.Term(h, name="h")]
    objs = [LaplaceObjective(y, X, terms, fam, weights=w, evaluator=e) for e in ("schur", "cholmod")]
    assert [o.joint.evaluator for o in objs] == ["schur", "cholmod"]
    Z = fastmme.dense.design_Z(terms)
    for theta, beta in [(np.array([0.8, 0.2, 0.3, 0.5]), np.array([0.1, 0.4])),
                        (np.array([0.3, -0.1, 0.6, 1.2]), np.array([-0.2, 0.7]))]:
        Lam = fastmme.dense.lambda_matrix(terms, theta)
        want = _dense_laplace(y, X, Z, Lam, fam, beta, w)
        for obj in objs:                        # both evaluators behind PIRLS
            assert obj.laplace(theta, beta) == pytest.approx(want, rel=1e-9)
            assert obj.laplace_beta_free(theta) == pytest.approx(objs[0].laplace_beta_free(theta), rel=1e-9)


# -- bad input ------------------------------------------------------------------------------

@pytest.fixture
def small():
    rng = np.random.default_rng(3)
    d = pd.DataFrame({"g": np.repeat(list("abcdef"), 5), "x": rng.normal(size=30), "n": rng.integers(2, 6, 30)})
    d["k"] = rng.binomial(d["n"], 0.5)
    return d


def test_bad_input_is_refused_with_a_message(small):
    d = small.copy()
    before = d.copy()
    with pytest.raises(FastmmeError, match="whole numbers"):
        fastmme.glmm("k ~ x + (1 | g)", d.assign(k=d.k + 0.5), family="poisson")
    with pytest.raises(FastmmeError, match="outside \\[0, 1\\]"):
        fastmme.glmm("k ~ x + (1 | g)", d)
    with pytest.raises(FastmmeError, match="negative successes or failures"):
        fastmme.glmm("cbind(k, n - k - 10) ~ x + (1 | g)", d)
    with pytest.raises(FastmmeError, match="weights must be positive"):
        fastmme.glmm("k / n ~ x + (1 | g)", d, weights=-d["n"].to_numpy())
    with pytest.raises(FastmmeError, match="family 'Gamma' is not supported"):
        fastmme.glmm("k ~ x + (1 | g)", d, family="Gamma")
    with pytest.raises(FastmmeError, match="link 'log' is not available for the binomial"):
        fastmme.glmm("k / n ~ x + (1 | g)", d, weights="n", link="log")
    with pytest.raises(FastmmeError, match="needs a single scalar random-effect term"):    # AGQ: tests/test_agq.py
        fastmme.glmm("k / n ~ x + (1 + x | g)", d, weights="n", nAGQ=7)
    with pytest.raises(FastmmeError, match="weights= with a cbind"):
        fastmme.glmm("cbind(k, n - k) ~ x + (1 | g)", d, weights="n")
    with pytest.raises(FormulaError, match="cbind\\(\\) needs two arguments"):
        fastmme.glmm("cbind(k) ~ x + (1 | g)", d)
    with pytest.raises(FastmmeError, match="REML= is lme4's spelling"):
        fastmme.glmm("k / n ~ x + (1 | g)", d, weights="n", REML=False)
    pd.testing.assert_frame_equal(d, before)


def test_predict_on_the_link_and_response_scales(small):
    d = small.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fastmme.glmm("cbind(k, n - k) ~ x + (1 | g)", d)
    eta = fit.predict(d)
    np.testing.assert_allclose(eta, fit.linear_predictor, rtol=1e-12)
    np.testing.assert_allclose(fit.predict(d, type="response"), fit.fitted, rtol=1e-12)
    pop = fit.predict(d, re=False)
    np.testing.assert_allclose(pop, fit.beta[0] + fit.beta[1] * d.x.to_numpy(), rtol=1e-12)
    with pytest.raises(FastmmeError, match="type must be"):
        fit.predict(d, type="probability")
    text = fit.summary()
    assert "Family: binomial  ( logit )" in text and "z value" in text and "Residual" not in text


RESIDUALS = json.loads((Path(__file__).parent / "fixtures" / "glmm_residuals.json").read_text())["models"]


@pytest.mark.parametrize("name", sorted(RESIDUALS))
def test_fitted_and_residuals_are_lme4s_series(name):
    """tools/make_glmm_residuals_reference.R: lme4's fitted(), residuals() (deviance) and its pearson and
    response types, at lme4's tightly converged optimum (ours agrees to about 1e-6 in θ)."""
    ref = RESIDUALS[name]
    data = fastmme.datasets.load("grouseticks" if name == "grouseticks" else "cbpp")
    fit = fastmme.glmm(ref["formula"], data, family=ref["family"], weights=ref["weights"] or None)
    for attr, key in [("fitted", "fitted"), ("residuals", "deviance"), ("pearson_residuals", "pearson"),
                      ("response_residuals", "response")]:
        series = getattr(fit, attr)
        assert isinstance(series, pd.Series) and series.index.equals(data.index), attr
        np.testing.assert_allclose(series.to_numpy()[:12], ref[key], rtol=2e-5, atol=1e-7, err_msg=attr)
    series = fit.fitted
    series.iloc[0] = -1.0                          # the caller's copy, not the fit's
    assert fit.fitted.iloc[0] == pytest.approx(ref["fitted"][0], rel=1e-5)


def test_conditional_variances_equal_the_dense_inverse():
    """condVar of a GLMM: Λ (ΛᵀZᵀWZΛ + I)⁻¹ Λᵀ at the mode, per level (a vector term and a scalar one)."""
    d = fastmme.datasets.load("VerbAgg").iloc[::3]
    fit = fastmme.glmm("r2 ~ Anger + Gender + (1 | id) + (1 + Gender | item)", d, nAGQ=0)
    obj = fit._objective
    mode = obj.pirls(fit.theta, fit.beta)
    fam = obj.family
    me = fam.link.mu_eta(mode["eta"])
    W = obj.pw * me ** 2 / fam.variance(mode["mu"])
    ZL = fastmme.dense.design_Z(obj.terms) @ fastmme.dense.lambda_matrix(obj.terms, fit.theta)
    Lam = fastmme.dense.lambda_matrix(obj.terms, fit.theta)
    C = Lam @ np.linalg.inv(ZL.T @ (W[:, None] * ZL) + np.eye(ZL.shape[1])) @ Lam.T
    q0 = 0
    for t, cv in zip(obj.terms, fit.cond_vars):
        r = t.r
        for j in range(t.n_levels):
            np.testing.assert_allclose(cv[j], C[q0 + j * r:q0 + (j + 1) * r, q0 + j * r:q0 + (j + 1) * r],
                                       rtol=1e-10, atol=1e-14)
        q0 += t.n_levels * r


def test_complete_separation_is_an_error_that_says_so():
    rng = np.random.default_rng(1)
    x = rng.normal(size=200)
    d = pd.DataFrame({"y": (x > 0).astype(float), "x": x, "g": rng.integers(0, 10, 200).astype(str)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(FastmmeError, match="complete separation"):
            fastmme.glmm("y ~ x + (1 | g)", d)


def test_summary_header_is_glmers_and_cond_var_does_not_reuse_old_blocks(fits):
    """glmer's summary prints −2 log L under "deviance"; the selected inverse belongs to its blocks."""
    fit = fits[("cbpp", 1)]
    lines = fit.summary().splitlines()
    at = next(i for i, ln in enumerate(lines) if ln.split()[:1] == ["AIC"])
    assert lines[at].split() == ["AIC", "BIC", "logLik", "deviance", "df.resid"] and lines[at - 1] == ""
    head = lines[at + 1].split()
    assert [float(v) for v in head[:4]] == pytest.approx([fit.aic, fit.bic, fit.loglik, fit.minus2loglik], abs=0.06)
    d = fastmme.datasets.load("grouseticks")
    f = "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION)"
    a = fastmme.glmm(f, d, family="poisson", nAGQ=0)
    obj = a._objective
    shifted = np.array(a.beta) + np.r_[1.0, np.zeros(len(a.beta) - 1)]
    obj.cond_var(a.theta, a.beta)                       # fills the caches at θ̂ with other blocks
    again = obj.cond_var(a.theta, shifted)
    fresh = fastmme.glmm(f, d, family="poisson", nAGQ=0)._objective.cond_var(a.theta, shifted)
    for x, y in zip(again, fresh):
        np.testing.assert_allclose(x, y, rtol=1e-12)


def test_anova_between_glmms_is_lme4s_likelihood_ratio_test(fits):
    from scipy.stats import chi2
    null, full = fits[("cbpp_null", 1)], fits[("cbpp", 1)]
    table = fastmme.anova(full, null)
    assert list(table.index) == ["m2", "m1"]                           # ordered by the number of parameters
    assert table.formulas == {"m2": null.formula, "m1": full.formula} and table.refitted == ()
    want = _ref("cbpp_null", 1)["tight_at_optimum"] - _ref("cbpp", 1)["tight_at_optimum"]
    assert table["Chisq"].iloc[1] == pytest.approx(want, rel=1e-6)
    assert table["Df"].iloc[1] == 3
    assert table["Pr(>Chisq)"].iloc[1] == pytest.approx(chi2.sf(want, 3), rel=1e-5)
    assert list(table["deviance"]) == pytest.approx([null.minus2loglik, full.minus2loglik])
    with pytest.raises(FastmmeError, match="same nAGQ"):
        fastmme.anova(full, fits[("cbpp_null", 0)])
    with pytest.raises(FastmmeError, match="one family and link"):
        fastmme.anova(full, fits[("cbpp_probit", 1)])
    with pytest.raises(FastmmeError, match="different data"):
        fastmme.anova(full, fits[("verbagg", 1)])
    lm = fastmme.lmm("Reaction ~ Days + (Days | Subject)", fastmme.datasets.load("sleepstudy"))
    with pytest.raises(FastmmeError, match="GLMMs with GLMMs"):
        fastmme.anova(full, lm)


def test_caterpillar_draws_a_glmms_conditional_modes(fits):
    import matplotlib
    matplotlib.use("Agg")
    fit = fits[("verbagg_slopes", 0)]
    fig = fastmme.plots.caterpillar(fit, "item")
    assert len(fig.axes) == 2                                   # (Intercept) and GenderM
    re = fit.ranef["item"]
    np.testing.assert_array_equal(re.attrs["cond_var"], fit.cond_vars[1])
    matplotlib.pyplot.close(fig)


@pytest.mark.parametrize("fam_name", ["binomial", "poisson"])
def test_the_assembly_in_level_order_gives_the_same_objective(fam_name, monkeypatch):
    """Large designs assemble in the order of the terms' levels (ASSEMBLY_ORDER_MIN_ROWS); the objective,
    the modes and β at nAGQ = 0 are those of the caller's order, to rounding."""
    import fastmme.evaluate.laplace as lp
    rng = np.random.default_rng(8)
    n = 1500
    g, h = rng.integers(0, 90, n), rng.integers(0, 15, n)
    x = rng.normal(size=n)
    eta = 0.2 + 0.4 * x + rng.normal(0, 0.7, 90)[g] + rng.normal(0, 0.4, 15)[h]
    y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float) if fam_name == "binomial" else \
        rng.poisson(np.exp(eta)).astype(float)
    X = np.column_stack([np.ones(n), x])
    z = rng.normal(size=(n, 2))
    terms = [fastmme.Term(g, z, name="g"), fastmme.Term(h, name="h")]
    plain = LaplaceObjective(y, X, terms, family(fam_name))
    monkeypatch.setattr(lp, "ASSEMBLY_ORDER_MIN_ROWS", 0)
    ordered = LaplaceObjective(y, X, terms, family(fam_name))
    assert plain._order is None and ordered._order is not None
    th, be = np.array([0.7, 0.1, 0.5, 0.4]), np.array([0.1, 0.3])
    a, b = plain.pirls(th, be), ordered.pirls(th, be)
    assert b["value"] == pytest.approx(a["value"], rel=1e-12)
    np.testing.assert_allclose(b["eta"], a["eta"], rtol=1e-9, atol=1e-11)
    a, b = plain.pirls(th), ordered.pirls(th)
    assert b["value"] == pytest.approx(a["value"], rel=1e-12)
    np.testing.assert_allclose(b["beta"], a["beta"], rtol=1e-9)


GLMM_SUMMARIES = json.loads((Path(__file__).parent / "fixtures" / "glmm_summaries.json").read_text())["summaries"]


@pytest.mark.parametrize("name", sorted(GLMM_SUMMARIES))
def test_the_glmm_summary_prints_as_lme4s(name):
    """From the Family line to the correlation of the fixed effects, GlmmFit.summary() is lme4's
    print(summary(glmer(…))) (tools/make_glmm_summary_reference.R, lme4 1.1-31), line by line: the
    Data: line, the AIC table, the scaled (Pearson) residuals, the random effects, the z-tests with
    their p-value formats and stars, the abbreviated correlation matrix."""
    from test_summary import _same_print
    case = GLMM_SUMMARIES[name]
    d = fastmme.datasets.load(case["data"])            # named d, as in the R script
    fit = fastmme.glmm(case["formula"], d, family=case["family"], link=case["link"])
    lines = fit.summary().splitlines()
    r = [ln.rstrip().replace("\u2018", "'").replace("\u2019", "'") for ln in case["out"]]
    r = [ln for ln in r[r.index(next(ln for ln in r if ln.startswith(" Family:"))):] if not ln.startswith("Control:")]
    mine = lines[lines.index(next(ln for ln in lines if ln.startswith(" Family:"))):][:len(r)]
    bad = [(a, b) for a, b in zip(r, mine) if not _same_print(a, b)]
    assert not bad and len(mine) == len(r), bad
