"""ranova(fit): lmerTest's likelihood-ratio tests of the random-effect terms (tools/make_ranova_reference.R
→ tests/fixtures/ranova.json, lmerTest 3.1-3): a vector term reduced to its intercept, an intercept
deleted to lm's (REML) likelihood, REML and ML, `||` expanded as lme4's findbars, lmerTest's reduction
of (0 + x | g) to (1 | g), crossed and nested terms, a factorial fixed part."""
import json
import pathlib

import numpy as np
import pandas as pd
import pytest

import fastmme

FIXTURE = json.loads((pathlib.Path(__file__).parent / "fixtures" / "ranova.json").read_text())
# R's formula printing (deparse after update()) drops an explicit "1 +" and reorders terms: the
# "Model:" line is compared for the formulas R prints as written
MODEL_LINE_AS_WRITTEN = {0, 1, 2, 3, 4, 5}


def _reference(m):
    vals = {c: np.array([np.nan if x == "NA" else x for x in np.atleast_1d(v)], dtype=float)
            for c, v in zip(m["cols"], m["values"])}
    return pd.DataFrame(vals, index=list(np.atleast_1d(m["rows"])))


@pytest.mark.parametrize("i", range(len(FIXTURE)), ids=[f"{m['formula']} REML={m['reml']}" for m in FIXTURE])
def test_ranova_equals_lmertests(i):
    m = FIXTURE[i]
    fit = fastmme.lmm(m["formula"], fastmme.datasets.load(m["data"]), reml=m["reml"])
    table = fit.ranova()
    R = _reference(m)
    assert sorted(table.index) == sorted(R.index) and table.index[0] == "<none>"
    table = table.loc[R.index]
    assert list(table.columns) == list(R.columns)
    np.testing.assert_array_equal(table[["npar", "Df"]].to_numpy(), R[["npar", "Df"]].to_numpy())
    np.testing.assert_allclose(table[["logLik", "AIC", "LRT"]].to_numpy(), R[["logLik", "AIC", "LRT"]].to_numpy(),
                               rtol=1e-8)
    np.testing.assert_allclose(table["Pr(>Chisq)"].to_numpy(), R["Pr(>Chisq)"].to_numpy(), rtol=1e-6)
    ours = str(table).splitlines()
    ref = [ln.rstrip().replace("‘", "'").replace("’", "'") for ln in m["out"]]
    assert ours[:3] == ref[:3] and ours[4:] == ref[4:]           # the heading and the table as R prints them
    if i in MODEL_LINE_AS_WRITTEN:
        assert ours[3] == ref[3]
    assert set(table.formulas) == set(table.index)


def test_ranova_refits_on_the_rows_of_the_fit_and_refuses_other_tables():
    d = fastmme.datasets.load("sleepstudy")
    fit = fastmme.lmm("Reaction ~ Days + (Days | Subject)", d.to_dict("list"))
    with pytest.raises(fastmme.FastmmeError, match="pandas DataFrame"):
        fit.ranova()
    holes = d.assign(Days2=np.where(np.arange(len(d)) % 7 == 0, np.nan, d["Days"]))
    fit = fastmme.lmm("Reaction ~ Days2 + (Days2 | Subject)", holes)
    t = fit.ranova()
    assert fit.nobs == len(d) - int(np.sum(np.arange(len(d)) % 7 == 0)) and t.shape == (2, 6)
