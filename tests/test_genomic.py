"""Genomic relationships (fastmme.genomic): VanRaden's G against its definition, A₂₂ against the
tabular A, H⁻¹ against the inverse of Legarra's H, log|H|, a single-step fit against dense GLS, and
refusals."""
import numpy as np
import pandas as pd
import pytest

import fastmme
from fastmme import FastmmeError, Model, Term, genomic, pedigree
from fastmme.dense import DenseModel
from test_pedigree import random_pedigree, tabular


def genotypes(n, m, seed):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.05, 0.95, m)
    return rng.binomial(2, p, size=(n, m)).astype(float)


def test_vanraden_g_is_its_definition():
    M = genotypes(30, 200, 1)
    G = genomic.vanraden(M)
    p = M.mean(axis=0) / 2
    naive = np.empty((30, 30))
    for i in range(30):
        for j in range(30):
            naive[i, j] = np.sum((M[i] - 2 * p) * (M[j] - 2 * p)) / (2 * np.sum(p * (1 - p)))
    np.testing.assert_allclose(G, naive, rtol=1e-12)
    np.testing.assert_allclose(genomic.allele_frequencies(M), p)
    # with base frequencies 0.5 every marker is centred at 1
    G5 = genomic.vanraden(M, freqs=np.full(200, 0.5))
    np.testing.assert_allclose(G5, (M - 1) @ (M - 1).T / 100.0, rtol=1e-12)


@pytest.fixture(scope="module")
def ped_geno():
    ped = pedigree.read(*random_pedigree(60, seed=5))
    rng = np.random.default_rng(5)
    genotyped = rng.choice(ped.labels, 25, replace=False)
    M = genotypes(25, 400, 5)
    return ped, genotyped, M


def test_a22_equals_the_tabular_relationships(ped_geno):
    ped, genotyped, _ = ped_geno
    A = tabular(ped.sire, ped.dam)
    idx = ped.index(genotyped)
    np.testing.assert_allclose(genomic.a22(ped, genotyped), A[np.ix_(idx, idx)], rtol=1e-12, atol=1e-14)


def test_h_inverse_is_the_inverse_of_legarras_h(ped_geno):
    ped, genotyped, M = ped_geno
    A = tabular(ped.sire, ped.dam)
    A22 = genomic.a22(ped, genotyped)
    G = genomic.blend(genomic.vanraden(M), A22=A22)
    np.testing.assert_allclose(G, 0.95 * genomic.vanraden(M) + 0.05 * A22)
    H = genomic.h_inverse(ped, genotyped, G)
    g = ped.index(genotyped)
    rest = np.setdiff1d(np.arange(len(ped)), g)
    # H = A + [[A12 A22⁻¹ (G − A22) A22⁻¹ A21, A12 A22⁻¹ (G − A22)], [·, G − A22]] (Legarra et al. 2009)
    A12 = A[np.ix_(rest, g)]
    Bm = A12 @ np.linalg.solve(A22, np.eye(len(g)))
    D = G - A22
    Hd = A.copy()
    Hd[np.ix_(rest, rest)] += Bm @ D @ Bm.T
    Hd[np.ix_(rest, g)] += Bm @ D
    Hd[np.ix_(g, rest)] += (Bm @ D).T
    Hd[np.ix_(g, g)] += D
    np.testing.assert_allclose(H.matrix().toarray() @ Hd, np.eye(len(ped)), atol=1e-9)
    assert H.logdet == pytest.approx(np.linalg.slogdet(Hd)[1], rel=1e-10)
    kc = fastmme.known_covariance(precision=H)
    assert list(kc.labels) == list(ped.labels) and kc.logdet == H.logdet


def test_single_step_fit_equals_dense_gls(ped_geno):
    ped, genotyped, M = ped_geno
    A22 = genomic.a22(ped, genotyped)
    H = genomic.h_inverse(ped, genotyped, genomic.blend(genomic.vanraden(M), A22=A22))
    rng = np.random.default_rng(8)
    recs = rng.choice(ped.labels, 150)
    X = np.column_stack([np.ones(150), rng.normal(size=150)])
    y = X @ [10.0, 1.0] + rng.normal(size=len(ped))[ped.index(recs)] * 2 + rng.normal(size=150)
    m = Model(y, X, [Term(recs, relationship=H)])
    dm = DenseModel(y, X, [Term(recs, relationship=H)])
    for th in (0.4, 1.7):
        assert m.deviance([th]) == pytest.approx(dm.deviance([th]), rel=1e-10)
    df = pd.DataFrame({"y": y, "x": X[:, 1], "animal": recs})
    f = fastmme.lmm("y ~ x + (1 | animal)", df, relmat={"animal": H})
    assert f.deviance == pytest.approx(m.fit().deviance, rel=1e-9)
    assert f.breeding_values("animal").shape[0] == len(ped)


def test_refusals(ped_geno):
    ped, genotyped, M = ped_geno
    with pytest.raises(FastmmeError, match="coded 0, 1 or 2"):
        genomic.vanraden(M + 0.5)
    Mn = M.copy()
    Mn[0, 0] = np.nan
    with pytest.raises(FastmmeError, match="impute"):
        genomic.vanraden(Mn)
    with pytest.raises(FastmmeError, match="monomorphic"):
        genomic.vanraden(np.zeros((5, 10)))
    G = genomic.vanraden(M[:, :10])                 # 10 markers, 25 animals: singular
    with pytest.raises(FastmmeError, match="blend"):
        genomic.h_inverse(ped, genotyped, G)
    with pytest.raises(FastmmeError, match="not in the pedigree"):
        genomic.a22(ped, ["nobody"])
