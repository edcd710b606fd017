"""Random terms with a known relationship matrix (the animal model): the Mrode textbook example to
its printed digits, the REML/ML criterion and the solutions against dense GLS with
V = Z (Σ ⊗ K) Zᵀ + σ² I, PEVs against the dense inverse of the coefficient matrix, the three ways of
giving K, and refusals that say what to change."""
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import fastmme
from fastmme import FastmmeError, Model, Term, pedigree
from fastmme.dense import DenseModel
from test_pedigree import random_pedigree, tabular

# Mrode (2014), Example 3.1: pre-weaning gain of five beef calves, σ²_a = 20, σ²_e = 40
MRODE_PED = ([1, 2, 3, 4, 5, 6, 7, 8], [0, 0, 0, 1, 3, 1, 4, 3], [0, 0, 0, 0, 2, 2, 5, 6])
MRODE_DATA = pd.DataFrame({"animal": [4, 5, 6, 7, 8], "sex": ["M", "F", "F", "M", "M"],
                           "wwg": [4.5, 2.9, 3.9, 3.5, 5.0]})
MRODE_SEX = {"sexM": 4.358, "sexF": 3.404}
MRODE_EBV = {1: 0.098, 2: -0.019, 3: -0.041, 4: -0.009, 5: -0.186, 6: 0.177, 7: -0.249, 8: 0.183}


def mrode_fit():
    ped = pedigree.read(*MRODE_PED)
    return ped, fastmme.blup("wwg ~ 0 + sex + (1 | animal)", MRODE_DATA, variances={"animal": 20.0},
                             residual=40.0, relmat={"animal": ped})


def test_mrode_example_3_1_solutions_to_the_printed_digits():
    _, f = mrode_fit()
    # printed to 3 decimals (4.3585 is printed 4.358): within half a unit of the last digit
    for name, v in MRODE_SEX.items():
        assert abs(f.fixef[name] - v) <= 5.1e-4
    bv = f.breeding_values("animal")
    for animal, v in MRODE_EBV.items():
        assert abs(bv.loc[animal, "ebv"] - v) <= 5.1e-4
    assert f.sigma == pytest.approx(np.sqrt(40.0))


def test_mrode_pev_and_reliability_equal_the_dense_inverse_of_the_coefficient_matrix():
    ped, f = mrode_fit()
    X = np.column_stack([(MRODE_DATA.sex == "F").to_numpy(float), (MRODE_DATA.sex == "M").to_numpy(float)])
    Z = np.zeros((5, 8))
    Z[np.arange(5), ped.index(MRODE_DATA.animal)] = 1.0
    Ainv = ped.ainv().toarray()
    C = np.block([[X.T @ X, X.T @ Z], [Z.T @ X, Z.T @ Z + 2.0 * Ainv]])      # α = σ²_e/σ²_a = 2
    Ci = np.linalg.inv(C)
    y = MRODE_DATA.wwg.to_numpy()
    sol = Ci @ np.concatenate([X.T @ y, Z.T @ y])
    bv = f.breeding_values("animal")
    np.testing.assert_allclose(bv["ebv"].to_numpy(), sol[2:], atol=1e-12)
    pev = 40.0 * np.diag(Ci)[2:]
    np.testing.assert_allclose(bv["pev"].to_numpy(), pev, rtol=1e-10)
    rel = 1.0 - pev / ((1.0 + ped.inbreeding) * 20.0)
    np.testing.assert_allclose(bv["reliability"].to_numpy(), rel, rtol=1e-10)
    np.testing.assert_allclose(bv["accuracy"].to_numpy(), np.sqrt(rel), rtol=1e-10)
    # lme4's condVar treats β̂ as known: (ZᵀZ + α A⁻¹)⁻¹ σ²_e
    cv = 40.0 * np.diag(np.linalg.inv(Z.T @ Z + 2.0 * Ainv))
    np.testing.assert_allclose(f.ranef["animal"].attrs["cond_var"][:, 0, 0], cv, rtol=1e-10)
    # Var(β̂) = σ²_e [C⁻¹]_ββ
    np.testing.assert_allclose(f.core.beta_cov, 40.0 * Ci[:2, :2], rtol=1e-10)


