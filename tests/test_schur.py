"""The Schur evaluator (the dense Schur complement) equals the CHOLMOD evaluation (and so the dense-GLS oracle)."""
import numpy as np
import pytest

import fastmme
from fastmme.evaluate.objective import ProfiledDeviance
from designs import random_design


def two(kind, seed, weights):
    y, X, terms, theta, w = random_design(kind, seed=seed, weights=weights)
    m = fastmme.Model(y, X, terms, weights=w)
    spec = m.spec
    chol = ProfiledDeviance(spec, evaluator="cholmod")
    sc = ProfiledDeviance(spec, evaluator="schur")
    return chol, sc, theta


@pytest.mark.parametrize("kind", ["crossed", "nested", "slopes", "diagonal", "partial", "three"])
@pytest.mark.parametrize("weights", [False, True])
def test_schur_equals_cholmod(kind, weights):
    for seed in range(3):
        chol, sc, theta = two(kind, seed, weights)
        assert sc.evaluator == "schur" and chol.evaluator == "cholmod"
        rng = np.random.default_rng(seed)
        for th in (theta, theta * rng.uniform(0.05, 4, theta.shape), np.zeros_like(theta)):
            a, b = chol.evaluate(th), sc.evaluate(th)
            assert b.ldL2 == pytest.approx(a.ldL2, rel=1e-10, abs=1e-10)
            assert b.ldRX2 == pytest.approx(a.ldRX2, rel=1e-10, abs=1e-10)
            assert b.pwrss == pytest.approx(a.pwrss, rel=1e-10)
            for reml in (True, False):
                assert sc.deviance(th, reml) == pytest.approx(chol.deviance(th, reml), rel=1e-11)


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
    chol, sc = ProfiledDeviance(spec, evaluator="cholmod"), ProfiledDeviance(spec, evaluator="schur")
    assert sc.schur.s == 1
    for th in ([0.5, 1.2, -0.3, 0.7], [2.0, 0.1, 0.5, 0.0]):
        assert sc.deviance(th) == pytest.approx(chol.deviance(th), rel=1e-11)


def test_fits_agree_and_results_agree():
    """Schur evaluator (gradient, L-BFGS-B, results by its own solves) against CHOLMOD (BOBYQA, sparse
    solves): the same optimum, and at one θ the same BLUEs, BLUPs and Var(β̂)."""
    for kind in ("crossed", "slopes", "oneway"):
        y, X, terms, theta, w = random_design(kind, seed=9, weights=True)
        spec = fastmme.Model(y, X, terms, weights=w).spec
        a = fastmme.Model(y, X, terms, weights=w)
        a._objective = ProfiledDeviance(spec, evaluator="schur")
        b = fastmme.Model(y, X, terms, weights=w)
        b._objective = ProfiledDeviance(spec, evaluator="cholmod")
        ra, rb = a.fit(), b.fit()
        assert ra.deviance <= rb.deviance * (1 + 1e-12)
        assert ra.deviance == pytest.approx(rb.deviance, rel=1e-10)
        ra, rb = a.at(theta), b.at(theta)
        np.testing.assert_allclose(ra.beta, rb.beta, rtol=1e-10)
        np.testing.assert_allclose(ra.beta_cov, rb.beta_cov, rtol=1e-9)
        for u, v in zip(ra.blups, rb.blups):
            np.testing.assert_allclose(u, v, rtol=1e-8, atol=1e-10 * np.abs(v).max())
        assert ra.sigma == pytest.approx(rb.sigma, rel=1e-12)


def test_single_term_models_use_the_schur_evaluator():
    """One term: S holds only X and y, so the level-by-level elimination is exact and cheap, and it
    brings the gradient."""
    y, X, terms, theta, w = random_design("oneway", seed=1)
    obj = fastmme.Model(y, X, terms)._objective
    assert obj.evaluator == "schur" and obj.has_gradient and obj.schur.m == X.shape[1] + 1


