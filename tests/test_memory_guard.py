"""The memory guard (reliability issue): the factor's size is known from the symbolic structure
before any numeric work, and a factor that would not fit is refused with its size and the term
responsible, not left to the operating system's out-of-memory killer."""
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import fastmme
from fastmme import FastmmeError
from fastmme.linalg import cholmod


@pytest.mark.parametrize("seed", range(5))
def test_column_counts_equal_cholmods_factor(seed):
    rng = np.random.default_rng(seed)
    n = 80
    B = sp.random(n, n, density=0.04, random_state=rng, format="csc")
    A = sp.tril((B @ B.T + sp.eye(n) * 5).tocsc()).tocsc()
    chol = cholmod.SparseCholesky(A, ordering="natural", mode="simplicial")
    assert chol.factorize(A.data)
    counts = cholmod.factor_column_counts(A)
    L = chol._lower()
    np.testing.assert_array_equal(np.diff(L.indptr), counts)


def movielens_like(n=40_000, users=9_000, items=9_000, seed=0):
    """Two crossed factors, both too large for the Schur evaluator: CHOLMOD's factor fills to a
    dense block of the smaller factor (about 9,000² / 2 entries)."""
    rng = np.random.default_rng(seed)
    u, i = rng.integers(0, users, n), rng.integers(0, items, n)
    y = rng.normal(size=users)[u] + rng.normal(size=items)[i] + rng.normal(size=n)
    return pd.DataFrame({"y": y, "user": u, "item": i})


def test_a_factor_larger_than_the_memory_is_refused_before_factorising(monkeypatch):
    df = movielens_like()
    monkeypatch.setattr(cholmod, "available_memory", lambda: 200 << 20)
    with pytest.raises(FastmmeError) as err:
        fastmme.lmm("y ~ 1 + (1 | user) + (1 | item)", df)
    msg = str(err.value)
    assert "sparse factor of this model would have" in msg and "GB" in msg
    assert "dense block" in msg and ("user" in msg or "item" in msg) and "fewer levels" in msg


def test_small_factors_are_never_refused(monkeypatch):
    monkeypatch.setattr(cholmod, "available_memory", lambda: 1000)
    from fastmme import breeding_data as simulate
    pf = simulate.population(60, 3, 6, seed=2)
    df, ped, _ = simulate.animal_model_records(pf, h2=0.3, groups=5, seed=2)
    fit = fastmme.lmm("y ~ sex + (1 | animal)", df, relmat={"animal": ped})
    assert np.isfinite(fit.deviance)


def test_a_factor_beyond_32_bit_indices_is_refused(monkeypatch):
    """Forced on a small case: the limit of CHOLMOD's 32-bit interface, lowered to 1,000 entries."""
    from fastmme.evaluate import objective
    monkeypatch.setattr(cholmod, "MAX_FACTOR_ENTRIES", 1000)
    monkeypatch.setattr(objective, "MAX_DENSE", 0)       # CHOLMOD only (the Schur evaluator needs no factor)
    df = movielens_like(n=3000, users=400, items=300)
    with pytest.raises(FastmmeError, match="32-bit interface"):
        fastmme.lmm("y ~ 1 + (1 | user) + (1 | item) + (1 | user:item)", df)


@pytest.mark.parametrize("formula", ["y ~ 1 + (1 | user) + (1 | item)", "y ~ 1 + (1 | user) + (1 | user:item)"])
def test_forced_64_bit_indices_give_the_same_fit(monkeypatch, formula):
    """Our kernels' index arrays switch to 64 bits past 2³¹ (config.INDEX32_LIMIT); forced on a small
    design, the fit is the same."""
    from fastmme import config
    df = movielens_like(n=3000, users=300, items=60)
    a = fastmme.lmm(formula, df)
    monkeypatch.setattr(config, "INDEX32_LIMIT", 8)
    b = fastmme.lmm(formula, df)
    obj = b.model._objective
    assert a.model._objective.pattern.keys_flat.dtype == np.int32 and obj.pattern.keys_flat.dtype == np.int64
    if obj.schur is not None:
        assert obj.schur.ent_off.dtype == np.int64 and obj.schur.seg_start.dtype == np.int64
    np.testing.assert_allclose(b.deviance, a.deviance, rtol=1e-12)
    np.testing.assert_allclose(b.core.theta, a.core.theta, rtol=1e-10)
    np.testing.assert_allclose(b.core.blups[0], a.core.blups[0], rtol=1e-9, atol=1e-12)
