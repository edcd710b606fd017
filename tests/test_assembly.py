"""The row pass: every assembled block equals the dense product; chunks add up."""
import numpy as np
import pytest

from fastmme.assembly.blocks import assemble, stack_terms
from fastmme.assembly.pattern import ZtZPattern
from naive import dense_blocks, zz_to_dense
from designs import KINDS, random_design


@pytest.mark.parametrize("kind", KINDS)
def test_blocks_equal_dense_products(kind):
    y, X, terms, theta, w = random_design(kind, seed=3, weights=True)
    codes, zcat = stack_terms(terms)
    r = [t.r for t in terms]
    J = [t.n_levels for t in terms]
    pattern = ZtZPattern.from_codes(codes, r, J)
    b = assemble(pattern, codes, zcat, X, y, w)
    ref = dense_blocks(terms, X, y, w)
    np.testing.assert_allclose(zz_to_dense(pattern, b.zz), ref["ZtZ"], rtol=1e-13, atol=1e-12)
    np.testing.assert_allclose(b.ZtX, ref["ZtX"], rtol=1e-13, atol=1e-12)
    np.testing.assert_allclose(b.Zty, ref["Zty"], rtol=1e-13, atol=1e-12)
    np.testing.assert_allclose(b.XtX, ref["XtX"], rtol=1e-13)
    np.testing.assert_allclose(b.Xty, ref["Xty"], rtol=1e-13)
    assert b.yty == pytest.approx(ref["yty"], rel=1e-13)
    assert b.sum_log_w == pytest.approx(np.sum(np.log(w)), rel=1e-13)
    assert b.n == len(y)
    # the pattern holds exactly the nonzero blocks: every stored pair occurs in some row
    assert pattern.size == len(b.zz)


@pytest.mark.parametrize("kind", ["crossed", "slopes", "partial"])
def test_chunks_add_up(kind):
    """Blocks of row chunks (on the union of their patterns) sum to the blocks of all rows."""
    y, X, terms, theta, w = random_design(kind, seed=5, weights=True)
    codes, zcat = stack_terms(terms)
    r = [t.r for t in terms]
    J = [t.n_levels for t in terms]
    cuts = [0, 7, 8, 30, len(y)]       # uneven, one chunk of a single row
    parts = [slice(a, b) for a, b in zip(cuts[:-1], cuts[1:])]
    pats = [ZtZPattern.from_codes(codes[:, s], r, J) for s in parts]
    union = pats[0]
    for pt in pats[1:]:
        union = union.union(pt)
    whole = ZtZPattern.from_codes(codes, r, J)
    assert all(np.array_equal(a, b) for a, b in zip(union.pair_keys, whole.pair_keys))
    total = None
    for s in parts:
        blk = assemble(union, codes[:, s], zcat[s], X[s], y[s], w[s])
        total = blk if total is None else total + blk
    full = assemble(whole, codes, zcat, X, y, w)
    np.testing.assert_allclose(total.zz, full.zz, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(total.ZtX, full.ZtX, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(total.XtX, full.XtX, rtol=1e-13)
    assert total.n == full.n and total.yty == pytest.approx(full.yty, rel=1e-14)


@pytest.mark.parametrize("kind", ["crossed", "slopes", "partial", "nested"])
@pytest.mark.parametrize("order", [(0, 1, 2, 3), (3, 1, 0, 2)])
def test_partial_blocks_of_chunks_merge_to_the_blocks_of_all_rows(kind, order):
    """PartialBlocks (each chunk on its own level pairs, merged in any order): the pattern and blocks
    of all rows — what Dask partitions do without a global pattern."""
    from fastmme.assembly.blocks import PartialBlocks
    y, X, terms, theta, w = random_design(kind, seed=6, weights=True)
    codes, zcat = stack_terms(terms)
    r = np.array([t.r for t in terms])
    J = np.array([t.n_levels for t in terms])
    cuts = [0, 9, 10, 33, len(y)]
    parts = [slice(a, b) for a, b in zip(cuts[:-1], cuts[1:])]
    partial = [PartialBlocks.from_rows(r, J, codes[:, s], zcat[s], X[s], y[s], w[s]) for s in parts]
    total = partial[order[0]]
    for i in order[1:]:
        total = total + partial[i]
    pattern, blocks = total.finish()
    whole = ZtZPattern.from_codes(codes, r, J)
    assert all(np.array_equal(a, b) for a, b in zip(pattern.pair_keys, whole.pair_keys))
    full = assemble(whole, codes, zcat, X, y, w)
    np.testing.assert_allclose(blocks.zz, full.zz, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(blocks.ZtX, full.ZtX, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(blocks.XtX, full.XtX, rtol=1e-13)
    assert blocks.n == full.n and blocks.sum_log_w == pytest.approx(full.sum_log_w, rel=1e-13)


def test_locate_refuses_rows_outside_the_pattern():
    from fastmme import FastmmeError
    codes = np.array([[0, 1, 0], [0, 1, 1]], dtype=np.int32)
    pattern = ZtZPattern.from_codes(codes[:, :2], [1, 1], [2, 2])
    with pytest.raises(FastmmeError, match="outside the assembled pattern"):
        pattern.locate(codes)


@pytest.mark.parametrize("seed", range(4))
def test_pair_kernel_equals_unique_and_searchsorted(seed):
    """The counting-sort pair kernel gives np.unique's keys and np.searchsorted's row positions."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 3000))
    Jk, Jl = int(rng.integers(1, 200)), int(rng.integers(1, 50))
    codes = np.vstack([rng.integers(0, Jk, n), rng.integers(0, Jl, n)]).astype(np.int32)
    pattern, rows = ZtZPattern.from_codes(codes, [1, 1], [Jk, Jl], with_rows=True)
    key = codes[0].astype(np.int64) * Jl + codes[1]
    keys = np.unique(key)
    np.testing.assert_array_equal(pattern.pair_keys[0], keys)
    np.testing.assert_array_equal(rows[0], np.searchsorted(keys, key))
    np.testing.assert_array_equal(pattern.locate(codes)[0], rows[0])


def test_dask_input_without_a_distributed_client_sums_every_partition(monkeypatch):
    """With Dask's local scheduler (no distributed Client) the partial sums are added up in this
    process (a tree of fan-in 2: 6 → 3 → 2): the fit equals the in-memory one, with empty and
    one-row partitions."""
    import dask.dataframe as dd
    import pandas as pd

    import fastmme
    from fastmme.distributed import partitioned
    from fastmme.distributed.partitioned import _client
    monkeypatch.setattr(partitioned, "SPLIT_EVERY", 2)
    assert _client() is None
    rng = np.random.default_rng(1)
    n = 3000
    df = pd.DataFrame({"y": rng.normal(size=n), "g": rng.integers(0, 50, n), "h": rng.integers(0, 9, n)})
    a = fastmme.lmm("y ~ 1 + (1 | g) + (1 | h)", df)
    cuts = [0, 0, 1, 700, 700, 2100, n]
    parts = [df.iloc[lo:hi] for lo, hi in zip(cuts[:-1], cuts[1:])]
    ddf = dd.concat([dd.from_pandas(p, npartitions=1) for p in parts])
    b = fastmme.lmm("y ~ 1 + (1 | g) + (1 | h)", ddf)
    assert b.deviance == pytest.approx(a.deviance, rel=1e-12)
    np.testing.assert_allclose(b.core.theta, a.core.theta, rtol=1e-9)