def test_parallel_kernels_are_deterministic_across_thread_counts():
    """Each thread owns whole levels (pass 1) or whole column panels (pass 2): the result is bitwise
    the same with 1 or 2 threads."""
    import numba
    chol, sc, theta = two("crossed", 3, True)
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        sc._eval_cache = None
        one = sc.deviance(theta * 0.7)
        g1 = sc.deviance_and_gradient(theta * 0.6)[1]
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        sc._eval_cache = None
        assert sc.deviance(theta * 0.7) == one
        assert np.array_equal(sc.deviance_and_gradient(theta * 0.6)[1], g1)
    finally:
        numba.set_num_threads(old)


def test_gradient_by_ranges_of_levels_is_the_same(monkeypatch):
    """The gradient's V is computed for ranges of levels (schur.V_BYTES): any number of ranges gives
    bitwise the same gradient, and a released workspace is made again."""
    from fastmme.evaluate import schur
    for kind in ("crossed", "slopes", "three"):
        chol, sc, theta = two(kind, 4, True)
        g1 = sc.deviance_and_gradient(theta * 0.8)[1]
        monkeypatch.setattr(schur, "V_BYTES", 1)              # the most ranges (2 chunks per thread each)
        sc.release()
        assert sc.schur.W is None
        g64 = sc.deviance_and_gradient(theta * 0.8)[1]
        monkeypatch.undo()
        assert np.array_equal(g1, g64)


def test_evaluator_choice_is_made_from_counts_not_timings(monkeypatch):
    """A nested design (S sparse): the choice between the Schur and the CHOLMOD evaluator comes from
    estimated costs, so the same data always take the same path (and the same optimiser), whatever
    the clock says; a sparse factor that would not fit in memory keeps the Schur evaluator."""
    import time

    from fastmme.linalg import cholmod
    rng = np.random.default_rng(2)
    n = 20000
    a = rng.integers(0, 1000, n)
    b = a * 10 + rng.integers(0, 10, n)
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    y = X @ [1.0, 0.5] + rng.normal(size=1000)[a] + rng.normal(size=n)
    spec = fastmme.Model(y, X, [fastmme.Term(a, name="a"), fastmme.Term(b, name="a:b")]).spec
    first = ProfiledDeviance(spec)
    assert first.evaluator == "cholmod"          # nested: CHOLMOD's sparse factor is far cheaper
    costs = first.evaluator_costs
    assert costs["cholmod"] < costs["schur"]
    clock = iter(np.random.default_rng(0).uniform(0, 100, 10_000))
    monkeypatch.setattr(time, "perf_counter", lambda: next(clock))
    again = ProfiledDeviance(spec)
    assert again.evaluator == first.evaluator and again.evaluator_costs == costs
    monkeypatch.setattr(cholmod, "available_memory", lambda: 1000)
    monkeypatch.setattr(cholmod, "GUARD_MIN_BYTES", 0)
    assert ProfiledDeviance(spec).evaluator == "schur"


@pytest.mark.parametrize("kind", ["crossed", "slopes", "diagonal", "partial", "three"])
def test_inverse_blocks_from_the_schur_factors_equal_the_selected_inverses(kind):
    """inverse_blocks (condVar, PEVs) from the Schur complement's own factors (S⁻¹ and the level factors,
    DenseSchur.inverse_parts) equals the route by the sparse factor's selected inverse, with β̂ known and not,
    and makes no sparse factor."""
    for seed in range(2):
        chol, sc, theta = two(kind, seed, weights=seed == 1)
        th = theta * np.random.default_rng(seed).uniform(0.3, 2.0, theta.shape)
        for fixed_known in (True, False):
            for a, b in zip(chol.inverse_blocks(th, fixed_known), sc.inverse_blocks(th, fixed_known)):
                assert a.shape == b.shape
                np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12 * float(np.max(np.abs(a))))
        assert sc._chol is None


def test_cond_var_of_a_schur_fit_makes_no_sparse_factor():
    """condVar at the estimate (fastmme.evaluate.at_estimate) from the Schur evaluator's factors equals the
    route by the sparse factor, and the Schur objective never makes that factor."""
    from fastmme.evaluate.at_estimate import _cond_var
    chol, sc, theta = two("crossed", 4, weights=True)
    for a, b in zip(_cond_var(chol, theta, 1.7), _cond_var(sc, theta, 1.7)):
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-14)
    assert sc._chol is None and chol._chol is not None
