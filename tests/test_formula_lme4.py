"""lme4 formula fits: every syntax form against lme4 1.1-31 and lmerTest (tests/fixtures/lme4_formulas.json).

Run `python tests/test_formula_lme4.py` for the table of worst relative differences per form.
"""
import numpy as np
import pytest

import fastmme
from formula_cases import REF, dataset, fitted

KEYS = sorted(REF["fits"])


def L(v):
    """jsonlite unboxes one-element vectors: make every vector a list again."""
    return v if isinstance(v, list) else [v]


def rel(a, b, scale=None):
    a, b = np.asarray(a, float), np.asarray(b, float)
    s = scale if scale is not None else max(np.max(np.abs(b)), 1e-300)
    return float(np.max(np.abs(a - b)) / s)


def stopped_early(fit, e):
    """lme4 stopped short: fastmme's criterion is lower at its θ̂ than at lme4's, beyond rounding."""
    by_name = dict(zip(L(e["theta_names"]), L(e["theta"])))
    lme4_theta = [by_name[n] for n in fit.theta.index]
    return fit.model.deviance(lme4_theta) - fit.model.deviance(fit.theta.to_numpy()) > 1e-13 * abs(fit.deviance)


def compare(fit, e):
    d = {}
    d["objective"] = (fit.deviance - e["objective"]) / abs(e["objective"])
    names = list(np.atleast_1d(e["fixef_names"]))
    assert list(fit.fixef.index) == names
    d["fixef"] = rel(fit.fixef.to_numpy(), [e["fixef"][n] for n in names])
    V = np.atleast_2d(np.array(e["vcov"], float))
    d["vcov"] = rel(fit.vcov.to_numpy(), V)
    d["sigma"] = rel(fit.sigma, e["sigma"])
    vc = e["varcorr"]
    ours = {(r.grp, r.var1 if isinstance(r.var1, str) else None, r.var2 if isinstance(r.var2, str) else None): r.vcov
            for r in fit.varcorr.itertuples()}
    theirs = {}
    for g, v1, v2, val in zip(L(vc["grp"]), L(vc["var1"]), L(vc["var2"]), L(vc["vcov"])):
        theirs[(g, v1, v2)] = val
    # lme4 names the second term of (x || g) "g.1"; fastmme keeps it as one diagonal term named g
    if set(theirs) != set(ours):
        theirs = {(g.split(".")[0] if g != "Residual" else g, v1, v2): v for (g, v1, v2), v in theirs.items()}
    assert set(theirs) == set(ours), (sorted(theirs), sorted(ours))
    d["varcomp"] = max(rel(ours[k], theirs[k], scale=max(abs(theirs[k]), 1e-6 * e["sigma"] ** 2)) for k in theirs)
    th = e["theta_names"] if isinstance(e["theta_names"], list) else [e["theta_names"]]
    d["theta"] = rel([fit.theta[n] for n in th], np.atleast_1d(e["theta"]), scale=1.0)
    blup = cond = coef = 0.0
    for g, re in e["ranef"].items():
        ours_df = fit.ranef[g]
        lv = [str(x) for x in ours_df.index]
        idx = [lv.index(str(x)) for x in L(re["levels"])]
        cols = [list(ours_df.columns).index(c) for c in L(re["columns"])]
        vals = np.array(re["values"], float).reshape(len(idx), -1)
        blup = max(blup, rel(ours_df.to_numpy()[np.ix_(idx, cols)], vals, scale=max(np.abs(vals).max(), 1e-3 * e["sigma"])))
        ce = e["coef"][g]
        ours_c = fit.coef[g]
        assert list(ours_c.columns) == L(ce["columns"])
        cvals = np.array(ce["values"], float).reshape(len(idx), -1)
        coef = max(coef, rel(ours_c.to_numpy()[idx], cvals))
    d["blups"], d["coef"] = blup, coef
    d["loglik"] = rel(fit.loglik, e["loglik"])
    d["aic"], d["bic"] = rel(fit.aic, e["aic"]), rel(fit.bic, e["bic"])
    d["resid_quantiles"] = rel(np.quantile(fit.scaled_residuals, [0, .25, .5, .75, 1]), e["resid_quantiles"])
    d["fitted"] = rel(fit.fitted.to_numpy()[:10], e["fitted_head"])
    if "satterthwaite" in e:
        s = e["satterthwaite"]
        ct = fit.coef_table
        d["satt_df"] = rel(ct["df"].to_numpy(), np.atleast_1d(s["df"]))
        # tiny p-values amplify df differences (p ≈ 1e-17 moves 1e-3 for df 1e-6 apart): compare log p
        d["satt_p"] = rel(np.log(ct["Pr(>|t|)"].to_numpy()), np.log(np.atleast_1d(s["p"])))
    return d


@pytest.mark.parametrize("key", KEYS)
def test_formula_fit_matches_lme4(key):
    e = REF["fits"][key]
    fit = fitted(key)
    assert fit.nobs == e["nobs"] and fit.n_dropped == e["n_dropped"]
    assert fit.ngroups == {k: int(v) for k, v in e["ngroups"].items()}
    assert fit.singular == e["singular"] and fit.converged
    d = compare(fit, e)
    assert d.pop("objective") <= 1e-6
    tol = 1e-3 if stopped_early(fit, e) else 1e-4
    bad = {k: v for k, v in d.items() if v > tol}
    assert not bad, bad


