"""Determinism (reliability issue): the same data give the same fit with 1 or 2 threads, in another
process, and when two models are fitted at the same time in two threads."""
import concurrent.futures
import json
import subprocess
import sys

import numba
import numpy as np
import pytest

import fastmme

RTOL = 1e-10


def crossed(seed=0, n=3000):
    rng = np.random.default_rng(seed)
    g, h = rng.integers(0, 150, n), rng.integers(0, 40, n)
    x = rng.normal(size=n)
    y = 1 + 0.5 * x + rng.normal(size=150)[g] + 0.7 * rng.normal(size=40)[h] + rng.normal(size=n)
    import pandas as pd
    return pd.DataFrame({"y": y, "x": x, "g": g, "h": h})


FORMULAS = ["y ~ x + (1 | g) + (1 | h)", "y ~ x + (1 + x | g)", "y ~ x + (1 | h/g)"]


def summary(fit):
    return {"deviance": fit.deviance, "theta": list(map(float, fit.core.theta)),
            "beta": list(map(float, fit.core.beta)), "blup0": list(map(float, np.asarray(fit.core.blups[0])[:5, 0]))}


def same(a, b):
    for k in a:
        np.testing.assert_allclose(b[k], a[k], rtol=RTOL, atol=1e-12)


@pytest.mark.parametrize("formula", FORMULAS)
def test_one_or_two_threads_give_the_same_fit(formula):
    df = crossed()
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = summary(fastmme.lmm(formula, df))
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = summary(fastmme.lmm(formula, df))
    finally:
        numba.set_num_threads(old)
    same(one, two)


def test_another_process_gives_the_same_fit():
    code = ("import json, sys; sys.path.insert(0, 'tests'); import fastmme; "
            "from test_determinism import crossed, summary, FORMULAS; "
            "print(json.dumps([summary(fastmme.lmm(f, crossed())) for f in FORMULAS]))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    other = json.loads(r.stdout.strip().splitlines()[-1])
    here = [summary(fastmme.lmm(f, crossed())) for f in FORMULAS]
    for a, b in zip(here, other):
        same(a, b)


def test_two_fits_at_once_in_threads_equal_the_fits_one_after_the_other():
    data = [crossed(seed=1), crossed(seed=2)]
    jobs = [(FORMULAS[0], data[0]), (FORMULAS[1], data[1]), (FORMULAS[0], data[1]), (FORMULAS[1], data[0])]
    sequential = [summary(fastmme.lmm(f, d)) for f, d in jobs]
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        concurrent_ = list(pool.map(lambda job: summary(fastmme.lmm(*job)), jobs))
    for a, b in zip(sequential, concurrent_):
        same(a, b)


def test_the_sparse_path_is_deterministic_across_threads_and_concurrent_fits():
    """The CHOLMOD evaluator (an animal model: relationship matrix, sparse fixed groups)."""
    from fastmme import breeding_data as simulate
    pf = simulate.population(200, 4, 12, seed=8)
    df, ped, _ = simulate.animal_model_records(pf, h2=0.3, groups=12, seed=8)

    def fit():
        f = fastmme.lmm("y ~ sex + cg + (1 | animal)", df, relmat={"animal": ped}, sparse_fixed=["cg"])
        assert f.model._objective.evaluator == "cholmod"
        return summary(f)
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = fit()
    finally:
        numba.set_num_threads(old)
    same(one, fit())
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        for r in pool.map(lambda _: fit(), range(2)):
            same(one, r)
