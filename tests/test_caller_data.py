"""The caller's data are never modified: every public entry point, called on its inputs, leaves them
equal (values, dtypes, index, column order, write flag) to deep copies taken before the call.

`ENTRY_POINTS` lists each public function or method with a call on fresh inputs; a meta-test checks
that every public name of fastmme (and of its dense, pedigree and genomic modules, and the methods
of Model, FitResult and MixedFit) is in the list, so a new entry point cannot go untested."""
import copy
import inspect
import warnings

import numpy as np
import pandas as pd
import pytest

import fastmme
from fastmme import dense, genomic, pedigree


def sleep_frame():
    df = fastmme.datasets.load("sleepstudy")
    df = df.copy()
    df.loc[df.index[3], "Reaction"] = np.nan            # a missing value: the row is dropped, not the caller's
    df["w"] = np.linspace(0.5, 2.0, len(df))
    df["grp"] = pd.Categorical(np.where(df["Days"] < 5, "early", "late"))
    return df


def arrays():
    rng = np.random.default_rng(3)
    n = 120
    g = rng.integers(0, 12, n)
    h = np.array([f"h{v}" for v in rng.integers(0, 5, n)], dtype=object)
    x = rng.normal(size=n)
    X = np.column_stack([np.ones(n), x])
    z = np.column_stack([np.ones(n), x])
    y = X @ [1.0, 0.5] + rng.normal(size=12)[g] + rng.normal(size=n)
    w = rng.uniform(0.5, 2.0, n)
    return dict(y=y, X=X, g=g, h=h, z=z, w=w)


def ped_table():
    return pd.DataFrame({"animal": ["a", "b", "c", "d", "e", "f"], "sire": ["0", "0", "a", "a", "c", "c"],
                         "dam": ["0", "0", "b", "b", "d", "0"]})


def genotypes():
    rng = np.random.default_rng(5)
    return rng.integers(0, 3, size=(4, 40)).astype(float)


def animal_frame():
    rng = np.random.default_rng(8)
    return pd.DataFrame({"animal": list("abcdefabcdef"), "y": rng.normal(size=12),
                         "herd": list("xxyyxxyyxxyy")})


# ---- one call per entry point: (name, build inputs, call) ------------------------------------------------
def _lmm(d):
    return fastmme.lmm("Reaction ~ Days + grp + (Days | Subject)", d["df"], weights="w")


def _glmm(d):
    """Every response form of glmm: cbind, a proportion with weights, a string factor; and predict."""
    g = d["gdf"]
    f1 = fastmme.glmm("cbind(k, n - k) ~ x + (1 | g)", g)
    fastmme.glmm("k / n ~ x + (1 | g)", g, weights="n", nAGQ=0)
    fastmme.glmm("r ~ x + (1 | g)", g, nAGQ=0)
    fastmme.glmm("k ~ x + (1 | g)", g, family="poisson", nAGQ=0)
    f1.predict(g, type="response")
    return f1


def _blup(d):
    return fastmme.blup("Reaction ~ Days + (1 | Subject)", d["df"], variances=[900.0], residual=650.0)


def _fit(d):
    a = d["a"]
    return fastmme.fit(a["y"], a["X"], [fastmme.Term(a["g"], z=a["z"]), fastmme.Term(a["h"])], weights=a["w"])


def _model_at_solve(d):
    a = d["a"]
    m = fastmme.Model(a["y"], a["X"], [fastmme.Term(a["g"]), fastmme.Term(a["h"])], weights=a["w"])
    th = d["theta"]
    m.deviance(th)
    m.at(th)
    m.fit()
    out = m.solve([1.0, 0.5], 1.0)
    return out


def _term(d):
    a = d["a"]
    return fastmme.Term(a["h"], z=a["z"], structure="diagonal", name="h", z_names=["one", "x"])


def _known_covariance(d):
    return fastmme.known_covariance(relationship=d["K"], labels=d["labels"])


def _anova(d):
    df = d["df"]
    f1 = fastmme.lmm("Reaction ~ Days + (1 | Subject)", df, reml=False)
    f2 = fastmme.lmm("Reaction ~ Days + (Days | Subject)", df, reml=False)
    return fastmme.anova(f1, f2)