def animal_data(seed, n_animals=50, n_rec=70, slopes=False, pe=False):
    a, s, d = random_pedigree(n_animals, seed)
    ped = pedigree.read(a, s, d)
    rng = np.random.default_rng(seed)
    recs = rng.choice(ped.labels[n_animals // 5:], n_rec)       # founders without records, repeats
    sex = rng.integers(0, 2, n_rec).astype(float)
    x = rng.normal(size=n_rec)
    y = 2.0 + sex + 0.5 * x + rng.normal(size=n_rec)
    X = np.column_stack([np.ones(n_rec), sex, x])
    terms = [Term(recs, z=np.column_stack([np.ones(n_rec), x]) if slopes else None, relationship=ped,
                  name="animal")]
    if pe:
        terms.append(Term(recs, name="pe"))
    return ped, y, X, terms


@pytest.mark.parametrize("seed,slopes,pe", [(0, False, False), (1, False, False), (2, True, False),
                                            (3, False, True)])
@pytest.mark.parametrize("reml", [True, False])
def test_criterion_and_solutions_equal_dense_gls(seed, slopes, pe, reml):
    ped, y, X, terms = animal_data(seed, slopes=slopes, pe=pe)
    m = Model(y, X, terms, reml=reml)
    dm = DenseModel(y, X, terms, reml=reml)
    rng = np.random.default_rng(seed)
    for _ in range(3):
        th = np.concatenate([np.abs(rng.normal(size=t.n_theta)) + 0.1 for t in terms])
        assert m.deviance(th) == pytest.approx(dm.deviance(th), rel=1e-11)
    r = m.fit()
    g = dm.gls(r.theta)
    np.testing.assert_allclose(r.beta, g.beta, rtol=1e-9, atol=1e-11)
    for k in range(len(terms)):
        np.testing.assert_allclose(r.blups[k], g.blups[k], rtol=1e-8, atol=1e-10)
    # the optimum: no better point nearby in any direction
    f0 = m.deviance(r.theta)
    for e in np.eye(r.theta.size):
        for h in (1e-3, -1e-3):
            th = r.theta + h * e
            if np.all(th >= m.theta_lower):
                assert m.deviance(th) >= f0 - 1e-7


def test_relationship_matrix_precision_matrix_and_pedigree_agree():
    ped, y, X, terms = animal_data(4)
    recs = ped.labels[terms[0].codes]
    A = tabular(ped.sire, ped.dam)
    fits = [Model(y, X, [Term(recs, relationship=ped)]),
            Model(y, X, [Term(recs, relationship=pd.DataFrame(A, index=ped.labels, columns=ped.labels))]),
            Model(y, X, [Term(recs, relationship=A, labels=ped.labels)]),
            Model(y, X, [Term(recs, precision=sp.csc_matrix(ped.ainv()), labels=ped.labels)])]
    for th in (0.2, 1.3):
        d = [m.deviance([th]) for m in fits]
        np.testing.assert_allclose(d, d[0], rtol=1e-11)
    # the levels are the matrix's labels in its order, animals without records included
    r = fits[3].fit()
    assert list(r.levels[0]) == list(ped.labels)
    # a shuffled labelling of the same K gives the same fit
    perm = np.random.default_rng(0).permutation(len(ped))
    shuffled = Model(y, X, [Term(recs, relationship=A[np.ix_(perm, perm)], labels=ped.labels[perm])])
    assert shuffled.deviance([0.7]) == pytest.approx(fits[0].deviance([0.7]), rel=1e-11)


def test_formula_interface_with_relmat_and_repeatability():
    ped, y, X, terms = animal_data(5, pe=True)
    recs = ped.labels[terms[0].codes]
    df = pd.DataFrame({"y": y, "sex": X[:, 1], "x": X[:, 2], "animal": recs, "pe": recs})
    f = fastmme.lmm("y ~ sex + x + (1 | animal) + (1 | pe)", df, relmat={"animal": ped})
    m = Model(y, X, terms).fit()
    assert f.loglik == pytest.approx(m.loglik, rel=1e-9)
    assert f.ngroups == {"animal": len(ped), "pe": len(np.unique(recs))}
    bv = f.breeding_values("animal")
    assert len(bv) == len(ped) and np.all((bv["reliability"] >= 0) & (bv["reliability"] < 1))


def test_refusals_say_what_to_change():
    ped = pedigree.read(*MRODE_PED)
    with pytest.raises(FastmmeError, match="not among the relationship matrix's labels"):
        Term([4, 5, 99], relationship=ped)
    with pytest.raises(FastmmeError, match="not a grouping factor"):
        fastmme.lmm("wwg ~ sex + (1 | animal)", MRODE_DATA, relmat={"sire": ped})
    with pytest.raises(FastmmeError, match="needs the labels"):
        Term([1, 2], relationship=np.eye(2))
    with pytest.raises(FastmmeError, match="not positive definite"):
        Term([1, 2], relationship=np.ones((2, 2)), labels=[1, 2])
    with pytest.raises(FastmmeError, match="not symmetric"):
        Term([1, 2], relationship=np.array([[1.0, 0.5], [0.1, 1.0]]), labels=[1, 2])
    with pytest.raises(FastmmeError, match="exactly one"):
        Term([1, 2], relationship=np.eye(2), precision=np.eye(2), labels=[1, 2])
    with pytest.raises(FastmmeError, match="not unique"):
        Term([1, 2], relationship=np.eye(3), labels=[1, 2, 2])
    with pytest.raises(FastmmeError, match="one entry per random term"):
        fastmme.blup("wwg ~ sex + (1 | animal)", MRODE_DATA, variances={}, residual=1.0, relmat={"animal": ped})
    with pytest.raises(FastmmeError, match="residual variance must be positive"):
        fastmme.blup("wwg ~ sex + (1 | animal)", MRODE_DATA, variances=[1.0], residual=0.0, relmat={"animal": ped})
    A = np.eye(2)
    Term([1, 2], relationship=A, labels=[1, 2])
    assert np.array_equal(A, np.eye(2))          # the caller's matrix is not modified


@pytest.mark.parametrize("seed,slopes,pe", [(0, False, False), (2, True, False), (3, False, True)])
@pytest.mark.parametrize("reml", [True, False])
def test_sparse_gradient_equals_finite_differences(seed, slopes, pe, reml):
    from fastmme.evaluate.sparse_gradient import sparse_gradient
    _, y, X, terms = animal_data(seed, slopes=slopes, pe=pe)
    obj = Model(y, X, terms, reml=reml)._objective
    assert obj.schur is None and obj.has_gradient
    th = np.array([0.7, 0.1, 0.4]) if slopes else np.array([0.7, 0.5])[:len(terms)]
    g = sparse_gradient(obj, th, reml)
    h = 1e-6
    fd = [(obj.deviance(th + h * e) - obj.deviance(th - h * e)) / (2 * h) for e in np.eye(th.size)]
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-5)


@pytest.fixture(scope="module")
def simulated():
    from fastmme import breeding_data as simulate
    pf = simulate.population(300, 6, 15, seed=2)
    df, ped, tbv = simulate.animal_model_records(pf, h2=0.3, groups=30, seed=2)
    return df, ped, tbv, fastmme.lmm("y ~ sex + cg + (1 | animal)", df, relmat={"animal": ped})


def test_ai_reml_reaches_the_derivative_free_optimum(simulated):
    from fastmme.optimize.minimize import minimize_bobyqa
    df, ped, tbv, f = simulated
    assert f.core.optimizer_message.startswith("Newton (average information)")
    obj = f.model._objective
    b = minimize_bobyqa(obj.deviance, f.model.theta_start, f.model.theta_lower)
    assert f.core.deviance <= b.fmin + 1e-8 * abs(b.fmin)
    np.testing.assert_allclose(f.core.theta, b.theta, rtol=1e-4)
    assert f.core.n_evals < b.n_evals
    # the breeding values track the simulated ones
    bv = f.breeding_values("animal")
    assert np.corrcoef(bv.ebv, tbv.loc[bv.index])[0, 1] > 0.5


def test_predict_on_the_records_equals_the_fitted_values(simulated):
    """The levels of a relationship term are the pedigree's labels in its (unsorted) order: predict()
    must find each record's animal by label, not by a sorted search."""
    df, ped, tbv, f = simulated
    assert not np.all(np.asarray(f.core.levels[0])[:-1] <= np.asarray(f.core.levels[0])[1:])   # unsorted
    np.testing.assert_allclose(f.predict(df), f.fitted.to_numpy(), rtol=1e-10, atol=1e-10)


def test_variance_component_standard_errors_from_the_average_information(simulated):
    """AI-REML's standard errors against the observed information (numerical Hessian of the
    unprofiled REML criterion in (σ²_a, σ²_e)), and the heritability by the delta method."""
    df, ped, tbv, f = simulated
    vc = f.core.variance_components()
    est = vc["estimate"].to_numpy()
    obj = f.model._objective

    def dev(phi):
        return obj.unprofiled_deviance(np.array([np.sqrt(phi[0] / phi[1])]), np.sqrt(phi[1]), True)
    h = 1e-3 * est
    H = np.zeros((2, 2))
    for i in range(2):
        for j in range(2):
            ei, ej = np.eye(2)[i] * h[i], np.eye(2)[j] * h[j]
            H[i, j] = (dev(est + ei + ej) - dev(est + ei - ej) - dev(est - ei + ej) + dev(est - ei - ej)) / (4 * h[i] * h[j])
    np.testing.assert_allclose(vc["se"].to_numpy(), np.sqrt(np.diag(2 * np.linalg.inv(H))), rtol=0.05)
    h2, se = f.core.heritability(0)
    assert h2 == pytest.approx(est[0] / est.sum(), rel=1e-12)
    assert 0.1 < h2 < 0.5 and 0.01 < se < 0.1


def test_maternal_genetic_term_on_the_dam_equals_dense_gls():
    """Animal + maternal genetic effect (a second relationship term indexed by the dam)."""
    a, s, d = random_pedigree(60, 8, p_unknown=0.0)
    ped = pedigree.read(a, s, d)
    rng = np.random.default_rng(8)
    idx = rng.choice(np.arange(10, len(ped)), 80)
    dams = ped.labels[ped.dam[idx]]
    recs = ped.labels[idx]
    X = np.column_stack([np.ones(80), rng.integers(0, 2, 80)])
    y = rng.normal(size=80) + X[:, 1]
    terms = [Term(recs, relationship=ped, name="animal"), Term(dams, relationship=ped, name="dam")]
    m, dm = Model(y, X, terms), DenseModel(y, X, terms)
    for th in ([0.5, 0.3], [1.2, 0.0]):
        assert m.deviance(th) == pytest.approx(dm.deviance(th), rel=1e-11)
