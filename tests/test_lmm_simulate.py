"""simulate() and the parametric bootstrap of a linear mixed model (lme4's simulate.merMod and bootMer,
MixedModels.jl's parametricbootstrap)."""
import numpy as np
import pytest

import fastmme


@pytest.fixture(scope="module")
def sleep():
    d = fastmme.datasets.load("sleepstudy")
    return d, fastmme.lmm("Reaction ~ Days + (Days | Subject)", d)


def test_simulated_responses_have_the_models_mean_and_covariance(sleep):
    d, fit = sleep
    sims = fit.simulate(4000, seed=7).to_numpy()
    X = np.column_stack([np.ones(len(d)), d.Days.to_numpy()])
    mean = X @ np.array(fit.fixef)
    Sigma = np.asarray(fit.core.covariances[0])
    var = fit.sigma ** 2 + np.einsum("ia,ab,ib->i", X, Sigma, X)        # z = (1, Days) for every row
    se = np.sqrt(var / sims.shape[1])
    assert np.max(np.abs(sims.mean(axis=1) - mean) / se) < 4.5
    # the sample variance's relative SE is about √(2/4000) = 2.2 %
    assert np.max(np.abs(sims.var(axis=1) / var - 1)) < 0.1
    # rows of one subject share the subject's draw: their covariance is z_i Σ z_jᵀ
    i, j = 0, 9                                                          # Days 0 and 9 of subject 1
    cov = np.cov(sims[i], sims[j])[0, 1]
    assert cov == pytest.approx(X[i] @ Sigma @ X[j], rel=0.15)


def test_use_u_keeps_the_conditional_modes(sleep):
    d, fit = sleep
    sims = fit.simulate(3000, seed=3, use_u=True).to_numpy()
    se = fit.sigma / np.sqrt(sims.shape[1])
    assert np.max(np.abs(sims.mean(axis=1) - fit.fitted.to_numpy()) / se) < 4.5
    assert np.max(np.abs(sims.var(axis=1) / fit.sigma ** 2 - 1)) < 0.12


def test_simulate_is_seeded_and_checks_nsim(sleep):
    _, fit = sleep
    a, b = fit.simulate(2, seed=11), fit.simulate(2, seed=11)
    assert a.equals(b) and list(a.columns) == ["sim_1", "sim_2"] and a.index.equals(fit.fitted.index)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(fastmme.FastmmeError, match="nsim"):
            fit.simulate(bad)


