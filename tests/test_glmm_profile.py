"""GLMM confidence intervals (issue 17): confint("wald" | "profile", parm=) against lme4's confint of glmer fits
(tools/make_glmm_profile_reference.R → tests/fixtures/lme4_glmm_profile.json), and an independent check of
profile ends: ζ there, recomputed by scipy's Nelder–Mead over the other parameters, is ±z.

lme4 interpolates ζ by splines through its profile points; fastmme solves ζ(v) = ±z.  The two agree to
1e-4 of the interval's width on cbpp, except where lme4's points are far apart: grouseticks' YEAR97
upper end, where lme4's profile has ζ = 1.113 at −0.701 and 2.459 at −0.332 and its spline puts 1.96 at
−0.391.  ζ(−0.39) is 2.2508 and ζ(−0.47) is 1.9607 both by fastmme and by glmer refits with YEAR97 as an
offset (lme4 1.1-31), so the end is −0.470."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

import fastmme
from fastmme import FastmmeError

FIX = Path(__file__).parent / "fixtures"
REF = json.loads((FIX / "lme4_glmm_profile.json").read_text())["models"]
DESIGNS = json.loads((FIX / "lme4_glmm_designs.json").read_text())["designs"]


def _fit(name):
    m = REF[name]
    d = fastmme.datasets.load(m["dataset"]) if m.get("dataset") else pd.DataFrame(DESIGNS[m["design"]]["data"])
    return fastmme.glmm(m["formula"], d, family=m["family"], link=m["link"], nAGQ=m["nAGQ"])


def _check(ci, name, rows, tol):
    m = REF[name]
    idx = [m["names"].index(r) for r in rows]
    assert list(ci.index) == rows
    width = np.array(m["upper"])[idx] - np.array(m["lower"])[idx]
    np.testing.assert_array_less(np.abs(ci.iloc[:, 0].to_numpy() - np.array(m["lower"])[idx]) / width, tol)
    np.testing.assert_array_less(np.abs(ci.iloc[:, 1].to_numpy() - np.array(m["upper"])[idx]) / width, tol)


def _zeta_by_nelder_mead(fit, row, v):
    """ζ at v for one parameter of a scalar-term fit (sd, then β): the others by Nelder–Mead."""
    obj, q = fit._objective, fit.nAGQ
    names = ["sd"] + list(fit.x_names)
    i = names.index(row)
    hat = np.concatenate([fit.theta, fit.beta])
    base = obj.agq(np.array(fit.theta), np.array(fit.beta), q)

    def f(x):
        par = np.insert(x, i, v)
        return obj.agq(np.abs(par[:1]), par[1:], q)
    r = optimize.minimize(f, np.delete(hat, i), method="Nelder-Mead",
                          options=dict(xatol=1e-9, fatol=1e-11, maxfev=20000))
    return np.sign(v - hat[i]) * np.sqrt(max(r.fun - base, 0.0))


def test_cbpp_profile_and_wald_equal_lme4():
    fit = _fit("cbpp")
    ci = fit.confint("profile")
    _check(ci, "cbpp", REF["cbpp"]["names"], 2e-4)
    z = stats.norm.ppf(0.975)
    assert _zeta_by_nelder_mead(fit, "period4", ci.loc["period4"].iloc[1]) == pytest.approx(z, abs=1e-4)
    wald = fit.confint("wald")
    m = REF["cbpp"]
    assert list(wald.index) == m["wald_names"]
    lo = np.array([np.nan if v is None else v for v in m["wald_lower"]], float)
    ok = np.isfinite(lo)
    np.testing.assert_allclose(wald.iloc[:, 0].to_numpy()[ok], lo[ok], rtol=1e-5)
    assert np.all(np.isnan(wald.iloc[:, 0].to_numpy()[~ok]))
    assert list(fit.confint("wald", parm="beta_").index) == m["wald_names"][1:]


def test_profile_of_the_quadrature_fit():
    _check(_fit("cbpp_agq5").confint("profile", parm="theta_"), "cbpp_agq5", ["sd_(Intercept)|herd"], 1e-5)


def test_profile_where_lme4s_spline_is_coarse():
    fit = _fit("grouseticks_brood")
    ci = fit.confint("profile", parm=["sd_(Intercept)|BROOD", "YEAR97"])
    assert ci.loc["sd_(Intercept)|BROOD"].to_numpy() == pytest.approx(
        [REF["grouseticks_brood"]["lower"][0], REF["grouseticks_brood"]["upper"][0]], abs=1e-4)
    lo, hi = ci.loc["YEAR97"]
    assert lo == pytest.approx(REF["grouseticks_brood"]["lower"][3], abs=1e-4)
    z = stats.norm.ppf(0.975)
    assert _zeta_by_nelder_mead(fit, "YEAR97", hi) == pytest.approx(z, abs=1e-4)
    assert _zeta_by_nelder_mead(fit, "YEAR97", REF["grouseticks_brood"]["upper"][3]) > z + 0.2   # lme4's end


def test_profile_of_a_correlated_vector_term():
    fit = _fit("binom_slopes")
    _check(fit.confint("profile", parm="theta_"), "binom_slopes",
           ["sd_(Intercept)|g", "cor_x.(Intercept)|g", "sd_x|g"], 1e-3)


def test_profile_refusals():
    fit = fastmme.glmm("cbind(incidence, size - incidence) ~ period + (1 | herd)", fastmme.datasets.load("cbpp"),
                       nAGQ=0)
    with pytest.raises(FastmmeError, match="needs a fit with nAGQ ≥ 1"):
        fit.confint("profile")
    with pytest.raises(FastmmeError, match="no parameter 'period9'"):
        fit.confint("wald", parm=["period9"])
    with pytest.raises(FastmmeError, match="method must be 'wald' or 'profile'"):
        fit.confint("boot")
