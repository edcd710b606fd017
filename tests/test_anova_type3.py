"""anova(fit): lmerTest's F-tests of the fixed-effect terms (Type III and Type I, Satterthwaite's df),
against lmerTest 3.1-3 (tools/make_anova_reference.R → tests/fixtures/anova_type3.json): balanced and
unbalanced designs, a missing cell (an aliased column dropped), a nested term (a + a:b), factor ×
numeric interactions with and without the numeric main effect, a three-way interaction, ML, one term."""
import json
import pathlib
import warnings

import numpy as np
import pandas as pd
import pytest

import fastmme

FIXTURE = json.loads((pathlib.Path(__file__).parent / "fixtures" / "anova_type3.json").read_text())
MODELS = {m["name"]: m for m in FIXTURE}
# lme4's optimum of the random-slope models is less exact (fastmme's REML criterion is lower by 2.7e-7
# and its ML deviance by 1.1e-6), so their tables agree to 5e-4; the others to 3e-5 (p-values: their
# error is the F's times F·f(F)/P, larger in the far tail)
LOOSE = {"sleep_factor_by_numeric", "sleep_factor_by_numeric_ml"}
# printed exactly as lmerTest prints them (the others differ in a last digit at a rounding boundary,
# or by the optimum above)
PRINTED_SAME = [("cake", "type3"), ("cake", "type1"), ("cake_unbalanced", "type3"), ("cake_missing_cell", "type3"),
                ("cake_missing_cell", "type1"), ("cake_nested", "type3"), ("cake_nested", "type1"),
                ("sleep_slopes_within", "type3"), ("sleep_slopes_within", "type1"), ("sleep_numeric", "type3"),
                ("sleep_numeric", "type1"), ("sleep_one_term", "type3"), ("sleep_one_term", "type1")]


@pytest.fixture(scope="module")
def fits():
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fastmme.RankDeficiencyWarning)
        for name, m in MODELS.items():
            out[name] = fastmme.lmm(m["formula"], pd.DataFrame(m["data"]), reml=m["reml"])
    return out


def _reference(m, kind):
    ref = m[kind]
    return pd.DataFrame({c: np.atleast_1d(v) for c, v in zip(ref["cols"], ref["values"])},
                        index=list(np.atleast_1d(ref["terms"])))


@pytest.mark.parametrize("kind", ["type3", "type1"])
@pytest.mark.parametrize("name", list(MODELS))
def test_f_tests_equal_lmertests(fits, name, kind):
    m = MODELS[name]
    table = fits[name].anova(type=3 if kind == "type3" else 1)
    R = _reference(m, kind)
    assert list(table.index) == list(R.index)
    assert list(table.columns) == list(R.columns)
    assert np.array_equal(table["NumDF"].to_numpy(), R["NumDF"].to_numpy())
    rtol = 5e-4 if name in LOOSE else 3e-5
    for c in ("Sum Sq", "Mean Sq", "DenDF", "F value"):
        np.testing.assert_allclose(table[c].to_numpy(), R[c].to_numpy(), rtol=rtol, err_msg=f"{name} {kind} {c}")
    np.testing.assert_allclose(table["Pr(>F)"].to_numpy(), R["Pr(>F)"].to_numpy(), rtol=30 * rtol)
    assert table.heading == m[kind]["heading"]


@pytest.mark.parametrize("name,kind", PRINTED_SAME)
def test_printed_as_lmertest_prints_it(fits, name, kind):
    ours = str(fits[name].anova(type=3 if kind == "type3" else 1)).splitlines()
    ref = [ln.rstrip().replace("‘", "'").replace("’", "'") for ln in MODELS[name][kind]["out"]]
    assert ours == ref


def test_type3_hypotheses_are_lmertests_for_the_missing_cell(fits):
    """The missing cell (recipe C at 225) drops recipeC:temperature225; the interaction then has 9
    df, and the Type III contrasts of the main effects are orthogonal to the interaction's columns."""
    t = fits["cake_missing_cell"].anova()
    assert t.loc["recipe:temperature", "NumDF"] == 9
    H = t.hypotheses
    assert H["recipe"].shape == (2, 17) and H["temperature"].shape == (5, 17)


def test_module_level_anova_of_one_fit_and_the_refusals(fits):
    fit = fits["cake"]
    pd.testing.assert_frame_equal(fastmme.anova(fit), fit.anova())
    for bad in (2, "II", True, "yates"):
        with pytest.raises(fastmme.FastmmeError, match="type must be"):
            fit.anova(type=bad)
    with pytest.raises(fastmme.FastmmeError, match="ddf must be"):
        fit.anova(ddf="kenward")


def test_a_data_frame_changed_since_the_fit_is_refused():
    m = MODELS["cake"]
    df = pd.DataFrame(m["data"])
    fit = fastmme.lmm(m["formula"], df)
    before = fit.anova()
    df.loc[df.index[:10], "recipe"] = "B"             # the caller changes the frame after the fit
    with pytest.raises(fastmme.FastmmeError, match="changed since the fit"):
        fit.anova()
    assert np.isfinite(before["F value"]).all()
    other = fastmme.lmm(m["formula"], pd.DataFrame(m["data"]).astype({"recipe": "category"}).to_dict("list"))
    with pytest.raises(fastmme.FastmmeError, match="pandas DataFrame"):
        other.anova()
    assert other.anova(type=1).shape == (3, 6)        # Type I needs only X


def test_rows_dropped_for_missing_values_are_dropped_again():
    m = MODELS["cake_unbalanced"]
    df = pd.DataFrame(m["data"])
    full = pd.DataFrame(MODELS["cake"]["data"])
    key = ["replicate", "recipe", "temperature"]
    gone = full.merge(df[key], on=key, how="left", indicator=True)["_merge"] == "left_only"
    holes = full.assign(angle=np.where(gone, np.nan, full["angle"])).iloc[::-1]      # NaN rows, other order
    a, b = fastmme.lmm(m["formula"], holes).anova(), fastmme.lmm(m["formula"], df).anova()
    np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), rtol=1e-6)


DROP1 = [name for name, m in MODELS.items() if m.get("drop1")]


@pytest.mark.parametrize("name", DROP1)
def test_drop1_equals_lmertests(fits, name):
    m = MODELS[name]
    table = fits[name].drop1()
    R = _reference(m, "drop1")
    assert list(table.index) == list(R.index)
    rtol = 5e-4 if name in LOOSE else 3e-5
    np.testing.assert_array_equal(table["NumDF"].to_numpy(), R["NumDF"].to_numpy())
    for c in ("Sum Sq", "Mean Sq", "DenDF", "F value"):
        np.testing.assert_allclose(table[c].to_numpy(), R[c].to_numpy(), rtol=rtol, err_msg=f"{name} {c}")
    if name not in LOOSE | {"sleep_three_way"}:       # its Sum Sq 820.635… sits on a rounding boundary
        ref = [ln.rstrip().replace("‘", "'").replace("’", "'") for ln in m["drop1"]["out"]]
        assert str(table).splitlines() == ref


def test_drop1_refuses_aliased_columns(fits):
    """lmerTest rebuilds the hypotheses from reduced model matrices there (get_Ldiffmat2); not done here."""
    with pytest.raises(fastmme.FastmmeError, match="aliased"):
        fits["cake_missing_cell"].drop1()