def _mixedfit_methods(d):
    fit = d["fit"]
    new = d["df"]
    return [fit.predict(new), fit.predict(new, re=False), fit.confint(method="wald"), fit.refit_ml(),
            fit.summary(), fit.to_dict(), fit.satterthwaite(d["contrasts"]),
            fit.anova(fastmme.lmm("Reaction ~ Days + (1 | Subject)", new)), fit.anova(), fit.anova(type=1),
            fit.ranova(), fit.drop1(), fit.vcov_adjusted(), fit.coef_table_kr(), fit.summary(ddf="Kenward-Roger"),
            fit.simulate(2, seed=1),
            fit.bootstrap(2, seed=1)]


def _fitresult_methods(d):
    a, res = d["a"], d["result"]
    return [res.predict(a["X"], [a["g"], a["h"]]), res.variance_components(), res.summary()]


def _breeding(d):
    fit = fastmme.lmm("y ~ 1 + (1 | animal)", d["adf"], relmat={"animal": d["ped"]})
    return [fit.breeding_values("animal"), fit.core.reliability(), fit.core.heritability(), fit.variance_components(),
            fit.heritability("animal"), fit.reliability("animal")]


def _sparse_fixed(d):
    fit = fastmme.lmm("y ~ 1 + herd + (1 | animal)", d["adf"], relmat={"animal": d["ped"]}, sparse_fixed=["herd"])
    return [fit.fixed_levels("herd"), fit.core.fixed_levels()]


def _dense(d):
    a = d["a"]
    terms = [fastmme.Term(a["g"], z=a["z"]), fastmme.Term(a["h"])]
    dm = dense.DenseModel(a["y"], a["X"], terms, weights=a["w"])
    th = np.array([1.0, 0.2, 0.5, 0.7])
    Z = dense.design_Z(terms)
    L = dense.lambda_matrix(terms, th)
    V = Z @ L @ L.T @ Z.T + np.eye(len(a["y"]))
    spec = dense.make_spec(a["y"], a["X"], terms, weights=a["w"])
    return [dm.deviance(th), dense.gls(a["y"], a["X"], V), spec,
            dense.best_linear_predictor(a["X"][0], V[:, 0], a["y"], a["X"], V)]


def _pedigree(d):
    t = d["pt"]
    p = pedigree.read(t["animal"], t["sire"], t["dam"])
    p2 = pedigree.read(t)
    return [p.ainv(), p.inbreeding, p.logdet_A(), p.index(t["animal"]), p2.mendelian_variance]


def _genomic(d):
    M = d["M"]
    ped = pedigree.read(d["pt"])
    f = genomic.allele_frequencies(M)
    G = genomic.vanraden(M, f)
    A22 = genomic.a22(ped, d["genotyped"])
    Gb = genomic.blend(G, A22)
    return [genomic.h_inverse(ped, d["genotyped"], Gb), f]


def inputs():
    a = arrays()
    df = sleep_frame()
    K = np.array([[1.0, 0.5, 0.0], [0.5, 1.0, 0.25], [0.0, 0.25, 1.0]])
    pt = ped_table()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fastmme.lmm("Reaction ~ Days + (Days | Subject)", df)
        res = fastmme.fit(a["y"], a["X"], [fastmme.Term(a["g"]), fastmme.Term(a["h"])])
    rng = np.random.default_rng(7)
    gdf = pd.DataFrame({"g": np.repeat(list("abcdefgh"), 6), "x": rng.normal(size=48),
                        "n": rng.integers(3, 9, size=48)})
    gdf["k"] = rng.binomial(gdf["n"], 0.4)
    gdf["r"] = np.where(gdf["k"] > 1, "yes", "no")
    return dict(gdf=gdf, a=a, df=df, K=K, labels=np.array(["p", "q", "r"], dtype=object), theta=np.array([0.8, 0.4]),
                fit=fit, result=res, contrasts=np.array([[0.0, 1.0]]), pt=pt, ped=pedigree.read(pt),
                adf=animal_frame(), M=genotypes(), genotyped=np.array(["c", "d", "e", "f"], dtype=object))


def _simulate(d):
    pf = fastmme.breeding_data.population(20, 2, 3, seed=1)
    return [fastmme.simulate(d["fit"], 2, seed=1), fastmme.breeding_data.animal_model_records(pf, h2=0.3, seed=1)]


