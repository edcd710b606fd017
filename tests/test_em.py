"""EM-REML steps (fastmme.optimize.em): the criterion never increases and the fixed point is the REML optimum."""
import numpy as np
import pytest

import fastmme
from fastmme import breeding_data as simulate
from fastmme.api import _formula_model
from fastmme.optimize.em import em_theta


def _records(pe_sd):
    """Animal-model records, 60% of the animals with a second record, a permanent-environment effect
    of standard deviation pe_sd shared by an animal's records."""
    import pandas as pd
    pf = simulate.population(120, 4, 12, seed=11)
    df, ped, tbv = simulate.animal_model_records(pf, h2=0.4, groups=10, seed=11)
    rng = np.random.default_rng(11)
    out = pd.concat([df, df.sample(frac=0.6, random_state=1)], ignore_index=True)
    pe = pd.Series(rng.normal(0, pe_sd, len(df)), index=df.animal)
    out["y"] = 100.0 + 5.0 * (out.sex == "M") + (tbv.loc[out.animal] + pe.loc[out.animal]).to_numpy() + \
        rng.normal(0, 7.0, len(out))
    out["pe"] = out.animal
    return out, ped


@pytest.fixture(scope="module")
def data():
    return _records(4.0)


@pytest.mark.parametrize("formula", ["y ~ sex + cg + (1 | animal)", "y ~ sex + (1 | animal) + (1 | pe)"])
def test_em_is_monotone_and_converges_to_the_reml_optimum(data, formula):
    df, ped = data
    _, model = _formula_model(formula, df, True, None, {"animal": ped}, ["cg"] if "cg" in formula else None)
    obj = model._objective
    fit = model.fit()
    th = np.full(obj.spec.n_theta, 0.3)
    f = obj.deviance(th)
    gap0 = f - fit.deviance
    for _ in range(150):
        new = em_theta(obj, th)
        fn = obj.deviance(new)
        assert fn <= f + 1e-8 * abs(f)              # EM never increases the criterion
        th, f = new, fn
    assert f - fit.deviance < 1e-3 * gap0             # slow (animal and pe compete), but it gets there


def test_em_step_from_the_optimum_stays(data):
    df, ped = data
    f = fastmme.lmm("y ~ sex + (1 | animal) + (1 | pe)", df, relmat={"animal": ped})
    th = em_theta(f.model._objective, f.core.theta)
    np.testing.assert_allclose(th, f.core.theta, rtol=1e-3, atol=1e-5)


def test_newton_takes_em_steps_when_ai_leaves_the_parameter_space():
    """No permanent-environment variance in these data: AI steps towards θ_pe < 0 are replaced by EM
    steps, and the fit reaches the derivative-free optimum."""
    from fastmme.api import optimize_theta
    from fastmme.optimize.minimize import minimize_bobyqa, minimize_newton
    df, ped = _records(0.0)
    _, model = _formula_model("y ~ sex + (1 | animal) + (1 | pe)", df, True, None, {"animal": ped})
    obj = model._objective
    assert obj.has_gradient
    calls = []

    def em(th):
        calls.append(th)
        return em_theta(obj, th)
    start = np.array([0.5, 1.5])
    opt = minimize_newton(lambda th: obj.deviance_and_gradient(th, information=True), obj.deviance_and_gradient,
                          obj.deviance, start, np.zeros(2), canonical=obj.canonical_theta, em=em, warn=False)
    ref = minimize_bobyqa(obj.deviance, start, np.zeros(2), warn=False)
    assert calls, "no AI step left the parameter space: the test data do not exercise EM"
    assert opt.fmin <= ref.fmin + 1e-6
    assert optimize_theta(obj).fmin <= ref.fmin + 1e-6
