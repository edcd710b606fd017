"""The dense Schur-complement evaluator equals the CHOLMOD evaluation (and so the dense-GLS oracle)."""
import numpy as np
import pytest

import fastmme
from fastmme.objective import ProfiledDeviance
from designs import random_design


def two(kind, seed, weights):
    y, X, terms, theta, w = random_design(kind, seed=seed, weights=weights)
    m = fastmme.Model(y, X, terms, weights=w)
    spec = m.spec
    chol = ProfiledDeviance(spec, evaluator="cholmod")
    dense = ProfiledDeviance(spec, evaluator="dense")
    return chol, dense, theta


@pytest.mark.parametrize("kind", ["crossed", "nested", "slopes", "diagonal", "partial"])
@pytest.mark.parametrize("weights", [False, True])
def test_dense_schur_equals_cholmod(kind, weights):
    for seed in range(3):
        chol, dense, theta = two(kind, seed, weights)
        assert dense.evaluator == "dense" and chol.evaluator == "cholmod"
        rng = np.random.default_rng(seed)
        for th in (theta, theta * rng.uniform(0.05, 4, theta.shape), np.zeros_like(theta)):
            a, b = chol.evaluate(th), dense.evaluate(th)
            assert b.ldL2 == pytest.approx(a.ldL2, rel=1e-10, abs=1e-10)
            assert b.ldRX2 == pytest.approx(a.ldRX2, rel=1e-10, abs=1e-10)
            assert b.pwrss == pytest.approx(a.pwrss, rel=1e-10)
            for reml in (True, False):
                assert dense.deviance(th, reml) == pytest.approx(chol.deviance(th, reml), rel=1e-11)


def test_slopes_term_eliminated():
    """The eliminated term has r = 2 (random slopes): the per-level blocks are 2 × 2."""
    rng = np.random.default_rng(5)
    n = 400
    g = rng.integers(0, 60, n)
    h = rng.integers(0, 7, n)
    x = rng.normal(size=n)
    X = np.column_stack([np.ones(n), x])
    y = X @ [1, 2] + rng.normal(size=60)[g] + rng.normal(size=60)[g] * x + rng.normal(size=7)[h] + rng.normal(size=n)
    terms = [fastmme.Term(h, name="h"), fastmme.Term(g, z=X, name="g")]
    spec = fastmme.Model(y, X, terms).spec
    chol, dense = ProfiledDeviance(spec, evaluator="cholmod"), ProfiledDeviance(spec, evaluator="dense")
    assert dense.dense.s == 1
    for th in ([0.5, 1.2, -0.3, 0.7], [2.0, 0.1, 0.5, 0.0]):
        assert dense.deviance(th) == pytest.approx(chol.deviance(th), rel=1e-11)


def test_fits_agree_and_results_come_from_cholmod():
    y, X, terms, theta, w = random_design("crossed", seed=9)
    spec = fastmme.Model(y, X, terms).spec
    a = fastmme.Model(y, X, terms)
    a._objective = ProfiledDeviance(spec, evaluator="dense")
    b = fastmme.Model(y, X, terms)
    b._objective = ProfiledDeviance(spec, evaluator="cholmod")
    ra, rb = a.fit(), b.fit()
    assert ra.deviance == pytest.approx(rb.deviance, rel=1e-12)
    np.testing.assert_allclose(ra.beta, rb.beta, rtol=1e-6)


def test_single_term_models_use_cholmod():
    y, X, terms, theta, w = random_design("oneway", seed=1)
    assert fastmme.Model(y, X, terms)._objective.evaluator == "cholmod"


def test_parallel_kernels_are_deterministic_across_thread_counts():
    """Each thread owns whole levels (pass 1) or whole column panels (pass 2): the result is bitwise
    the same with 1 or 2 threads."""
    import numba
    chol, dense, theta = two("crossed", 3, True)
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        dense._eval_cache = None
        one = dense.deviance(theta * 0.7)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        dense._eval_cache = None
        assert dense.deviance(theta * 0.7) == one
    finally:
        numba.set_num_threads(old)
