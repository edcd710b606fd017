"""Pedigrees: inbreeding and A⁻¹ against the tabular method, the Mrode textbook example, and refusals
that name the animals."""
import numpy as np
import pytest

from fastmme import FastmmeError
from fastmme import pedigree


def tabular(sire, dam):
    """A by the tabular method (parents precede offspring)."""
    n = len(sire)
    A = np.zeros((n, n))
    for i in range(n):
        s, d = sire[i], dam[i]
        for j in range(i):
            v = 0.0
            if s >= 0:
                v += 0.5 * A[j, s]
            if d >= 0:
                v += 0.5 * A[j, d]
            A[i, j] = A[j, i] = v
        A[i, i] = 1.0 + (0.5 * A[s, d] if s >= 0 and d >= 0 else 0.0)
    return A


def random_pedigree(n, seed, p_unknown=0.15):
    """Labels shuffled and given as strings; matings among relatives, so inbreeding occurs."""
    rng = np.random.default_rng(seed)
    male = rng.random(n) < 0.4
    male[:2] = [True, False]
    sire = np.full(n, -1)
    dam = np.full(n, -1)
    for i in range(4, n):
        males, females = np.flatnonzero(male[:i]), np.flatnonzero(~male[:i])
        if rng.random() > p_unknown and len(males):
            sire[i] = rng.choice(males[-8:])             # recent animals: relatives mate
        if rng.random() > p_unknown and len(females):
            dam[i] = rng.choice(females[-8:])
    labels = np.array([f"a{k}" for k in rng.permutation(n)])
    name = lambda p: np.where(p >= 0, labels[np.maximum(p, 0)], "0")   # noqa: E731
    shuffle = rng.permutation(n)                                        # records in any order
    return labels[shuffle], name(sire)[shuffle], name(dam)[shuffle]


@pytest.mark.parametrize("seed", range(6))
def test_inbreeding_and_ainv_equal_the_tabular_method(seed):
    a, s, d = random_pedigree(60, seed)
    ped = pedigree.read(a, s, d)
    assert np.all(ped.sire < np.arange(len(ped))) and np.all(ped.dam < np.arange(len(ped)))
    A = tabular(ped.sire, ped.dam)
    np.testing.assert_allclose(ped.inbreeding, np.diag(A) - 1.0, atol=1e-14)
    assert ped.inbreeding.max() > 0.05                      # the generator does inbreed
    np.testing.assert_allclose(ped.ainv().toarray() @ A, np.eye(len(ped)), atol=1e-10)
    assert ped.logdet_A() == pytest.approx(np.linalg.slogdet(A)[1], rel=1e-12)
    # the labels follow the animals
    rec = dict(zip(a, zip(s, d)))
    for i in range(len(ped)):
        lab = ped.labels[i]
        ps = ped.labels[ped.sire[i]] if ped.sire[i] >= 0 else "0"
        pd_ = ped.labels[ped.dam[i]] if ped.dam[i] >= 0 else "0"
        assert rec[lab] == (ps, pd_)


def test_mrode_example():
    """Mrode (2014), Example 2.1-2.3: F_5 = F_6 = 0.125, and the printed A⁻¹."""
    ped = pedigree.read([1, 2, 3, 4, 5, 6], [0, 0, 1, 1, 4, 5], [0, 0, 2, 0, 3, 2])
    idx = ped.index([1, 2, 3, 4, 5, 6])
    np.testing.assert_allclose(ped.inbreeding[idx], [0, 0, 0, 0, 0.125, 0.125])
    Ainv = ped.ainv().toarray()[np.ix_(idx, idx)]
    expected = np.array([
        [1.833, 0.500, -1.000, -0.667, 0.000, 0.000],
        [0.500, 2.033, -1.000, 0.000, 0.533, -1.067],
        [-1.000, -1.000, 2.500, 0.500, -1.000, 0.000],
        [-0.667, 0.000, 0.500, 1.833, -1.000, 0.000],
        [0.000, 0.533, -1.000, -1.000, 2.533, -1.067],
        [0.000, -1.067, 0.000, 0.000, -1.067, 2.133]])
    np.testing.assert_allclose(Ainv, expected, atol=6e-4)


def test_parents_without_records_become_founders_and_unknown_codes():
    ped = pedigree.read(["c", "d"], ["a", None], ["b", "NA"])
    assert set(ped.labels) == {"a", "b", "c", "d"}
    i = ped.index(["a", "b", "c", "d"])
    assert ped.sire[i[0]] == -1 and ped.dam[i[1]] == -1
    assert ped.labels[ped.sire[i[2]]] == "a" and ped.dam[i[3]] == -1
    ped2 = pedigree.read([5, 6], [-9, 5], [-9, -9], unknown=(-9,))
    assert ped2.sire[ped2.index([6])[0]] == ped2.index([5])[0]


def test_identical_duplicates_are_merged():
    ped = pedigree.read(["x", "y", "y"], ["0", "x", "x"], ["0", "0", "0"])
    assert len(ped) == 2


@pytest.mark.parametrize("animal,sire,dam,match", [
    (["a", "b", "c"], ["c", "a", "b"], ["0", "0", "0"], "loop: animal\\(s\\) .*(a|b|c)"),
    (["a", "b", "b"], ["0", "a", "0"], ["0", "0", "0"], "b have several records"),
    (["a", "b", "c", "d"], ["0", "0", "a", "b"], ["0", "0", "b", "a"], "both as a sire and as a dam"),
    (["a", "b"], ["0", "b"], ["0", "a"], "own parent"),
    (["a", None], ["0", "0"], ["0", "0"], "missing or unknown animal"),
])
def test_bad_pedigrees_are_refused_with_names(animal, sire, dam, match):
    with pytest.raises(FastmmeError, match=match):
        pedigree.read(animal, sire, dam)


def test_loop_names_only_animals_on_the_loop():
    # b -> c -> b is a loop; d descends from it, a is a founder
    with pytest.raises(FastmmeError) as err:
        pedigree.read(["a", "b", "c", "d"], ["0", "c", "b", "c"], ["0", "a", "a", "a"])
    msg = str(err.value)
    assert "b" in msg and "c" in msg and ", d" not in msg


def test_unknown_labels_are_named():
    ped = pedigree.read(["a", "b"], ["0", "a"], ["0", "0"])
    with pytest.raises(FastmmeError, match="not in the pedigree, e.g. zz"):
        ped.index(["a", "zz"])
