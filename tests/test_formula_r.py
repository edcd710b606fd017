"""R's formula language in fastmme.lmm against lme4 (tests/fixtures/lme4_r_syntax.json, made by
tools/make_formula_r_reference.R): I(x^2), factor(), offset(), poly(), scale(), log/exp/sqrt,
as.numeric, -1/+0, interaction names and order, crossing, nesting; fits and predictions on new data.

Run `python tests/test_formula_r.py` for the table of worst relative differences per idiom.
"""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fastmme

REF = json.loads((Path(__file__).parent / "fixtures" / "lme4_r_syntax.json").read_text())
KEYS = sorted(REF["fits"])


def L(v):
    """jsonlite unboxes one-element vectors: make every vector a list again."""
    return v if isinstance(v, list) else [v]


def dataset(name):
    """The data frames of the R script, derived the same way."""
    if name == "cake":
        return fastmme.datasets.load("cake")
    d = fastmme.datasets.load("sleepstudy")
    if name == "sleep_off":
        return d.assign(o=np.sin(d.Days))
    if name == "sleep_lgl":
        return d.assign(late=d.Days > 4)
    if name == "sleep_phase":
        return d.assign(phase=np.where(d.Days < 5, "early", "late"))
    if name == "sleep_na":
        d = d.astype({"Days": float})
        d.loc[[2, 49], "Reaction"] = np.nan       # R's rows 3 and 50
        d.loc[99, "Days"] = np.nan
    return d


_CACHE = {}


def fitted(key):
    if key not in _CACHE:
        e = REF["fits"][key]
        _CACHE[key] = fastmme.lmm(e["formula"], dataset(e["data"]), reml=e["reml"])
    return _CACHE[key]


def newdata(key):
    return pd.DataFrame({k: L(v) for k, v in REF["fits"][key]["newdata_columns"].items()})


def rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def at_lme4_theta(key):
    """The fit at lme4's θ̂: the formula's columns and the algebra, without the optimiser."""
    e, fit = REF["fits"][key], fitted(key)
    by_name = dict(zip(L(e["theta_names"]), L(e["theta"])))
    theta = [by_name[n] for n in fit.theta.index]
    return fastmme.MixedFit(core=fit.model.at(theta), design=fit.design, model=fit.model, formula=fit.formula)


def lme4_stopped_early(key) -> bool:
    """fastmme's criterion is lower at its θ̂ than at lme4's, beyond rounding."""
    fit = fitted(key)
    return at_lme4_theta(key).deviance - fit.deviance > 1e-13 * abs(fit.deviance)


def differences(key, fit=None) -> dict:
    e, fit = REF["fits"][key], fit or fitted(key)
    new = newdata(key)
    return {"objective": abs(fit.deviance - e["objective"]) / abs(e["objective"]),
            "fixef": rel(fit.fixef.to_numpy(), L(e["fixef"])),
            "sigma": rel(fit.sigma, e["sigma"]),
            "fitted": rel(fit.fitted.to_numpy()[:12], L(e["fitted_head"])),
            "predict_re": rel(fit.predict(new), L(e["predict_re"])),
            "predict_fixed": rel(fit.predict(new, re=False), L(e["predict_fixed"]))}


@pytest.mark.parametrize("key", KEYS)
def test_r_formula_fit_and_predict_match_lme4(key):
    e, fit = REF["fits"][key], fitted(key)
    assert fit.nobs == e["nobs"]
    assert list(fit.fixef.index) == L(e["fixef_names"])           # R's names, in R's order
    assert {g: list(re.columns) for g, re in fit.ranef.items()} == {g: L(v) for g, v in e["z_names"].items()}
    d = differences(key)
    assert d.pop("objective") < 1e-8, key
    tol = 1e-4 if lme4_stopped_early(key) else 1e-6
    bad = {k: v for k, v in d.items() if v > tol}
    assert not bad, bad


@pytest.mark.parametrize("key", KEYS)
def test_r_formula_at_lme4_theta_matches_to_1e9(key):
    """At lme4's θ̂ every number (β, σ, fitted values, both predictions on new data) agrees to rounding:
    the columns, their names, the transforms' state on new data and the offsets are R's."""
    d = differences(key, at_lme4_theta(key))
    bad = {k: v for k, v in d.items() if v > 1e-9}
    assert not bad, bad


