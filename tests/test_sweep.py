"""fastmme against lme4 on the verification sweep of issue 15 (tests/fixtures/lme4_sweep.json and the data in
tests/fixtures/sweep/, made by tools/make_sweep_reference.R; R is not needed here).

Each model is its own test id, in four checks:
  (a) test_criterion_at_fixed_theta: the profiled criterion at three fixed θ (lme4's default optimum and two
      perturbed points) equals lme4's devfun to 1e-8 relative; θ is mapped from lme4's term order to
      fastmme's (formula order) by the names lme4 gives its θ entries;
  (b) test_optimum_no_worse_than_lme4: fastmme's minimised criterion ≤ lme4's tightly converged refit
      + 1e-6·|refit| (fastmme's criterion as fastmme evaluates it: a value that is low because the
      evaluation is inaccurate passes here and fails (a));
  (c) test_estimates_match_lme4: where lme4's default fit converged cleanly (no warning, no convergence
      message) to a non-singular optimum, β agrees with lme4's tight refit to 1e-4 of its standard error
      and the standard errors to 1e-3 relative.  The tight refit, not the default fit, is the reference:
      the default stops at ftol_abs 1e-8, and its β lie up to 6e-5 SE from the tight refit's (hsb82), most
      of the budget.  The two maximal 2^4 designs (272 θ) are not among them: lme4's default skipped the
      derivative check there, so "cleanly" is unknown, and the tight refit stopped at 4000 evaluations
      (the fixture's notes; on maximal_k4_full_401 fastmme's criterion is 0.14 lower than that refit's);
  (d) test_idiom_formula: where lme4's formula uses an idiom of issue 15 (I(x^2), factor(x), log(x),
      offset(x), poly(x, 2), scale(x)), that formula builds the same model in fastmme (fixed-effect names,
      θ names, the criterion at the fixed θ to 1e-8).  Checks (a)–(c) use `fastmme_formula`, the equivalent
      formula on precomputed columns (checked equivalent in R), so that they run whether or not the idiom
      is supported.

Run `python tests/test_sweep.py` (PYTHONPATH=. in a git worktree, so that its fastmme is imported) for the table of
every model's differences and fit times.  The maximal 2^4 designs take most of the time (40-110 s each).
"""
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fastmme
from fastmme.api import design_model
from fastmme.formula.frame import build_design

FIXTURES = Path(__file__).parent / "fixtures"
REF = json.loads((FIXTURES / "lme4_sweep.json").read_text())
MODELS = REF["models"]
KEYS = list(MODELS)

CRITERION_RTOL = 1e-8       # (a)
OPTIMUM_RTOL = 1e-6         # (b)
BETA_IN_SE = 1e-4           # (c): |Δβ| / SE
SE_RTOL = 1e-3              # (c)


def estimable(entry) -> bool:
    """lme4's default fit converged cleanly to an interior optimum (its convergence checks ran and passed), and
    its tight refit ended normally (no warning such as maxeval reached) at an interior optimum too."""
    default, tight = entry["default"], entry["tight"]
    return (default["clean"] and default["derivative_check"] and not default["singular"]
            and not tight["singular"] and not tight["warnings"])


ESTIMABLE = [k for k in KEYS if estimable(MODELS[k])]
IDIOMS = [k for k in KEYS if MODELS[k]["idioms"]]


# ---- data and models -------------------------------------------------------------------------------

_DATA = {}


def dataset(name: str) -> pd.DataFrame:
    """A sweep data set as R wrote it: numbers parsed exactly (Python's float is correctly rounded), factors
    as their labels (always strings, so that numeric-looking labels stay categorical), "" missing."""
    if name not in _DATA:
        info = REF["datasets"][name]
        raw = pd.read_csv(FIXTURES / info["file"], dtype=str, keep_default_na=False)
        cols = {}
        for col, kind in info["columns"].items():
            v = raw[col].to_numpy(dtype=object)
            if kind == "numeric":
                cols[col] = np.array([float(s) if s != "" else np.nan for s in v])
            else:
                cols[col] = np.array([s if s != "" else None for s in v], dtype=object)
        _DATA[name] = pd.DataFrame(cols)
    return _DATA[name]


