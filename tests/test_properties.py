"""Property tests (hypothesis): random designs (crossed, nested, partially crossed; random slopes;
weights; unbalanced; levels seen once) against the dense oracle with both evaluators, and
invariances of fits."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from scale import examples
from hypothesis import strategies as st

import fastmme
from fastmme.dense import DenseModel
from fastmme.evaluate.objective import ProfiledDeviance

SETTINGS = settings(max_examples=examples(25), deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def designs(draw):
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    n = draw(st.integers(12, 60))
    n_terms = draw(st.integers(1, 3))
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    terms, theta = [], []
    first = None
    for k in range(n_terms):
        J = draw(st.integers(2, max(2, n // 4)))
        g = rng.integers(0, J, n)
        # how the term meets the first one: crossed, nested in it, or partially crossed (each level
        # of the first term sees only a window of this term's levels)
        relation = "crossed" if first is None else draw(st.sampled_from(["crossed", "nested", "partial"]))
        if relation == "nested":
            g = first * J + rng.integers(0, J, n)
        elif relation == "partial":
            g = (first + rng.integers(0, 2, n)) % J
        if draw(st.booleans()):                           # some levels seen once
            g[:3] = g.max() + 1 + np.arange(3)
        if len(np.unique(g)) < 2:
            g[:2] = [0, 1]
        first = g if first is None else first
        r = draw(st.sampled_from([1, 1, 2]))
        structure = draw(st.sampled_from(["unstructured", "diagonal", "identity"]))
        z = None if r == 1 else np.column_stack([np.ones(n), rng.normal(size=n)])
        t = fastmme.Term(g, z=z, structure=structure)
        if t.q >= n:
            continue
        terms.append(t)
        theta.append(np.where(t.theta_lower() == 0, rng.uniform(0, 2, t.n_theta), rng.normal(0, 0.7, t.n_theta)))
    if not terms:
        terms = [fastmme.Term(np.arange(n) % 2)]
        theta = [np.array([0.5])]
    y = rng.normal(size=n) + X @ [1.0, 0.5]
    w = rng.uniform(0.5, 2, n) if draw(st.booleans()) else None
    return y, X, terms, np.concatenate(theta), w, draw(st.booleans())


@SETTINGS
@given(designs())
def test_sparse_equals_dense_at_random_theta(case):
    y, X, terms, theta, w, reml = case
    sparse = fastmme.Model(y, X, terms, reml=reml, weights=w)
    dense = DenseModel(y, X, terms, reml=reml, weights=w)
    assert sparse.deviance(theta) == pytest.approx(dense.deviance(theta), rel=1e-9)
    for evaluator in ("cholmod", "schur"):          # both evaluators, whichever `auto` picked
        obj = ProfiledDeviance(sparse.spec, evaluator=evaluator)
        assert obj.deviance(theta) == pytest.approx(dense.deviance(theta), rel=1e-9)
    res, g = sparse.at(theta), dense.gls(theta)
    np.testing.assert_allclose(res.beta, g.beta, rtol=1e-8, atol=1e-9 * np.abs(g.beta).max())
    b = np.concatenate([x.ravel() for x in res.blups])
    np.testing.assert_allclose(b, g.b, rtol=1e-7, atol=1e-9 * max(np.abs(g.b).max(), 1))


@SETTINGS
@given(designs(), st.randoms(use_true_random=False))
def test_row_permutation_and_relabelling_leave_the_criterion_unchanged(case, rnd):
    y, X, terms, theta, w, reml = case
    n = len(y)
    perm = np.array(rnd.sample(range(n), n))
    relabelled = [fastmme.Term(np.array([f"L{v}" for v in t.levels[t.codes]])[perm], z=None if t.z is None else t.z[perm],
                               structure=t.structure) for t in terms]
    # relabelling with strings keeps the level order only up to sorting: compare the criterion, which
    # does not depend on the order of the levels
    base = fastmme.Model(y, X, terms, reml=reml, weights=w).deviance(theta)
    moved = fastmme.Model(y[perm], X[perm], relabelled, reml=reml,
                          weights=None if w is None else w[perm]).deviance(theta)
    assert moved == pytest.approx(base, rel=1e-10)


@SETTINGS
@given(designs(), st.floats(0.1, 50), st.floats(-100, 100))
def test_affine_response_transformation(case, a, b):
    """y → a·y + b·x₀: β and BLUPs scale, σ scales by |a|, and −2 log L shifts by 2 n log|a| at fixed θ."""
    y, X, terms, theta, w, reml = case
    m1 = fastmme.Model(y, X, terms, reml=reml, weights=w)
    m2 = fastmme.Model(a * y + b, X, terms, reml=reml, weights=w)
    r1, r2 = m1.at(theta), m2.at(theta)
    nn = len(y) - (X.shape[1] if reml else 0)
    assert r2.deviance == pytest.approx(r1.deviance + 2 * nn * np.log(a), rel=1e-9, abs=1e-7)
    expect_beta = a * r1.beta + np.array([b, 0.0])
    np.testing.assert_allclose(r2.beta, expect_beta, rtol=1e-7, atol=1e-8 * max(1, abs(b)))
    assert r2.sigma == pytest.approx(a * r1.sigma, rel=1e-8)


@settings(max_examples=examples(25), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(2, 6), st.integers(2, 5), st.integers(0, 10_000))
def test_nested_grouping_equals_its_flattened_labels(n_a, n_b, seed):
    """(1 | a/b) with b's labels reused in every a, and (1 | a) + (1 | ab) with one label per (a, b):
    the same model, so the same criterion, θ and BLUPs (only the names differ)."""
    import pandas as pd
    rng = np.random.default_rng(seed)
    n = int(rng.integers(4 * n_a * n_b, 8 * n_a * n_b))
    a = rng.integers(0, n_a, n)
    b = rng.integers(0, n_b, n)
    y = rng.normal(size=n_a)[a] + rng.normal(size=(n_a, n_b))[a, b] + rng.normal(size=n)
    df = pd.DataFrame({"y": y, "a": a, "b": b, "ab": [f"{i}-{j}" for i, j in zip(a, b)]})
    if df.a.nunique() < 2 or df.ab.nunique() >= n:
        return
    nested = fastmme.lmm("y ~ 1 + (1 | a/b)", df)
    flat = fastmme.lmm("y ~ 1 + (1 | a) + (1 | ab)", df)
    np.testing.assert_allclose(nested.deviance, flat.deviance, rtol=1e-9)
    th_n = dict(zip(nested.model.theta_names, nested.core.theta))
    th_f = dict(zip(flat.model.theta_names, flat.core.theta))
    np.testing.assert_allclose(th_n["b:a.(Intercept)"], th_f["ab.(Intercept)"], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(th_n["a.(Intercept)"], th_f["a.(Intercept)"], rtol=1e-5, atol=1e-7)
