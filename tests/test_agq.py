"""Adaptive Gauss–Hermite quadrature (glmer's nAGQ > 1, issue 17): lme4's references
(tools/make_agq_reference.R → tests/fixtures/lme4_agq.json: cbpp at nAGQ 1, 2, 5, 9, 25, cbpp probit,
mlmRev's Contraception at 1 and 7, grouseticks with one Poisson term at 1 and 5), a third oracle that
integrates each level's likelihood by adaptive scipy quadrature, and the refusals.

lme4's objective at nAGQ > 1 leaves out −2 log L of the saturated model (`omitted` in the fixture: 0 for
Contraception's binary response); ours keeps it, so −2 log L is comparable across nAGQ.  Checks: the
objective at three fixed (θ, β) to 1e-8 (relative); the optimum no worse than lme4's by 1e-6 (relative);
θ and β within 1e-4; the Hessian SEs within 1e-4 (relative); lme4's deviance() to 1e-6 (relative)."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

import fastmme
from fastmme import FastmmeError
from fastmme.evaluate.laplace import LaplaceObjective, gauss_hermite
from fastmme.formula.frame import build_design
from fastmme.formula.glm_response import glm_response
from fastmme.spec.family import family

REF = json.loads((Path(__file__).parent / "fixtures" / "lme4_agq.json").read_text())["models"]
CASES = [(name, f["nAGQ"]) for name, m in REF.items() for f in m["fits"]]


def _ref(name, q):
    return next(f for f in REF[name]["fits"] if f["nAGQ"] == q)


@pytest.fixture(scope="module")
def fits():
    return {(name, q): fastmme.glmm(REF[name]["formula"], fastmme.datasets.load(REF[name]["data"]),
                                    family=REF[name]["family"], link=REF[name]["link"], nAGQ=q)
            for name, q in CASES}


def _objective(name):
    m = REF[name]
    fam = family(m["family"], m["link"])
    f2, df, w = glm_response(m["formula"], fastmme.datasets.load(m["data"]), None, fam)
    d = build_design(f2, df, weights=w, sparse_fixed=False)
    return LaplaceObjective(d.y, d.X, d.terms, fam, weights=d.weights, offset=d.offset, x_names=d.x_names)


@pytest.mark.parametrize("name,q", CASES)
def test_objective_at_fixed_parameters_equals_lme4(name, q):
    obj, f = _objective(name), _ref(name, q)
    for pt in f["objective_at"]:
        got = obj.agq(np.atleast_1d(pt["theta"]), np.asarray(pt["beta"]), q)
        assert got == pytest.approx(pt["value"] + f["omitted"], rel=1e-8)


@pytest.mark.parametrize("name,q", CASES)
def test_fit_equals_lme4(fits, name, q):
    fit, f = fits[(name, q)], _ref(name, q)
    want = f["objective"] + f["omitted"]
    assert fit.nAGQ == q and fit.converged
    assert fit.minus2loglik <= want + 1e-6 * abs(want)
    assert fit._objective.agq(fit.theta, fit.beta, q) == pytest.approx(fit.minus2loglik, rel=1e-12)
    np.testing.assert_allclose(fit.theta, np.atleast_1d(f["theta"]), atol=1e-4)
    np.testing.assert_allclose(fit.beta, f["beta"], atol=1e-4)
    np.testing.assert_allclose(fit.beta_se, f["se_hessian"], rtol=1e-4)
    assert fit.vcov_method.startswith("Hessian")
    assert fit.deviance == pytest.approx(f["deviance"], rel=1e-6)


def test_one_node_is_the_laplace_objective_and_more_nodes_converge():
    obj, f = _objective("cbpp"), _ref("cbpp", 9)
    th, b = np.atleast_1d(f["theta"]), np.asarray(f["beta"])
    one_node = obj.quadrature(th, obj.pirls(th, b), np.array([0.0]), np.array([1.0]))   # the formula, K = 1
    assert one_node == pytest.approx(obj.laplace(th, b), rel=1e-13)
    vals = [obj.agq(th, b, q) for q in (3, 9, 25, 50)]
    assert abs(vals[1] - vals[2]) < 1e-4 and abs(vals[2] - vals[3]) < 1e-10
    x, w = gauss_hermite(12)
    assert np.sum(w) == pytest.approx(1.0, rel=1e-14) and np.sum(w * x ** 4) == pytest.approx(3.0, rel=1e-12)


def _synthetic(kind):
    """Designs the references do not cover: (0 + x | g) (z ≠ 1), an offset, prior weights, and levels with
    a single row."""
    rng = np.random.default_rng(11)
    g = np.concatenate([np.repeat(np.arange(8), 6), [8, 9, 10]])         # levels 8-10: one row each
    n = g.shape[0]
    x, z = rng.normal(size=n), rng.normal(2.0, 1.5, n)
    d = pd.DataFrame({"x": x, "z": z, "g": [f"g{j}" for j in g], "off": rng.normal(0, 0.3, n)})
    if kind == "poisson":
        d["cnt"] = rng.poisson(np.exp(0.5 + 0.3 * x + 0.4 * z * rng.normal(size=11)[g] + d["off"]))
        d["w"] = rng.uniform(0.5, 2.0, n)
        formula, weights = "cnt ~ x + offset(off) + (0 + z | g)", "w"
    else:
        d["n"] = rng.integers(1, 9, n)
        d["p"] = rng.binomial(d["n"], 1 / (1 + np.exp(-(0.2 + 0.5 * x + 0.3 * z * rng.normal(size=11)[g])))) / d["n"]
        formula, weights = "p ~ x + offset(off) + (0 + z | g)", "n"
    fam = family(kind, None)
    f2, df, w = glm_response(formula, d, weights, fam)
    des = build_design(f2, df, weights=w, sparse_fixed=False)
    return LaplaceObjective(des.y, des.X, des.terms, fam, weights=des.weights, offset=des.offset, x_names=des.x_names)


def _integral(obj, th, beta, link):
    """−2 Σ_j log ∫ Π_(i∈j) f(y_i | η_i + λ z_i v)^(a_i) φ(v) dv by scipy's adaptive quadrature, level by level
    (f the binomial probability of round(a y) in a trials, or the Poisson's with prior weights a)."""
    t = obj.terms[0]
    eta0 = obj.offset + obj.X @ beta
    z, codes, y, a = t.zmatrix()[:, 0], t.codes, obj.y, obj.pw
    total = 0.0
    for j in range(t.n_levels):
        rows = codes == j
        yj, aj, ej, zj = y[rows], a[rows], eta0[rows], z[rows]
        if obj.family.name == "poisson":
            def logf(v):
                return np.sum(aj * stats.poisson.logpmf(yj, np.exp(ej + th[0] * zj * v)))
        else:
            inv = (lambda e: 1 / (1 + np.exp(-e))) if link == "logit" else stats.norm.cdf

            def logf(v):
                return np.sum(stats.binom.logpmf(np.round(yj * aj), aj, inv(ej + th[0] * zj * v)))
        peak = max(logf(v) for v in np.linspace(-6, 6, 121))
        val, _ = integrate.quad(lambda v: np.exp(logf(v) - peak) * stats.norm.pdf(v), -12, 12,
                                epsabs=0, epsrel=1e-13, limit=200)
        total += -2.0 * (np.log(val) + peak)
    return total


@pytest.mark.parametrize("name,link", [("cbpp", "logit"), ("cbpp_probit", "probit"), ("grouseticks_brood", "log")])
def test_many_nodes_equal_the_integral_by_adaptive_quadrature(name, link):
    """The third oracle, on the reference models near lme4's optimum."""
    obj = _objective(name)
    f = _ref(name, max(q for n, q in CASES if n == name))
    th, beta = np.atleast_1d(f["theta"]) * 1.2, np.asarray(f["beta"]) + 0.05
    total = _integral(obj, th, beta, link)
    assert obj.agq(th, beta, 40) == pytest.approx(total, rel=1e-9)
    assert abs(obj.agq(th, beta, 1) - total) > 1e-6 * abs(total)       # the Laplace value is not the integral


@pytest.mark.parametrize("kind", ["poisson", "binomial"])
@pytest.mark.parametrize("theta", [0.0, 0.7, 1.5])
def test_quadrature_with_a_slope_term_offsets_weights_and_single_rows(kind, theta):
    obj = _synthetic(kind)
    th, beta = np.array([theta]), np.array([0.4, 0.2])
    total = _integral(obj, th, beta, "logit")
    assert obj.agq(th, beta, 40) == pytest.approx(total, rel=1e-7)     # the 40-node rule's own error at θ = 1.5
    if theta == 0.0:                                                    # no random effect: every rule is exact
        assert obj.agq(th, beta, 5) == pytest.approx(obj.laplace(th, beta), rel=1e-13)


def test_summary_names_the_quadrature(fits):
    s = fits[("contraception", 7)].summary()
    assert "(Adaptive Gauss-Hermite Quadrature, nAGQ = 7)" in s
    assert "adaptive Gauss–Hermite quadrature with 7 nodes per level" in s


@pytest.mark.parametrize("formula,match", [
    ("r2 ~ Anger + (1 | id) + (1 | item)", r"single scalar random-effect term.*\(1 \| id\), \(1 \| item\)"),
    ("r2 ~ Anger + (1 + Gender | item)", r"single scalar random-effect term"),
])
def test_agq_refuses_models_with_more_than_one_scalar_term(formula, match):
    d = fastmme.datasets.load("VerbAgg")
    with pytest.raises(FastmmeError, match=match):
        fastmme.glmm(formula, d, family="binomial", nAGQ=5)


@pytest.mark.parametrize("bad", [-1, 101, 2.5, True, "7"])
def test_agq_refuses_bad_numbers_of_nodes(bad):
    d = fastmme.datasets.load("cbpp")
    with pytest.raises(FastmmeError, match="nAGQ must be an integer from 0 to 100"):
        fastmme.glmm("cbind(incidence, size - incidence) ~ period + (1 | herd)", d, family="binomial", nAGQ=bad)


def test_a_whole_float_number_of_nodes_is_taken_as_r_passes_it():
    from fastmme.evaluate.laplace import check_nagq
    assert check_nagq(7.0) == 7 and isinstance(check_nagq(np.int64(5)), int)
