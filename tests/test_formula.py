"""The formula layer: parsing, errors that point at the formula, missing values, table types, predict."""
import json

import numpy as np
import pandas as pd
import pytest

import fastmme
from fastmme import FormulaError
from fastmme.formula.random_terms import parse


@pytest.fixture(scope="module")
def sleep():
    return fastmme.datasets.load("sleepstudy")


def test_parse_splits_random_terms():
    pf = parse("y ~ x + (1 + x | g) + (0 + z || h) + (1 | a/b/c) + (1 | a:b)")
    assert pf.response == "y" and pf.fixed == "x"
    got = [(t.lhs, t.group, t.diagonal) for t in pf.random]
    assert got == [("1 + x", "g", False), ("0 + z", "h", True), ("1", "a", False), ("1", "b:a", False),
                   ("1", "c:b:a", False), ("1", "a:b", False)]


def test_parse_random_only_gets_intercept():
    assert parse("y ~ (1 | g)").fixed == "1"
    assert parse("y ~ 0 + (1 | g)").fixed == "0"


@pytest.mark.parametrize("formula,message,caret", [
    ("Reaction ~ Days + (Days | Subject", "never closed", "^"),
    ("Reaction ~ Days + Days) + (1 | Subject)", "without a matching", "^"),
    ("Reaction ~ Days + (Days | )", "no grouping factor", "^^^^^^^^^"),
    ("Reaction ~ Dayz + (1 | Subject)", "unknown column 'Dayz'", "^^^^"),
    ("Reaction ~ Days + (1 | Subjekt)", "unknown column 'Subjekt'", "^^^^^^^"),
    ("Reaction ~ Days + (1 | Days)", "is continuous", "^"),
    ("Reaction ~ Days + Days | Subject", "must be in parentheses", "^"),
    ("Reaction ~ Days", "no random-effects term", None),
    ("Reaction Days + (1 | Subject)", "exactly one '~'", None),
    ("Reaction ~ Days + ( | Subject)", "nothing left of '|'", "^"),
    ("Reaction ~ Days + (1 | Sub ject)", "must be a column name", "^"),
])
def test_formula_errors_point_at_the_problem(sleep, formula, message, caret):
    data = sleep.assign(Days=sleep.Days + 0.5) if "is continuous" in message else sleep
    with pytest.raises(FormulaError, match=message) as err:
        fastmme.lmm(formula, data)
    text = str(err.value)
    if caret:
        assert formula in text and caret in text.splitlines()[-1]


def test_missing_values_are_dropped_and_counted(sleep):
    d = sleep.copy()
    d.loc[[3, 7], "Reaction"] = np.nan
    d.loc[11, "Subject"] = None
    d["unused"] = np.nan                       # a column the model does not use does not drop rows
    fit = fastmme.lmm("Reaction ~ Days + (1 | Subject)", d)
    assert fit.nobs == 177 and fit.n_dropped == 3
    assert "3 observation(s) with missing values dropped" in fit.summary()
    assert list(fit.fitted.index) == [i for i in d.index if i not in (3, 7, 11)]
    ref = fastmme.lmm("Reaction ~ Days + (1 | Subject)", d.drop(index=[3, 7, 11]))
    assert fit.deviance == pytest.approx(ref.deviance, rel=1e-13)
    assert d["Reaction"].isna().sum() == 2     # the caller's frame is untouched


def test_polars_and_pyarrow_tables_give_the_same_fit(sleep):
    pl = pytest.importorskip("polars")
    pa = pytest.importorskip("pyarrow")
    f = "Reaction ~ Days + (Days | Subject)"
    ref = fastmme.lmm(f, sleep)
    for data in (pl.from_pandas(sleep), pa.Table.from_pandas(sleep), {c: sleep[c].to_numpy() for c in sleep}):
        fit = fastmme.lmm(f, data)
        assert fit.deviance == pytest.approx(ref.deviance, rel=1e-12)
        np.testing.assert_allclose(fit.fixef, ref.fixef, rtol=1e-10)


