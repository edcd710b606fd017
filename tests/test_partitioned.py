"""Dask input (fastmme.distributed.partitioned): a fit of partitioned rows equals the in-memory fit of the same
rows; missing rows, empty partitions, levels in one partition only; Dask outputs; dying workers.

One LocalCluster with two worker processes serves the module (worker processes, as on a cluster:
everything a task needs is pickled)."""
import os
import subprocess
import sys
import uuid

import numpy as np
import pandas as pd
import pytest

import fastmme
from fastmme import FastmmeError

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("dask.distributed")

RTOL = 1e-10
RTOL_OPT = 1e-8


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as cluster, distributed.Client(cluster) as c:
        yield c


def _data(n=4000, seed=3):
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 80, n)
    h = rng.choice([f"h{i:02d}" for i in range(12)], n)
    df = pd.DataFrame({"g": g, "h": h, "x": rng.normal(size=n), "f": rng.choice(["u", "v", "w"], n),
                       "w": rng.uniform(0.5, 2.0, n)})
    df["y"] = (1 + 0.5 * df.x + rng.normal(size=80)[g] * (1 + 0.3 * df.x) +
               0.6 * rng.normal(size=12)[pd.Series(h).str[1:].astype(int)] + rng.normal(size=n))
    df.loc[[5, 17, 400], "x"] = np.nan              # dropped rows
    df.loc[[9], "h"] = None
    return df


def _uneven(df, sizes):
    """A Dask frame of consecutive chunks of `df` with these row counts (0: an empty partition)."""
    cuts = np.concatenate([[0], np.cumsum(sizes)])
    assert cuts[-1] == len(df)
    chunks = [df.iloc[cuts[i]:cuts[i + 1]] for i in range(len(sizes))]
    return dd.from_map(_identity, chunks, meta=df.head(0), enforce_metadata=False)


def _identity(chunk):
    return chunk


def _same(a, b):
    assert b.partitioned and not a.partitioned
    np.testing.assert_allclose(b.deviance, a.deviance, rtol=RTOL)
    # θ̂, β̂ and the BLUPs to the optimiser's precision: the two paths take different centres off the
    # response (in memory the least-squares fit, on the workers a sample mean), which moves the criterion's
    # rounding and with it where the optimiser stops, by 1e-10 relative
    np.testing.assert_allclose(b.core.theta, a.core.theta, rtol=RTOL_OPT, atol=1e-12)
    np.testing.assert_allclose(b.core.beta, a.core.beta, rtol=RTOL_OPT, atol=1e-12)
    for ba, bb in zip(a.core.blups, b.core.blups):
        np.testing.assert_allclose(bb, ba, rtol=RTOL_OPT, atol=1e-10)
    assert [list(v) for v in a.core.levels] == [list(v) for v in b.core.levels]
    assert b.nobs == a.nobs and b.n_dropped == a.n_dropped and b.nobs + b.n_dropped == b.design.n_rows


@pytest.mark.parametrize("formula", ["y ~ x + f + (1 | g) + (1 | h)",      # crossed
                                     "y ~ x + (1 | h/g)",                   # nested
                                     "y ~ x + f + (1 + x | g)",             # random slopes
                                     "y ~ x + (x || g) + (1 | h)"])
@pytest.mark.parametrize("fan_in", [2, 8])
def test_partitioned_fit_equals_in_memory_fit(client, formula, fan_in, monkeypatch):
    """fan_in 2: partial sums merged on the cluster (7 → 4 → 2), the last two on the driver;
    8: every partition's blocks fetched by the driver one at a time."""
    from fastmme.distributed import partitioned
    monkeypatch.setattr(partitioned, "SPLIT_EVERY", fan_in)
    df = _data()
    sorted_df = df.sort_values("g", kind="stable")            # groups confined to one partition or two
    sizes = [700, 0, 1, 1500, 0, 1299, 500]
    a = fastmme.lmm(formula, sorted_df)
    b = fastmme.lmm(formula, _uneven(sorted_df, sizes))
    _same(a, b)
    first = set(sorted_df.g.iloc[:700])
    assert first.isdisjoint(set(sorted_df.g.iloc[2000:]))    # levels that only one partition has


def test_weights_missing_rows_and_ml(client):
    df = _data(seed=5)
    ddf = dd.from_pandas(df, npartitions=5)
    a = fastmme.lmm("y ~ x + (1 | g) + (1 | h)", df, weights="w", reml=False)
    b = fastmme.lmm("y ~ x + (1 | g) + (1 | h)", ddf, weights="w", reml=False)
    _same(a, b)
    assert b.n_dropped == 4
    np.testing.assert_allclose(b.refit_ml().deviance, b.deviance, rtol=1e-12)
    np.testing.assert_allclose(b.aic, a.aic, rtol=RTOL)