def build(key: str, formula: str | None = None):
    """fastmme's Model of a sweep entry (not fitted), from `formula` (default: the fastmme formula)."""
    e = MODELS[key]
    d = build_design(formula or e["fastmme_formula"], dataset(e["data"]), weights=e["weights"])
    return design_model(d, e["reml"])


_FITS = {}


def fitted(key: str):
    """(fastmme.lmm fit of the fastmme formula, seconds)."""
    if key not in _FITS:
        e = MODELS[key]
        t0 = time.perf_counter()
        fit = fastmme.lmm(e["fastmme_formula"], dataset(e["data"]), reml=e["reml"], weights=e["weights"])
        _FITS[key] = (fit, time.perf_counter() - t0)
    return _FITS[key]


def theta_order(model_names, lme4_names) -> np.ndarray:
    """Index into lme4's θ for each of fastmme's θ entries (the names identify an entry; lme4 sorts the
    terms by decreasing number of levels and splits (x || g) into one term per column)."""
    model_names, lme4_names = list(model_names), list(lme4_names)
    assert sorted(model_names) == sorted(lme4_names), (model_names, lme4_names)
    assert len(set(lme4_names)) == len(lme4_names)
    return np.array([lme4_names.index(n) for n in model_names])


def canonical(name: str) -> str:
    """A fixed-effect name with the factors of an interaction sorted (a:b is b:a) and no spaces."""
    return ":".join(sorted(name.replace(" ", "").split(":")))


def lme4_beta(entry, fit_names, which="tight"):
    """lme4's β and SEs in the order of fastmme's fixed-effect names (fit_names)."""
    ours = [canonical(n) for n in fit_names]
    theirs = [canonical(n) for n in entry["fastmme_beta_names"]]
    assert sorted(ours) == sorted(theirs), (fit_names, entry["fastmme_beta_names"])
    idx = [theirs.index(n) for n in ours]
    fit = entry[which]
    return np.array(fit["beta"], float)[idx], np.array(fit["se"], float)[idx]


def rel(a, b) -> float:
    return abs(a - b) / abs(b)


# ---- checks ----------------------------------------------------------------------------------------

def test_fixture_covers_the_sweep():
    assert REF["provenance"]["script"] == "tools/make_sweep_reference.R"
    classes = pd.Series([e["class"] for e in MODELS.values()]).value_counts()
    assert len(MODELS) >= 60
    assert classes["maximal"] >= 8 and classes["large_mean"] >= 4
    maximal = [k for k in KEYS if MODELS[k]["class"] == "maximal"]
    assert sum("_singular_" in k for k in maximal) * 2 == len(maximal)


@pytest.mark.parametrize("key", KEYS)
def test_criterion_at_fixed_theta(key):
    """(a) fastmme's criterion at lme4's fixed θ equals lme4's devfun to 1e-8 relative."""
    e = MODELS[key]
    model = build(key)
    assert model.spec.n == e["nobs"]
    order = theta_order(model.theta_names, e["fastmme_theta_names"])
    worst = max(rel(model.deviance(np.array(p["theta"], float)[order]), p["criterion"]) for p in e["fixed_theta"])
    assert worst <= CRITERION_RTOL


@pytest.mark.parametrize("key", KEYS)
def test_optimum_no_worse_than_lme4(key):
    """(b) fastmme's optimum is at most 1e-6 relative above lme4's tight refit."""
    tight = MODELS[key]["tight"]["criterion"]
    ours = float(fitted(key)[0].deviance)      # a float: pytest's message then needs no repr of the fit
    assert ours <= tight + OPTIMUM_RTOL * abs(tight)