@pytest.mark.parametrize("key", ["slopes", "crossed", "nested", "cake", "categorical_slope", "missing_values"])
def test_formula_fit_at_lme4_theta_matches_to_1e8(key):
    """The same comparisons at lme4's θ̂: formula encoding and algebra, without the optimiser."""
    e = REF["fits"][key]
    fit = fitted(key)
    by_name = dict(zip(L(e["theta_names"]), L(e["theta"])))     # lme4 orders terms by level count
    theta = [by_name[n] for n in fit.theta.index]
    at = fastmme.MixedFit(core=fit.model.at(theta), design=fit.design, model=fit.model,
                          formula=fit.formula)
    d = compare(at, e)
    d.pop("objective")
    for k in ("satt_df", "satt_p"):      # both sides differentiate numerically: ~1e-5 agreement
        assert d.pop(k, 0.0) < 5e-5, k
    bad = {k: v for k, v in d.items() if v > 1e-8}
    assert not bad, bad


@pytest.mark.parametrize("key", sorted(REF["profile"]))
def test_profile_confint_matches_lme4(key):
    """lme4 interpolates the profile with splines; fastmme solves ζ(v) = ±z: agreement ~1e-5 of the width."""
    pr = REF["profile"][key]
    ci = fitted(key).confint("profile")
    assert list(ci.index) == list(np.atleast_1d(pr["names"]))
    width = np.array(pr["upper"]) - np.array(pr["lower"])
    assert np.max(np.abs(ci.iloc[:, 0].to_numpy() - pr["lower"]) / width) < 5e-4
    assert np.max(np.abs(ci.iloc[:, 1].to_numpy() - pr["upper"]) / width) < 5e-4
    wald = fitted(key).confint("wald")
    lo = np.array([np.nan if v is None else v for v in np.atleast_1d(pr["wald_lower"])], float)
    ok = np.isfinite(lo)
    assert list(wald.index) == list(np.atleast_1d(pr["wald_names"]))
    np.testing.assert_allclose(wald.iloc[:, 0].to_numpy()[ok], lo[ok], rtol=1e-5)
    assert np.all(np.isnan(wald.iloc[:, 0].to_numpy()[~ok]))


def test_anova_matches_lme4():
    a = REF["anova"]
    d = fastmme.datasets.load("sleepstudy")
    m0 = fastmme.lmm("Reaction ~ Days + (1 | Subject)", d)
    m1 = fastmme.lmm("Reaction ~ Days + (Days | Subject)", d)
    tab = fastmme.anova(m1, m0)            # order is by number of parameters, as lme4
    np.testing.assert_array_equal(tab["npar"], a["npar"])
    for ours, theirs in [("AIC", "aic"), ("BIC", "bic"), ("logLik", "loglik"), ("deviance", "deviance")]:
        np.testing.assert_allclose(tab[ours], a[theirs], rtol=1e-9)
    assert tab["Chisq"].iloc[1] == pytest.approx(a["chisq"][1], rel=1e-7)
    assert tab["Df"].iloc[1] == a["df"][1]
    assert tab["Pr(>Chisq)"].iloc[1] == pytest.approx(a["p"][1], rel=1e-5)


if __name__ == "__main__":
    print("| form | formula | objective vs lme4 | fixef | vcov | σ | var. comp. | BLUPs | coef | Satterthwaite df |")
    print("|---" * 10 + "|")
    for key in KEYS:
        e = REF["fits"][key]
        d = compare(fitted(key), e)
        print(f"| {key} | `{e['formula']}` | {d['objective']:.1e} | {d['fixef']:.1e} | {d['vcov']:.1e} | "
              f"{d['sigma']:.1e} | {d['varcomp']:.1e} | {d['blups']:.1e} | {d['coef']:.1e} | "
              + (f"{d['satt_df']:.1e} |" if "satt_df" in d else "— |"))


def test_anova_prints_as_lme4s():
    """fastmme.anova(m0, m1) printed is lme4's print(anova(m0, m1)) (tools/make_rformat_reference.R), with
    lme4's refitting note as a line of the table (no Data: line), and the REML fits named as refitted."""
    import json
    from pathlib import Path
    r = json.loads((Path(__file__).parent / "fixtures" / "rformat.json").read_text())["anova"]
    r = [ln.rstrip().replace("\u2018", "'").replace("\u2019", "'") for ln in r if not ln.startswith("Data:")]
    d = fastmme.datasets.load("sleepstudy")
    m0 = fastmme.lmm("Reaction ~ Days + (1 | Subject)", d)
    m1 = fastmme.lmm("Reaction ~ Days + (Days | Subject)", d)
    tab = fastmme.anova(m1, m0, names=["m1", "m0"])
    lines = repr(tab).splitlines()
    assert lines[0] == "refitted with ML (instead of REML): m0, m1"
    assert lines[1:] == r
    assert list(tab.index) == ["m0", "m1"] and tab.formulas["m0"] == "Reaction ~ Days + (1 | Subject)"
    assert list(fastmme.anova(m0, m1).index) == ["m1", "m2"]           # default labels: the call's order
    with pytest.raises(fastmme.FastmmeError, match="one distinct label per model"):
        fastmme.anova(m0, m1, names=["a", "a"])
