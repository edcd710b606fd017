"""Bad input: a FastmmeError naming the problem, never a crash or a silent change; caller data intact."""
import warnings

import numpy as np
import pytest

import fastmme
from fastmme import ConvergenceWarning, FastmmeError, RankDeficiencyWarning, Term


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    n = 40
    g = np.repeat(np.arange(8), 5)
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    y = X @ [1.0, 2.0] + np.repeat(rng.normal(size=8), 5) + rng.normal(size=n)
    return y, X, g


def test_mismatched_lengths(data):
    y, X, g = data
    with pytest.raises(FastmmeError, match="length"):
        fastmme.Model(y[:-1], X, [Term(g)])
    with pytest.raises(FastmmeError, match="groups has length"):
        fastmme.Model(y, X, [Term(g[:-1])])
    with pytest.raises(FastmmeError, match="weights has length"):
        fastmme.Model(y, X, [Term(g)], weights=np.ones(3))


@pytest.mark.parametrize("where", ["y", "X", "z", "weights"])
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_nan_and_inf_are_refused_not_dropped(data, where, value):
    y, X, g = data
    y, X, w, z = y.copy(), X.copy(), np.ones(len(y)), X.copy()
    {"y": y, "X": X[:, 1], "z": z[:, 1], "weights": w}[where][3] = value
    with pytest.raises(FastmmeError, match="NaN or inf"):
        fastmme.Model(y, X, [Term(g, z=z)], weights=w)


@pytest.mark.parametrize("w0", [0.0, -1.0])
def test_non_positive_weights(data, w0):
    y, X, g = data
    w = np.ones(len(y))
    w[5] = w0
    with pytest.raises(FastmmeError, match="weights must be positive"):
        fastmme.Model(y, X, [Term(g)], weights=w)


def test_as_many_levels_as_observations(data):
    y, X, g = data
    with pytest.raises(FastmmeError, match="40 levels for 40 observations.*remove the term or add replicates"):
        fastmme.Model(y, X, [Term(np.arange(len(y)), name="id")])


def test_single_level(data):
    y, X, g = data
    with pytest.raises(FastmmeError, match="single level"):
        fastmme.Model(y, X, [Term(np.zeros(len(y)))])


def test_more_random_effects_than_observations(data):
    y, X, g = data
    z = np.column_stack([np.ones(len(y)), X[:, 1], X[:, 1] ** 2, X[:, 1] ** 3, np.sin(X[:, 1])])
    with pytest.raises(FastmmeError, match="random effects for 40 observations"):
        fastmme.Model(y, X, [Term(g, z=z)])


def test_too_few_observations():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(4, 4))
    with pytest.raises(FastmmeError, match="4 observations for 4 fixed effects"):
        fastmme.Model(rng.normal(size=4), X, [Term([0, 0, 1, 1])])


def test_no_terms(data):
    y, X, g = data
    with pytest.raises(FastmmeError, match="at least one random-effects Term"):
        fastmme.Model(y, X, [])
    with pytest.raises(FastmmeError, match="not a fastmme.Term"):
        fastmme.Model(y, X, [g])


def test_wrong_theta(data):
    y, X, g = data
    m = fastmme.Model(y, X, [Term(g)])
    with pytest.raises(FastmmeError, match="theta has 2 values"):
        m.deviance([1.0, 2.0])
    with pytest.raises(FastmmeError, match="finite"):
        m.deviance([np.nan])


def test_rank_deficient_X_drops_aliased_columns_with_warning(data):
    y, X, g = data
    X3 = np.column_stack([X, 2 * X[:, 1] - X[:, 0]])
    with pytest.warns(RankDeficiencyWarning, match="dropping 1 column.*x_dup"):
        m = fastmme.Model(y, X3, [Term(g)], x_names=["(Intercept)", "x", "x_dup"])
    res = m.fit()
    ref = fastmme.fit(y, X, [Term(g)])
    assert res.x_names == ("(Intercept)", "x") and res.dropped == ("x_dup",)
    np.testing.assert_allclose(res.beta, ref.beta, rtol=1e-10)
    assert res.deviance == pytest.approx(ref.deviance, rel=1e-12)
    # predict accepts the full X (the dropped column is ignored) or the kept columns
    np.testing.assert_allclose(res.predict(X3[:3]), res.predict(X[:3]))


def test_zero_column_is_dropped(data):
    y, X, g = data
    with pytest.warns(RankDeficiencyWarning, match="zero"):
        res = fastmme.fit(y, np.column_stack([X, np.zeros(len(y))]), [Term(g)],
                          x_names=["(Intercept)", "x", "zero"])
    assert res.dropped == ("zero",)


def test_non_convergence_warns_and_reports(data):
    y, X, g = data
    z = np.column_stack([np.ones(len(y)), X[:, 1]])
    with pytest.warns(ConvergenceWarning, match="without converging"):
        res = fastmme.Model(y, X, [Term(g, z=z)]).fit(maxeval=4)
    assert res.converged is False
    assert "optimiser did not converge" in res.summary()


def test_caller_data_are_not_modified(data):
    y, X, g = data
    z = np.column_stack([np.ones(len(y)), X[:, 1]])
    w = np.linspace(0.5, 2, len(y))
    copies = [a.copy() for a in (y, X, g, z, w)]
    m = fastmme.Model(y, X, [Term(g, z=z)], weights=w)
    res = m.fit()
    res.predict(X, [g], [z])
    m.deviance([0.5, 0.1, 0.3])
    fastmme.dense.DenseModel(y, X, [Term(g, z=z)], weights=w).gls([0.5, 0.1, 0.3])
    for a, b in zip((y, X, g, z, w), copies):
        np.testing.assert_array_equal(a, b)


def test_results_are_immutable(data):
    y, X, g = data
    res = fastmme.fit(y, X, [Term(g)])
    with pytest.raises(Exception):
        res.sigma = 1.0
    with pytest.raises(ValueError):
        res.beta[0] = 0.0
    with pytest.raises(ValueError):
        res.blups[0][0, 0] = 0.0
    with pytest.raises(ValueError):
        res.cond_var[0][0, 0, 0] = 0.0


def test_fit_does_not_change_the_model(data):
    y, X, g = data
    m = fastmme.Model(y, X, [Term(g)])
    d0 = m.deviance([0.7])
    r1 = m.fit()
    assert m.deviance([0.7]) == d0
    r2 = m.fit()
    np.testing.assert_array_equal(r1.theta, r2.theta)
    assert r1.deviance == r2.deviance


def test_string_groups_and_predict_with_labels():
    rng = np.random.default_rng(3)
    g = np.array(["north", "south", "east", "west"])[np.repeat(np.arange(4), 6)]
    y = rng.normal(size=24) + (g == "north") * 2
    res = fastmme.fit(y, np.ones((24, 1)), [Term(g, name="region")])
    assert list(res.levels[0]) == ["east", "north", "south", "west"]
    with pytest.raises(fastmme.FastmmeError, match="levels of region not in the fit: nowhere"):
        res.predict(np.ones((2, 1)), [np.array(["north", "nowhere"])])
    p = res.predict(np.ones((2, 1)), [np.array(["north", "nowhere"])], new_levels="population")
    assert p[0] == pytest.approx(res.beta[0] + res.blups[0][1, 0])
    assert p[1] == pytest.approx(res.beta[0])
