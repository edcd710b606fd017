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


import inspect  # noqa: E402  (temporary: until fastmme.Model takes offset=)
OFFSETS = "offset" in inspect.signature(fastmme.Model).parameters


def needs_offsets(key):
    if "offset(" in REF["fits"][key]["formula"] and not OFFSETS:
        pytest.skip("fastmme.Model(offset=) is not on this branch yet")


@pytest.mark.parametrize("key", KEYS)
def test_r_formula_fit_and_predict_match_lme4(key):
    needs_offsets(key)
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
    needs_offsets(key)
    d = differences(key, at_lme4_theta(key))
    bad = {k: v for k, v in d.items() if v > 1e-9}
    assert not bad, bad


if __name__ == "__main__":
    cols = ("objective", "fixef", "sigma", "fitted", "predict_re", "predict_fixed")
    print("| idiom | formula | criterion | β | σ | fitted | predict (re) | predict (re.form=NA) | all, at lme4's θ̂ |")
    print("|---" * 9 + "|")
    for key in KEYS:
        d, at = differences(key), differences(key, at_lme4_theta(key))
        print(f"| {key} | `{REF['fits'][key]['formula']}` | " + " | ".join(f"{d[k]:.1e}" for k in cols)
              + f" | {max(at.values()):.1e} |")