# ---- prediction refuses what it cannot know --------------------------------------------------------
def test_unseen_fixed_level_is_refused_as_lme4_does():
    """lme4 refuses a level of a fixed factor the fit did not have (with "non-conformable arguments");
    formulaic only warns and codes the row as the baseline recipe A."""
    cake = fastmme.datasets.load("cake")
    fit = fastmme.lmm("angle ~ recipe + (1 | replicate)", cake)
    assert REF["refusals"]["new_fixed_level"] == "non-conformable arguments"
    new = pd.DataFrame({"recipe": ["A", "D", "E"], "replicate": ["1", "1", "2"]})
    for re in (True, False):
        with pytest.raises(fastmme.FastmmeError, match=r"level\(s\) D, E of recipe \(column 'recipe'\) that the fit "
                                                       r"did not have \(it had A, B, C\).*drop those rows"):
            fit.predict(new, re=re)
    f2 = fastmme.lmm("Reaction ~ factor(Days) + (1 | Subject)", fastmme.datasets.load("sleepstudy"))
    with pytest.raises(fastmme.FastmmeError, match=r"level\(s\) 10 of factor\(Days\) \(column 'Days'\)"):
        f2.predict(pd.DataFrame({"Days": [3, 10], "Subject": ["308", "308"]}))


def test_new_group_level_is_an_error_by_default_as_lme4():
    fit = fitted("power")
    assert REF["refusals"]["new_group_level"] == "new levels detected in newdata: 999"
    new = pd.DataFrame({"Days": [1.0, 2.0], "Subject": ["308", "999"]})
    with pytest.raises(fastmme.FastmmeError, match=r"level\(s\) of Subject that are not in the fit .*: 999 \(lme4: "
                                                   r"new levels detected in newdata\); pass new_levels='population'"):
        fit.predict(new)
    pop = fit.predict(new, new_levels="population")
    fixed = fit.predict(new, re=False)
    assert pop[1] == fixed[1] and pop[0] != fixed[0]


def test_rows_with_missing_values_predict_nan():
    fit = fitted("offset")
    new = newdata("offset").assign(Days=[0.5, np.nan, 11, 4])
    p = fit.predict(new)
    assert np.isnan(p[1]) and np.all(np.isfinite(p[[0, 2, 3]]))
    np.testing.assert_allclose(p[[0, 2, 3]], fit.predict(new.iloc[[0, 2, 3]]), rtol=1e-14)
    with pytest.raises(fastmme.FastmmeError, match=r"newdata lacks the column\(s\) Days of the formula"):
        fit.predict(new.drop(columns="Days"))


def test_stateful_transforms_learn_from_every_row_as_r():
    """R evaluates scale(Days) before dropping the rows whose Reaction is missing (centre 4.4749 from
    179 values, not 4.4633 from the 177 complete rows): the scale_na reference fit agrees only so;
    poly() refuses missing values as R's poly does."""
    assert list(fitted("scale_na").fixef.index) == ["(Intercept)", "scale(Days)"]
    assert fitted("scale_na").fixef["scale(Days)"] == pytest.approx(REF["fits"]["scale_na"]["fixef"][1], rel=1e-6)
    assert REF["refusals"]["poly_na"] == "missing values are not allowed in 'poly'"
    with pytest.raises(fastmme.FormulaError, match=r"missing values are not allowed in poly\(Days, 2\) \(as in R's "
                                                   r"poly\): drop the rows with a missing Days"):
        fastmme.lmm("Reaction ~ poly(Days, 2) + (1 | Subject)", dataset("sleep_na"))


def test_single_level_fixed_factor_is_refused_through_lmm():
    cake = fastmme.datasets.load("cake").assign(one="x")
    with pytest.raises(fastmme.FormulaError, match=r"one has a single level \(x\) in the rows used.*\n.*\n +\^\^\^$"):
        fastmme.lmm("angle ~ recipe + one + (1 | replicate)", cake)


def test_the_response_must_be_one_numeric_column():
    sleep = fastmme.datasets.load("sleepstudy")
    with pytest.raises(fastmme.FormulaError, match=r"the response must be a single numeric column or expression"):
        fastmme.lmm("Reaction + Days ~ 1 + (1 | Subject)", sleep)
    with pytest.raises(fastmme.FormulaError, match=r"the response must be a single numeric column"):
        fastmme.lmm("Subject ~ Days + (1 | Days)", sleep)


def test_offset_in_a_random_term_is_refused():
    with pytest.raises(fastmme.FormulaError, match=r"offset\(\) belongs in the fixed part"):
        fastmme.lmm("Reaction ~ Days + (offset(Days) | Subject)", fastmme.datasets.load("sleepstudy"))


if __name__ == "__main__":
    cols = ("objective", "fixef", "sigma", "fitted", "predict_re", "predict_fixed")
    print("| idiom | formula | criterion | β | σ | fitted | predict (re) | predict (re.form=NA) | all, at lme4's θ̂ |")
    print("|---" * 9 + "|")
    for key in KEYS:
        d, at = differences(key), differences(key, at_lme4_theta(key))
        print(f"| {key} | `{REF['fits'][key]['formula']}` | " + " | ".join(f"{d[k]:.1e}" for k in cols)
              + f" | {max(at.values()):.1e} |")
