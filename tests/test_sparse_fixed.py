"""Fixed factors with many levels carried in the sparse factor (fastmme.spec.sparse_fixed).

The oracle is the same model with the factor as dense columns of X (treatment coding, or exactly the
non-zeroed levels): the criterion at fixed θ, the fit, the BLUPs, the level estimates and their
standard errors, and the PEVs must agree.
"""

import numpy as np
import pandas as pd
import pytest

import fastmme
from fastmme import breeding_data as simulate
from fastmme.errors import FastmmeError, RankDeficiencyWarning
from fastmme.spec.sparse_fixed import resolve


@pytest.fixture(scope="module")
def animal_data():
    pf = simulate.population(100, 4, 10, seed=3)
    df, ped, _ = simulate.animal_model_records(pf, h2=0.3, groups=15, seed=3)
    return df, ped


@pytest.fixture(scope="module")
def animal_fits(animal_data):
    df, ped = animal_data
    dense = fastmme.lmm("y ~ sex + cg + (1 | animal)", df, relmat={"animal": ped}, sparse_fixed=False)
    sparse = fastmme.lmm("y ~ sex + cg + (1 | animal)", df, relmat={"animal": ped}, sparse_fixed=["cg"])
    return dense, sparse


def test_animal_model_matches_dense_coding(animal_fits):
    dense, sparse = animal_fits
    assert sparse.deviance == pytest.approx(dense.deviance, rel=1e-11)
    np.testing.assert_allclose(sparse.core.theta, dense.core.theta, rtol=1e-6)
    np.testing.assert_allclose(sparse.fixef, dense.fixef[["(Intercept)", "sexM"]], rtol=1e-8)
    np.testing.assert_allclose(sparse.core.blups[0], dense.core.blups[0], atol=1e-8)
    np.testing.assert_allclose(sparse.core.fitted, dense.core.fitted, atol=1e-8)
    lv = sparse.fixed_levels("cg")
    assert list(lv.index[lv.zeroed]) == ["cg0"] and lv.loc["cg0", "estimate"] == 0.0
    cg_cols = [c for c in dense.fixef.index if c.startswith("cg")]
    np.testing.assert_allclose(lv.loc[[c[2:] for c in cg_cols], "estimate"], dense.fixef[cg_cols], rtol=1e-7)
    se_dense = pd.Series(np.sqrt(np.diag(dense.vcov)), index=dense.vcov.index)
    np.testing.assert_allclose(lv.loc[[c[2:] for c in cg_cols], "se"], se_dense[cg_cols], rtol=1e-7)
    np.testing.assert_allclose(np.sqrt(np.diag(sparse.vcov)), se_dense[["(Intercept)", "sexM"]], rtol=1e-7)
    np.testing.assert_allclose(sparse.core.pev[0], dense.core.pev[0], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(sparse.core.cond_var[0], dense.core.cond_var[0], rtol=1e-8, atol=1e-10)
    assert sparse.ranef["animal"].shape == dense.ranef["animal"].shape
    np.testing.assert_allclose(sparse.core.variance_components(), dense.core.variance_components(), rtol=1e-6)
    assert sparse.core.n_params == dense.core.n_params
    assert "sparse fixed factor cg: 15 levels, 1 set to zero, 1 connected set" in sparse.summary()


@pytest.mark.filterwarnings("ignore::fastmme.errors.ConvergenceWarning")
def test_criterion_at_fixed_theta_reml_and_ml(animal_data):
    df, ped = animal_data
    for reml in (True, False):
        d = fastmme.lmm("y ~ sex + cg + (1 | animal) + (1 | sex:cg)", df, reml=reml, relmat={"animal": ped},
                        sparse_fixed=False, maxeval=1)
        s = fastmme.lmm("y ~ sex + cg + (1 | animal) + (1 | sex:cg)", df, reml=reml, relmat={"animal": ped},
                        sparse_fixed=["cg"], maxeval=1)
        for th in ([0.3, 0.2], [1.5, 0.0], [0.9, 2.0]):
            assert s.model.deviance(th) == pytest.approx(d.model.deviance(th), rel=1e-11)


def test_ml_fit_and_refit(animal_data):
    df, _ = animal_data
    d = fastmme.lmm("y ~ sex + cg + (1 | sex:cg)", df, reml=False, sparse_fixed=False)
    s = fastmme.lmm("y ~ sex + cg + (1 | sex:cg)", df, reml=False, sparse_fixed=["cg"])
    assert s.deviance == pytest.approx(d.deviance, rel=1e-9)
    r = fastmme.lmm("y ~ sex + cg + (1 | sex:cg)", df, sparse_fixed=["cg"])
    with pytest.raises(FastmmeError, match="built for REML"):
        r.model._objective.deviance(r.core.theta, reml=False)
    assert r.refit_ml().deviance == pytest.approx(d.deviance, rel=1e-9)


def _two_factor_data(seed=5):
    """Herds and years in two disconnected blocks (herds 0-5 only in years 0-2, herds 6-9 in 3-5)."""
    rng = np.random.default_rng(seed)
    n = 600
    block = rng.integers(0, 2, n)
    herd = np.where(block == 0, rng.integers(0, 6, n), rng.integers(6, 10, n))
    year = np.where(block == 0, rng.integers(0, 3, n), rng.integers(3, 6, n))
    sire = rng.integers(0, 40, n)
    x = rng.normal(size=n)
    y = 2.0 * x + rng.normal(size=10)[herd] + rng.normal(size=6)[year] + 0.7 * rng.normal(size=40)[sire] + rng.normal(size=n)
    return pd.DataFrame({"y": y, "x": x, "herd": [f"h{h}" for h in herd], "year": [f"y{v}" for v in year],
                         "sire": sire})


def test_two_factors_connected_sets_match_dense_columns():
    df = _two_factor_data()
    s = fastmme.lmm("y ~ x + herd + year + (1 | sire)", df, sparse_fixed=["herd", "year"])
    herd, year = s.fixed_levels("herd"), s.fixed_levels("year")
    # two sets; herd loses its first level (the intercept), year one level per set
    assert sorted(set(herd.set)) == [0, 1] and sorted(set(year.set)) == [0, 1]
    assert list(herd.index[herd.zeroed]) == ["h0"]
    assert list(year.index[year.zeroed]) == ["y0", "y3"]
    # oracle: the same basis as dense columns
    cols = {"(Intercept)": np.ones(len(df)), "x": df.x.to_numpy()}
    for name, lv in (("herd", herd), ("year", year)):
        for level in lv.index[~lv.zeroed]:
            cols[f"{name}{level}"] = (df[name] == level).to_numpy(float)
    X = pd.DataFrame(cols)
    d = fastmme.Model(df.y, X, fastmme.Term(df.sire, name="sire"))
    for th in ([0.2], [0.7], [1.9]):
        assert s.model.deviance(th) == pytest.approx(d.deviance(th), rel=1e-11)
    dfit = d.fit()
    assert s.deviance == pytest.approx(dfit.deviance, rel=1e-10)
    est = pd.Series(dfit.beta, index=dfit.x_names)
    se = pd.Series(dfit.beta_se, index=dfit.x_names)
    for name, lv in (("herd", herd), ("year", year)):
        keep = lv.index[~lv.zeroed]
        np.testing.assert_allclose(lv.loc[keep, "estimate"], est[[f"{name}{v}" for v in keep]], rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(lv.loc[keep, "se"], se[[f"{name}{v}" for v in keep]], rtol=1e-6)
    # predictions: fitted values from the levels; an unseen level is refused
    np.testing.assert_allclose(s.predict(df), s.core.fitted, atol=1e-9)
    with pytest.raises(FastmmeError, match="not in the fit"):
        s.predict(df.assign(herd="h99"))


def test_dense_column_aliased_with_factor_is_dropped():
    df = _two_factor_data()
    df["region"] = np.where(df.herd.isin(["h0", "h1", "h2"]), "north", "south")   # constant within herds
    with pytest.warns(RankDeficiencyWarning, match="regionsouth"):
        s = fastmme.lmm("y ~ x + region + herd + (1 | sire)", df, sparse_fixed=["herd"])
    assert "regionsouth" in s.core.dropped
    ref = fastmme.lmm("y ~ x + herd + (1 | sire)", df, sparse_fixed=["herd"])
    assert s.deviance == pytest.approx(ref.deviance, rel=1e-10)


def test_automatic_for_many_levels_and_refusals():
    rng = np.random.default_rng(2)
    n = 3000
    cg = rng.integers(0, 600, n)
    g = rng.integers(0, 50, n)
    df = pd.DataFrame({"y": rng.normal(size=600)[cg] + rng.normal(size=50)[g] + rng.normal(size=n),
                       "cg": pd.Categorical([f"c{c}" for c in cg]), "g": g})
    f = fastmme.lmm("y ~ cg + (1 | g)", df)
    assert list(f.fixef.index) == ["(Intercept)"] and f.fixed_levels().shape[0] == len(np.unique(cg))
    with pytest.raises(FastmmeError, match="not a main effect"):
        fastmme.lmm("y ~ 1 + (1 | g)", df, sparse_fixed=["cg"])
    with pytest.raises(FastmmeError, match="no sparse fixed factor"):
        f.fixed_levels("herd")
    before = df.copy()
    fastmme.lmm("y ~ cg + (1 | g)", df, sparse_fixed=["cg"])
    pd.testing.assert_frame_equal(df, before)


def test_resolve_without_intercept_keeps_every_level():
    codes = np.array([0, 1, 2, 0, 1, 2, 2])
    X = np.arange(7.0)[:, None]
    (f,), Xk, names, dropped = resolve({"cg": codes}, X, ["x"])
    assert not f.zeroed.any() and names == ["x"] and not dropped
    assert f.n_estimable == 3


def test_herd_population_keeps_dams_in_the_herd_and_groups_are_herd_by_year():
    """simulate.population(herds=): equal births per herd and generation, every dam from her
    offspring's herd, sires across herds; the records' groups are herd × generation, and the model
    with them is fitted with the groups in the sparse factor."""
    pf = simulate.population(300, 4, 10, seed=5, herds=6)
    born = pf[pf.generation > 0]
    assert (born.groupby(["generation", "herd"]).size() == 50).all()
    by = pf.set_index("animal")
    assert (by.herd.loc[born.dam].to_numpy() == born.herd.to_numpy()).all()
    assert (by.generation.loc[born.dam].to_numpy() == born.generation.to_numpy() - 1).all()
    assert by.herd.loc[born.sire].nunique() > 1
    df, ped, _ = simulate.animal_model_records(pf, h2=0.3, seed=5)
    rec = by.loc[df.animal]
    assert df.cg.nunique() == 6 * 4
    assert df.groupby("cg", observed=True).apply(
        lambda g: rec.loc[g.animal, ["herd", "generation"]].drop_duplicates().shape[0]).eq(1).all()
    fit = fastmme.lmm("y ~ sex + cg + (1 | animal)", df, relmat={"animal": ped}, sparse_fixed=["cg"])
    assert fit.core.sparse_fixed and 0.05 < fit.core.heritability(0)[0] < 0.8