@pytest.mark.parametrize("M", [1e6, 1e8])
def test_a_large_response_mean_on_partitions(client, M):
    """y = M + z: the workers take a centre off the response (the intercept absorbs it), so the criterion
    keeps its digits as in memory (spec.working_response); anova still sees the same response."""
    df = _data(seed=7).dropna()
    df = df.assign(y=df.y + M * df.y.std())
    a = fastmme.lmm("y ~ x + (1 | g) + (1 | h)", df)
    b = fastmme.lmm("y ~ x + (1 | g) + (1 | h)", dd.from_pandas(df, npartitions=4))
    assert b.design.plan.center != 0.0
    _same(a, b)
    c = fastmme.lmm("y ~ 1 + (1 | g) + (1 | h)", dd.from_pandas(df, npartitions=4))
    np.testing.assert_allclose(c.design.y, b.design.y, rtol=1e-12)
    assert fastmme.anova(c, b).shape[0] == 2


def test_aliased_columns_dropped_as_in_memory(client):
    df = _data(seed=6)
    df["x2"] = 2 * df.x - 1.0
    with pytest.warns(fastmme.RankDeficiencyWarning, match="x2"):
        a = fastmme.lmm("y ~ x + x2 + (1 | g)", df)
    with pytest.warns(fastmme.RankDeficiencyWarning, match="x2"):
        b = fastmme.lmm("y ~ x + x2 + (1 | g)", dd.from_pandas(df, npartitions=3))
    assert b.core.dropped == a.core.dropped == ("x2",)
    _same(a, b)