def test_a_bootstrap_replicate_is_the_fit_of_its_simulated_response(sleep):
    d, fit = sleep
    boot = fit.bootstrap(3, seed=5)
    sims = fit.simulate(3, seed=5)
    again = fastmme.lmm("Reaction ~ Days + (Days | Subject)", d.assign(Reaction=sims["sim_2"].to_numpy()))
    row = boot.iloc[1]
    assert row["criterion"] == pytest.approx(again.deviance, rel=1e-10)
    np.testing.assert_allclose(row[list(fit.core.theta_names)].to_numpy(float), again.core.theta, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(row[["(Intercept)", "Days"]].to_numpy(float), np.array(again.fixef), rtol=1e-7)
    assert bool(boot["converged"].all())


def _response_cases():
    import pandas as pd
    rng = np.random.default_rng(3)
    n = 30
    B = rng.standard_normal((n, 3))
    K = 0.5 * np.eye(n) + B @ B.T / 6
    labels = [f"a{i}" for i in range(n)]
    herd = np.repeat(np.arange(15), 6)
    df = pd.DataFrame({"animal": np.repeat(labels, 3), "herd": herd.astype(str), "x": rng.standard_normal(3 * n),
                       "w": rng.uniform(0.5, 2.0, 3 * n), "o": rng.standard_normal(3 * n),
                       "y": rng.standard_normal(3 * n) * 2 + 100})
    relmat = {"animal": pd.DataFrame(K, index=labels, columns=labels)}
    sleep = fastmme.datasets.load("sleepstudy")
    return [("schur", "Reaction ~ Days + (Days | Subject)", sleep, {}),
            ("cholmod", "y ~ x + offset(o) + herd + (1 | animal)", df,
             dict(relmat=relmat, sparse_fixed=["herd"], weights="w"))]


@pytest.mark.parametrize("case", range(2))
def test_a_new_response_refits_as_a_model_built_for_it(case):
    """Model._set_response (the bootstrap's refits) re-sums only the response's blocks and keeps the
    evaluator's analysis: its fit is bitwise the fit of a model assembled from scratch for that y,
    on the Schur evaluator and on CHOLMOD (a relationship matrix, a sparse fixed factor, weights and
    an offset), and the fit made before is not changed."""
    import dataclasses
    kind, f, df, kw = _response_cases()[case]
    fit = fastmme.lmm(f, df, **kw)
    assert fit.model._objective.evaluator == kind
    before = (fit.deviance, np.array(fit.core.beta), np.array(fit.core.fitted))
    sims = fit.simulate(2, seed=9)
    work = type(fit.model).of_design(dataclasses.replace(fit.design, y=sims["sim_1"].to_numpy()), reml=True)
    work.fit(start=np.array(fit.core.theta))
    work._set_response(sims["sim_2"].to_numpy())
    got = work.fit(start=np.array(fit.core.theta))
    fresh = type(fit.model).of_design(dataclasses.replace(fit.design, y=sims["sim_2"].to_numpy()), reml=True)
    want = fresh.fit(start=np.array(fit.core.theta))
    assert got.deviance == want.deviance and got.n_evals == want.n_evals
    for a in ("theta", "beta", "beta_se", "fitted"):
        np.testing.assert_array_equal(np.asarray(getattr(got, a)), np.asarray(getattr(want, a)))
    assert fit.deviance == before[0]
    np.testing.assert_array_equal(np.array(fit.core.beta), before[1])
    np.testing.assert_array_equal(np.array(fit.core.fitted), before[2])
    with pytest.raises(fastmme.FastmmeError, match="has length 3"):
        work._set_response(np.zeros(3))
    with pytest.raises(fastmme.FastmmeError, match="NaN or inf"):
        work._set_response(np.full(fit.nobs, np.nan))


def test_bootstrap_standard_errors_of_beta_are_near_the_wald_ones(sleep):
    _, fit = sleep
    boot = fit.bootstrap(300, seed=1)
    sd = boot[["(Intercept)", "Days"]].std().to_numpy()
    np.testing.assert_allclose(sd, np.array(fit.core.beta_se), rtol=0.2)


def test_a_relationship_term_is_drawn_with_its_covariance_K():
    """Var(b) = σ_a² K for a term with a relationship matrix: the simulated responses of two relatives
    covary by σ_a² K_ij, of unrelated animals not at all (iid draws would give 0 for both)."""
    import pandas as pd
    rng = np.random.default_rng(11)
    n = 40
    B = rng.standard_normal((n, 3))
    K = 0.5 * np.eye(n) + B @ B.T / 6                               # a dense, positive definite K
    labels = [f"a{i}" for i in range(n)]
    df = pd.DataFrame({"animal": np.repeat(labels, 3), "y": rng.standard_normal(3 * n) * 2})
    fit = fastmme.lmm("y ~ 1 + (1 | animal)", df, relmat={"animal": pd.DataFrame(K, index=labels, columns=labels)})
    sims = fit.simulate(6000, seed=5).to_numpy()
    va = float(np.asarray(fit.core.covariances[0]).squeeze())
    assert va > 0.1 * fit.sigma ** 2                                  # the term carries weight
    emp = np.cov(sims[::3])                                            # one row per animal
    expected = va * K + fit.sigma ** 2 * np.eye(n)
    se = np.sqrt((expected ** 2 + np.outer(np.diag(expected), np.diag(expected))) / sims.shape[1])
    assert np.max(np.abs(emp - expected) / se) < 5.5
    i, j = np.unravel_index(np.argmax(np.abs(K - np.diag(np.diag(K)))), K.shape)
    assert abs(emp[i, j]) > 0.5 * va * abs(K[i, j])


def test_simulate_keeps_sparse_fixed_levels_in_the_mean():
    """A sparse fixed factor's estimates are part of the fixed mean the responses are drawn around."""
    import pandas as pd
    rng = np.random.default_rng(2)
    herd = np.repeat(np.arange(30), 8)
    g = np.tile(np.arange(12), 20)
    y = 10 * herd / 30 + rng.standard_normal(12)[g] + rng.standard_normal(herd.size)
    df = pd.DataFrame({"y": y, "herd": herd.astype(str), "g": g.astype(str)})
    fit = fastmme.lmm("y ~ 1 + herd + (1 | g)", df, sparse_fixed=["herd"])
    sims = fit.simulate(3000, seed=1).to_numpy()
    mean = fit.predict(re=False)
    var = fit.sigma ** 2 + float(np.asarray(fit.core.covariances[0]).squeeze())
    assert np.max(np.abs(sims.mean(axis=1) - mean) / np.sqrt(var / 3000)) < 4.5


def test_public_breeding_accessors_match_the_core():
    """fit.heritability / reliability / variance_components / the optimiser's record are the public
    names of FitResult's (docs use these, not fit.core)."""
    import pandas as pd
    rng = np.random.default_rng(4)
    n = 30
    B = rng.standard_normal((n, 2))
    K = 0.6 * np.eye(n) + B @ B.T / 5
    labels = [f"a{i}" for i in range(n)]
    df = pd.DataFrame({"animal": np.repeat(labels, 2), "pe": np.repeat(labels, 2),
                       "y": rng.standard_normal(2 * n)})
    fit = fastmme.lmm("y ~ 1 + (1 | animal) + (1 | pe)", df, relmat={"animal": pd.DataFrame(K, index=labels, columns=labels)})
    assert fit.heritability("animal") == fit.core.heritability(0)
    assert fit.heritability(1) == fit.core.heritability(1)
    rel = fit.reliability("pe")
    assert list(rel.index) == list(fit.core.levels[1]) and np.array_equal(rel.to_numpy(), fit.core.reliability(1))
    pd.testing.assert_frame_equal(fit.variance_components(), fit.core.variance_components())
    assert (fit.optimizer, fit.n_evals, fit.fallbacks, fit.certificate, fit.optimizer_message) == \
        (fit.core.optimizer, fit.core.n_evals, fit.core.fallbacks, fit.core.certificate, fit.core.optimizer_message)
    for bad in ("nope", 5, True):
        with pytest.raises(fastmme.FastmmeError, match="term"):
            fit.heritability(bad)
    p = fit.predict()
    assert isinstance(p, pd.Series) and p.index.equals(fit.fitted.index)
    assert isinstance(fit.predict(df.iloc[:5], re=False), pd.Series)


def test_fastmme_simulate_is_lmes_simulate_and_the_breeding_generator_moved(sleep):
    import importlib
    import warnings
    d, fit = sleep
    import pandas as pd
    pd.testing.assert_frame_equal(fastmme.simulate(fit, 3, seed=2), fit.simulate(3, seed=2))
    with pytest.raises(fastmme.FastmmeError, match="breeding_data"):
        fastmme.simulate(d)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        pop = fastmme.simulate.population
    assert pop is fastmme.breeding_data.population and issubclass(w[-1].category, DeprecationWarning)
    with pytest.raises(ModuleNotFoundError, match="breeding_data"):
        importlib.import_module("fastmme.simulate")
    from fastmme.breeding_data import animal_model_records  # noqa: F401


def test_percentile_endpoints_are_boots():
    """boot's norm.inter (what lme4's confint(method = "boot") uses), tools/make_boot_reference.R."""
    import json
    import pathlib
    from fastmme.results.inference import norm_inter
    ref = json.loads((pathlib.Path(__file__).parent / "fixtures" / "boot_percentile.json").read_text())
    for case in ref["cases"]:
        t = np.array([np.nan if v in (None, "NA") else v for v in case["t"]], dtype=float)
        t[np.asarray(case["infinite"], dtype=int)] = np.inf
        np.testing.assert_allclose(norm_inter(t, case["alpha"]), case["out"], rtol=1e-13)


def test_bootstrap_intervals_cover_the_estimates_and_are_named_as_the_others(sleep):
    d, fit = sleep
    ci = fit.confint(method="boot", nsim=60, seed=3)
    assert list(ci.index) == list(fit.confint().index) and list(ci.columns) == ["2.5 %", "97.5 %"]
    prof = fit.confint(method="profile")
    est = np.concatenate([[24.74, 0.066, 5.92, 25.59], np.array(fit.fixef)])
    assert np.all(ci.iloc[:, 0].to_numpy() < est) and np.all(est < ci.iloc[:, 1].to_numpy())
    width_b = (ci.iloc[:, 1] - ci.iloc[:, 0]).to_numpy()
    width_p = (prof.iloc[:, 1] - prof.iloc[:, 0]).to_numpy()
    assert np.all(width_b / width_p > 0.5) and np.all(width_b / width_p < 2)   # 60 replicates: rough
    pd_ = __import__("pandas")
    pd_.testing.assert_frame_equal(ci, fit.confint(method="boot", nsim=60, seed=3))