@pytest.mark.parametrize("key", ESTIMABLE)
def test_estimates_match_lme4(key):
    """(c) β within 1e-4 SE and SEs within 1e-3 relative of lme4's tight refit (clean, interior fits only)."""
    e = MODELS[key]
    fit, _ = fitted(key)
    beta, se = lme4_beta(e, fit.fixef.index)
    ours, ours_se = fit.fixef.to_numpy(), np.sqrt(np.diag(fit.vcov.to_numpy()))
    del fit                                     # keep the (costly) repr of the fit out of pytest's message
    assert np.max(np.abs(ours - beta) / se) <= BETA_IN_SE
    assert np.max(np.abs(ours_se / se - 1)) <= SE_RTOL


@pytest.mark.parametrize("key", IDIOMS)
def test_idiom_formula(key):
    """(d) lme4's own formula (with I(x^2), factor(x), log(x), offset(x), poly(x, 2) or scale(x)) builds the
    model lme4 fits: the same fixed-effect and θ names, the same criterion at the fixed θ."""
    e = MODELS[key]
    model = build(key, e["formula"])
    assert sorted(canonical(n) for n in model.spec.x_names) == sorted(canonical(n) for n in e["beta_names"])
    order = theta_order(model.theta_names, e["theta_names"])
    worst = max(rel(model.deviance(np.array(p["theta"], float)[order]), p["criterion"]) for p in e["fixed_theta"])
    assert worst <= CRITERION_RTOL


# ---- the report ------------------------------------------------------------------------------------

def report_row(key):
    """Every check's number for one model (nan where a check does not apply, text where fastmme raised)."""
    e = MODELS[key]
    row = {"model": key, "class": e["class"], "reml": e["reml"], "lme4 singular": e["default"]["singular"],
           "lme4 clean": e["default"]["clean"]}
    try:
        model = build(key)
        order = theta_order(model.theta_names, e["fastmme_theta_names"])
        row["(a) worst rel"] = max(rel(model.deviance(np.array(p["theta"], float)[order]), p["criterion"])
                                   for p in e["fixed_theta"])
    except Exception as exc:                       # the report shows failures instead of stopping
        row["(a) worst rel"] = f"{type(exc).__name__}: {exc}"[:80]
    try:
        fit, seconds = fitted(key)
        tight = e["tight"]["criterion"]
        row.update({"fastmme": fit.deviance, "lme4 tight": tight, "lme4 default": e["default"]["criterion"],
                    "(b) rel": (fit.deviance - tight) / abs(tight), "fastmme singular": fit.singular,
                    "fastmme converged": fit.converged, "seconds": seconds})
        if key in ESTIMABLE:
            beta, se = lme4_beta(e, fit.fixef.index)
            ours_se = np.sqrt(np.diag(fit.vcov.to_numpy()))
            row["(c) beta/SE"] = float(np.max(np.abs(fit.fixef.to_numpy() - beta) / se))
            row["(c) SE rel"] = float(np.max(np.abs(ours_se / se - 1)))
            dbeta, dse = lme4_beta(e, fit.fixef.index, "default")
            row["default vs tight beta/SE"] = float(np.max(np.abs(dbeta - beta) / se))
    except Exception as exc:
        row["(b) rel"] = f"{type(exc).__name__}: {exc}"[:80]
    if key in IDIOMS:
        try:
            model = build(key, e["formula"])
            order = theta_order(model.theta_names, e["theta_names"])
            row["(d) worst rel"] = max(rel(model.deviance(np.array(p["theta"], float)[order]), p["criterion"])
                                       for p in e["fixed_theta"])
        except Exception as exc:
            row["(d) worst rel"] = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"[:80]
    return row


def cell(v):
    if isinstance(v, str):
        return v
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    return "—" if v is None or v != v else f"{v:.3g}"


if __name__ == "__main__":
    cols = ["class", "reml", "lme4 singular", "lme4 clean", "(a) worst rel", "fastmme", "lme4 tight", "(b) rel",
            "fastmme singular", "(c) beta/SE", "(c) SE rel", "default vs tight beta/SE", "(d) worst rel", "seconds"]
    print("| model | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    for k in KEYS:
        row = report_row(k)
        print(f"| {k} | " + " | ".join(cell(row.get(c)) for c in cols) + " |")