def test_outputs_are_dask_collections_equal_to_in_memory(client):
    df = _data(seed=7)
    ddf = dd.from_pandas(df, npartitions=4)
    a = fastmme.lmm("y ~ x + f + (1 + x | g) + (1 | h)", df)
    b = fastmme.lmm("y ~ x + f + (1 + x | g) + (1 | h)", ddf)
    for name in ("fitted", "residuals"):
        lazy = getattr(b, name)
        assert type(lazy).__module__.startswith("dask")
        got = lazy.compute()
        np.testing.assert_allclose(got.to_numpy(), getattr(a, name).reindex(got.index).to_numpy(), rtol=1e-9,
                                   atol=1e-9)
    np.testing.assert_allclose(np.sort(b.scaled_residuals.compute().to_numpy()), np.sort(a.scaled_residuals),
                               rtol=1e-9, atol=1e-9)
    new = df.iloc[:300].dropna()
    p = b.predict(dd.from_pandas(new, npartitions=3))
    assert type(p).__module__.startswith("dask")
    np.testing.assert_allclose(p.compute().to_numpy(), a.predict(new), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(b.predict(new), a.predict(new), rtol=1e-9, atol=1e-9)
    assert "assembled from 4 partitions" in b.summary()


def test_animal_model_on_partitions(client):
    from fastmme import breeding_data as simulate
    pf = simulate.population(150, 3, 10, seed=4)
    df, ped, _ = simulate.animal_model_records(pf, h2=0.3, groups=8, seed=4)
    a = fastmme.lmm("y ~ sex + cg + (1 | animal)", df, relmat={"animal": ped}, sparse_fixed=False)
    b = fastmme.lmm("y ~ sex + cg + (1 | animal)", dd.from_pandas(df, npartitions=3), relmat={"animal": ped})
    _same(a, b)
    np.testing.assert_allclose(b.core.reliability(0), a.core.reliability(0), rtol=1e-8)


def test_r_formula_idioms_on_partitions(client):
    """I(x^2), factor(), log(), as.numeric of a logical, interactions in R's order and offsets: the same
    Columns on every partition as in memory (an offset is taken off the response on the workers)."""
    df = _data(seed=11).assign(b=lambda d: d.x > 0.3, k=lambda d: d.g % 4, o=lambda d: np.cos(d.g))
    f = "y ~ f + x:f + I(x^2) + factor(k) + log(w) + as.numeric(b) + (1 + I(x^2) | g) + (1 | h)"
    a = fastmme.lmm(f, df)
    b = fastmme.lmm(f, dd.from_pandas(df, npartitions=3))
    _same(a, b)
    assert list(b.fixef.index) == list(a.fixef.index)
    assert list(a.fixef.index)[:4] == ["(Intercept)", "fv", "fw", "I(x^2)"]
    new = df.iloc[:200].dropna()
    np.testing.assert_allclose(b.predict(new), a.predict(new), rtol=1e-9, atol=1e-9)
    # offset(o): the fit of y − o; predictions add o back
    c = fastmme.lmm("y ~ x + offset(2 * o) + (1 | g)", dd.from_pandas(df, npartitions=3))
    d = fastmme.lmm("I(y - 2 * o) ~ x + (1 | g)", df)
    _same(d, c)
    np.testing.assert_allclose(c.predict(new), d.predict(new) + 2 * np.cos(new.g), rtol=1e-9, atol=1e-9)
    fit = c.fitted.compute()
    np.testing.assert_allclose(fit.to_numpy(), d.fitted.reindex(fit.index).to_numpy() + 2 * np.cos(df.g[fit.index]),
                               rtol=1e-9, atol=1e-9)
    with pytest.raises(FastmmeError, match=r"both a factor and a number: factor\(k\) and k"):
        fastmme.lmm("y ~ k + factor(k) + (1 | g)", dd.from_pandas(df, npartitions=2))


def test_bad_partitioned_input_is_refused(client):
    df = _data(seed=8)
    ddf = dd.from_pandas(df, npartitions=2)
    with pytest.raises(FastmmeError, match="unknown column 'z'"):
        fastmme.lmm("y ~ z + (1 | g)", ddf)
    with pytest.raises(FastmmeError, match=r"stateful transforms \(scale\(x\)\)"):
        fastmme.lmm("y ~ scale(x) + (1 | g)", ddf)
    with pytest.raises(FastmmeError, match=r"stateful transforms \(poly\(x, 2\)\)"):
        fastmme.lmm("y ~ 1 + (poly(x, 2) | g)", ddf)
    with pytest.raises(FastmmeError, match="sparse_fixed"):
        fastmme.lmm("y ~ f + (1 | g)", ddf, sparse_fixed=["f"])
    bad = df.assign(w=np.where(np.arange(len(df)) == 100, -1.0, df.w))
    with pytest.raises(FastmmeError, match="weights must be positive"):
        fastmme.lmm("y ~ x + (1 | g)", dd.from_pandas(bad, npartitions=2), weights="w")
    before = df.copy()
    fastmme.lmm("y ~ x + (1 | g)", ddf)
    pd.testing.assert_frame_equal(df, before)                    # the caller's data untouched


def _die(part, folder, after):
    """Kill this worker process once, at the `after`-th partition task of the whole fit."""
    if len(part):
        open(os.path.join(folder, f"call-{uuid.uuid4().hex}"), "w").close()
        calls = sum(f.startswith("call-") for f in os.listdir(folder))
        if calls >= after:
            try:
                fd = os.open(os.path.join(folder, "died"), os.O_CREAT | os.O_EXCL)
                os.close(fd)
                os._exit(1)
            except FileExistsError:
                pass
    return part


def _always_die(part):
    if len(part):
        os._exit(1)
    return part


@pytest.mark.parametrize("after", [1, 8])        # in the first pass (levels) or in the second (blocks)
def test_a_worker_that_dies_once_is_retried_and_the_fit_is_complete(client, tmp_path, after):
    df = _data(seed=9)
    ddf = dd.from_pandas(df, npartitions=5).map_partitions(_die, str(tmp_path), after, meta=df.head(0))
    a = fastmme.lmm("y ~ x + (1 | g) + (1 | h)", df)
    b = fastmme.lmm("y ~ x + (1 | g) + (1 | h)", ddf)
    assert os.path.exists(tmp_path / "died")
    _same(a, b)


def test_a_worker_that_always_dies_gives_a_clear_error(client):
    df = _data(seed=10)
    ddf = dd.from_pandas(df, npartitions=2).map_partitions(_always_die, meta=df.head(0))
    old = client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.allowed_failures)
    client.run_on_scheduler(lambda dask_scheduler: setattr(dask_scheduler, "allowed_failures", 1))
    try:
        with pytest.raises(FastmmeError, match="worker died"):
            fastmme.lmm("y ~ x + (1 | g)", ddf)
    finally:
        client.run_on_scheduler(lambda dask_scheduler, v=old: setattr(dask_scheduler, "allowed_failures", v))
    client.wait_for_workers(2, timeout=60)


def test_the_core_package_does_not_import_dask():
    code = "import sys, fastmme; fastmme.lmm; assert not any(m.split('.')[0] in ('dask', 'distributed') for m in sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)
