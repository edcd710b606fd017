"""Selected inverse (Takahashi) on the CHOLMOD factor against the dense inverse, on its pattern."""
import numpy as np
import pytest
import scipy.sparse as sp

from fastmme.linalg.cholmod import SparseCholesky


def random_spd(n, density, seed):
    rng = np.random.default_rng(seed)
    B = sp.random(n, n, density=density, random_state=rng, format="csc")
    A = (B @ B.T + sp.eye(n) * n * density * 2).tocsc()
    return A


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("ordering", ["natural", "default"])
def test_selected_inverse_equals_dense_inverse_on_the_pattern(seed, ordering):
    A = random_spd(80, 0.04, seed)
    chol = SparseCholesky(sp.tril(A).tocsc(), ordering=ordering)
    assert chol.factorize(sp.tril(A).tocsc().data)
    Z, perm = chol.selected_inverse()
    Ainv = np.linalg.inv(A.toarray())
    Zc = Z.tocoo()
    np.testing.assert_allclose(Zc.data, Ainv[perm[Zc.row], perm[Zc.col]], rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(chol.inverse_diagonal(), np.diag(Ainv), rtol=1e-10)
    assert Z.nnz < 80 * 80 / 2                    # a selected inverse, not the whole of A⁻¹


def test_selected_inverse_of_a_pedigree_ainv_gives_A():
    """Z = (A⁻¹)⁻¹ = A on the pattern of the factor of A⁻¹: its diagonal is 1 + F."""
    from fastmme import pedigree
    rng = np.random.default_rng(3)
    n = 300
    sire = [0] * 10 + [int(rng.integers(1, k)) if rng.random() < 0.9 else 0 for k in range(11, n + 1)]
    dam = [0] * 10 + [int(rng.integers(1, k)) if rng.random() < 0.9 else 0 for k in range(11, n + 1)]
    sire = [s if s != d else 0 for s, d in zip(sire, dam)]
    # one animal cannot be both sire and dam: sires from odd labels, dams from even ones
    sire = [s if s % 2 == 1 else 0 for s in sire]
    dam = [d if d % 2 == 0 else 0 for d in dam]
    ped = pedigree.read(np.arange(1, n + 1), sire, dam)
    Ainv = ped.ainv()
    chol = SparseCholesky(sp.tril(Ainv).tocsc(), ordering="default")
    assert chol.factorize(sp.tril(Ainv).tocsc().data)
    np.testing.assert_allclose(chol.inverse_diagonal(), 1.0 + ped.inbreeding, rtol=1e-10)


def test_supernodal_blocks_wide_and_narrow():
    """A banded part (narrow supernodes) and dense trailing rows (one wide supernode): still the dense
    inverse on the pattern, and the supernodes really are wider than one column."""
    from fastmme.linalg.kernels.takahashi import supernodes
    rng = np.random.default_rng(7)
    n, k = 150, 25
    A = sp.diags([np.full(n - 1, 0.3), np.full(n, 8.0), np.full(n - 1, 0.3)], [-1, 0, 1]).tolil()
    A[n - k:, n - k:] = rng.normal(size=(k, k)) * 0.05 + np.eye(k) * 8
    A[n - k:, :n - k:7] = 0.2
    A[:n - k:7, n - k:] = 0.2
    A = ((A + A.T) / 2).tocsc()
    chol = SparseCholesky(sp.tril(A).tocsc(), ordering="natural")
    assert chol.factorize(sp.tril(A).tocsc().data)
    Z, perm = chol.selected_inverse()
    L = chol._factor.L().tocsc()
    start, _ = supernodes(L.indptr, L.indices)
    assert np.max(np.diff(start)) >= k and len(start) - 1 < n
    Ainv = np.linalg.inv(A.toarray())
    Zc = Z.tocoo()
    np.testing.assert_allclose(Zc.data, Ainv[perm[Zc.row], perm[Zc.col]], rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("wide", [0, 4, 10**9])
def test_wide_supernodes_by_lapack_equal_the_compiled_sweep(wide):
    """Every supernode by LAPACK in place (wide=0), a mix, or none: the same selected inverse."""
    from fastmme.linalg.kernels.takahashi import selected_inverse
    rng = np.random.default_rng(11)
    n, k = 200, 40
    A = sp.random(n, n, density=0.03, random_state=rng, format="lil") * 0.1
    A[n - k:, n - k:] = rng.normal(size=(k, k)) * 0.1
    A = A @ A.T + sp.eye(n) * 3
    A = sp.csc_matrix(A)
    chol = SparseCholesky(sp.tril(A).tocsc(), ordering="default")
    assert chol.factorize(sp.tril(A).tocsc().data)
    L = chol._lower()
    Z = sp.csc_matrix((selected_inverse(L.indptr, L.indices, L.data, wide=wide), L.indices, L.indptr), shape=L.shape)
    Ainv = np.linalg.inv(A.toarray())
    Zc = Z.tocoo()
    perm = chol.perm
    np.testing.assert_allclose(Zc.data, Ainv[perm[Zc.row], perm[Zc.col]], rtol=1e-10, atol=1e-13)


def test_selected_inverse_too_large_for_memory_is_refused(monkeypatch):
    """A factor whose selected inverse would not fit gets the project's error, not an out-of-memory
    kill (measured: a million-animal factor's widest block), and the fit falls back to BOBYQA."""
    from fastmme import FastmmeError, breeding_data as simulate
    from fastmme.linalg import cholmod
    from fastmme.api import _formula_model
    pf = simulate.population(60, 3, 6, seed=2)
    df, ped, _ = simulate.animal_model_records(pf, h2=0.3, groups=5, seed=2)
    monkeypatch.setattr(cholmod, "available_memory", lambda: 1000)
    _, model = _formula_model("y ~ sex + (1 | animal)", df, True, None, {"animal": ped})
    assert not model._objective.has_gradient
    fit = model.fit()
    with pytest.raises(FastmmeError, match="selected inverse of this factor needs"):
        fit.reliability(0)