def test_pandas_categorical_and_weights_column(sleep):
    d = sleep.assign(Subject=sleep.Subject.astype("category"), w=np.linspace(0.5, 2.0, len(sleep)))
    a = fastmme.lmm("Reaction ~ Days + (1 | Subject)", d, weights="w")
    b = fastmme.lmm("Reaction ~ Days + (1 | Subject)", d, weights=d.w.to_numpy())
    assert a.deviance == pytest.approx(b.deviance, rel=1e-13)
    assert "Weights: prior weights" in a.summary()


def test_equivalent_spellings_give_the_same_fit(sleep):
    a = fastmme.lmm("Reaction ~ Days + (Days | Subject)", sleep)
    b = fastmme.lmm("Reaction ~ 1 + Days + (1 + Days | Subject)", sleep)
    assert a.deviance == pytest.approx(b.deviance, rel=1e-13)
    p = fastmme.datasets.load("Pastes")
    c = fastmme.lmm("strength ~ 1 + (1 | batch/cask)", p)
    d = fastmme.lmm("strength ~ 1 + (1 | batch) + (1 | cask:batch)", p)
    assert c.deviance == pytest.approx(d.deviance, rel=1e-13)


def test_predict_newdata(sleep):
    fit = fastmme.lmm("Reaction ~ Days + (Days | Subject)", sleep)
    np.testing.assert_allclose(fit.predict(sleep), fit.fitted.to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(fit.predict(sleep, re=False), fit.design.X @ fit.fixef.to_numpy(), rtol=1e-12)
    new = pd.DataFrame({"Days": [3.0, 3.0], "Subject": ["308", "999"]})
    p = fit.predict(new, new_levels="population")
    assert p[0] == pytest.approx(fit.coef["Subject"].loc["308", "(Intercept)"] + 3 * fit.coef["Subject"].loc["308", "Days"])
    assert p[1] == pytest.approx(fit.fixef["(Intercept)"] + 3 * fit.fixef["Days"])
    # lme4's default (allow.new.levels = FALSE): a new level is an error that says what to pass
    with pytest.raises(fastmme.FastmmeError, match=r"level\(s\) of Subject .*999.*new_levels='population'"):
        fit.predict(new)
    with pytest.raises(fastmme.FastmmeError, match="999"):
        fit.predict(new, new_levels="error")
    with pytest.raises(fastmme.FastmmeError, match="new_levels must be 'error'.*or 'population'"):
        fit.predict(new, new_levels="allow")


def test_predict_with_categorical_fixed_effects():
    cake = fastmme.datasets.load("cake")
    fit = fastmme.lmm("angle ~ recipe * temperature + (1 | recipe:replicate)", cake)
    np.testing.assert_allclose(fit.predict(cake), fit.fitted.to_numpy(), rtol=1e-12)
    assert len(fit.fixef) == 18


def test_to_dict_is_json_serialisable(sleep):
    fit = fastmme.lmm("Reaction ~ Days + (Days | Subject)", sleep)
    d = json.loads(json.dumps(fit.to_dict()))
    assert d["fixef"]["Days"] == pytest.approx(fit.fixef["Days"])
    assert d["ranef"]["Subject"]["columns"] == ["(Intercept)", "Days"]
    assert len(d["coef_table"]) == 2 and d["coef_table"][1]["df"] == pytest.approx(17.0, rel=1e-3)


def test_html_repr(sleep):
    html = fastmme.lmm("Reaction ~ Days + (1 | Subject)", sleep)._repr_html_()
    assert "<table" in html and "Random effects" in html and "Satterthwaite" in html


def test_anova_refuses_different_data(sleep):
    a = fastmme.lmm("Reaction ~ Days + (1 | Subject)", sleep)
    b = fastmme.lmm("Reaction ~ Days + (1 | Subject)", sleep.iloc[:170])
    with pytest.raises(fastmme.FastmmeError, match="different data"):
        fastmme.anova(a, b)


def test_rank_deficient_formula_drops_columns(sleep):
    d = sleep.assign(Days2=2 * sleep.Days)
    with pytest.warns(fastmme.RankDeficiencyWarning, match="Days2"):
        fit = fastmme.lmm("Reaction ~ Days + Days2 + (1 | Subject)", d)
    assert list(fit.fixef.index) == ["(Intercept)", "Days"]