ENTRY_POINTS = {
    "lmm": _lmm, "blup": _blup, "fit": _fit, "Model": _model_at_solve, "Term": _term,
    "known_covariance": _known_covariance, "KnownCovariance": _known_covariance, "anova": _anova,
    "MixedFit": _mixedfit_methods, "FitResult": _fitresult_methods, "breeding": _breeding,
    "sparse_fixed": _sparse_fixed, "dense": _dense, "pedigree": _pedigree, "genomic": _genomic, "glmm": _glmm,
    "simulate": _simulate,
}
# public names covered by the calls above (the meta-test below)
COVERED = {
    "fastmme": {"lmm", "glmm", "blup", "fit", "Model", "Term", "known_covariance", "KnownCovariance", "anova", "MixedFit",
                "FitResult", "dense", "pedigree", "genomic", "datasets", "simulate", "breeding_data",
                "FastmmeError", "FormulaError", "FastmmeWarning", "ConvergenceWarning", "RankDeficiencyWarning"},
    "dense": {"make_spec", "design_Z", "lambda_matrix", "DenseGLS", "DenseModel", "gls", "best_linear_predictor"},
    "pedigree": {"FastmmeError", "Pedigree", "read"},
    "genomic": {"FastmmeError", "allele_frequencies", "vanraden", "blend", "a22", "HInverse", "h_inverse"},
    "Model": {"deviance", "fit", "solve", "at"},
    "FitResult": {"fixed_levels", "variance_components", "heritability", "reliability", "predict", "summary"},
    "MixedFit": {"breeding_values", "satterthwaite", "confint", "refit_ml", "anova", "predict", "fixed_levels",
                 "summary", "to_dict", "simulate", "bootstrap", "variance_components", "heritability",
                 "reliability", "ranova", "drop1", "vcov_adjusted", "coef_table_kr"},
}


def _equal(a, b) -> bool:
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
        return True
    if isinstance(a, pd.Series):
        pd.testing.assert_series_equal(a, b, check_exact=True)
        return True
    if isinstance(a, np.ndarray):
        return (a.dtype == b.dtype and a.shape == b.shape and a.flags.writeable == b.flags.writeable
                and np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    return True                                   # fits, pedigrees: checked through their own data


@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
def test_entry_point_leaves_the_callers_data_unchanged(name):
    d = inputs()
    before = {k: copy.deepcopy(v) for k, v in d.items() if isinstance(v, (np.ndarray, pd.DataFrame, dict))}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ENTRY_POINTS[name](d)
    for k, v in before.items():
        assert _equal(d[k], v), f"{name} modified the caller's {k}"


def _public(module) -> set:
    """A module's __all__, or the functions and classes it defines without a leading underscore."""
    if hasattr(module, "__all__"):
        return set(module.__all__)
    return {n for n, v in vars(module).items() if not n.startswith("_") and (inspect.isfunction(v) or inspect.isclass(v))
            and getattr(v, "__module__", "") == module.__name__}


def test_every_public_entry_point_is_covered():
    mods = {"fastmme": _public(fastmme), "dense": _public(dense), "pedigree": _public(pedigree),
            "genomic": _public(genomic)}
    assert mods["dense"] and mods["pedigree"] and mods["genomic"]
    for key, names in mods.items():
        assert set(names) <= COVERED[key], f"{key}: {set(names) - COVERED[key]} have no caller-data test"
    for cls in (fastmme.Model, fastmme.FitResult, fastmme.MixedFit):
        public = {n for n, v in vars(cls).items() if not n.startswith("_") and inspect.isfunction(v)}
        assert public <= COVERED[cls.__name__], f"{cls.__name__}: {public - COVERED[cls.__name__]} not covered"


def test_the_series_a_fit_returns_are_the_callers_copies():
    d = fastmme.datasets.load("sleepstudy")
    fit = fastmme.lmm("Reaction ~ Days + (Days | Subject)", d)
    first, res = fit.fitted.iloc[0], fit.residuals.iloc[0]
    f, r = fit.fitted, fit.residuals
    f.iloc[0] = r.iloc[0] = -1.0
    assert fit.fitted.iloc[0] == first and fit.residuals.iloc[0] == res
