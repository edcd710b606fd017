"""The optimiser's fallbacks catch only the failure they exist for (an evaluation that is not
numerically positive definite), and every hand-over and the convergence certificate is in the result
and the summary (issue 15, item 5)."""
import itertools
import warnings

import numpy as np
import pandas as pd
import pytest

import fastmme
from fastmme.errors import ConvergenceWarning, NotPositiveDefinite
from fastmme.optimize.minimize import OptSummary, certify


def sleep():
    return fastmme.datasets.load("sleepstudy")


def test_a_programming_error_in_a_stage_propagates(monkeypatch):
    """A broken AI matrix (here: a TypeError) is not a numerical failure: it must not be swallowed by a
    fallback (before, sleepstudy still "converged" by L-BFGS-B)."""
    import fastmme.evaluate.objective as objective

    def broken(*args, **kwargs):
        raise TypeError("broken on purpose")

    monkeypatch.setattr(objective, "average_information", broken)
    with pytest.raises(TypeError, match="broken on purpose"):
        fastmme.lmm("Reaction ~ Days + (Days | Subject)", sleep())


def test_a_failed_evaluation_hands_over_and_is_reported(monkeypatch):
    """The dense gradient fails (not positive definite) on its first two calls: Newton hands over to
    L-BFGS-B, which starts again; the fit reaches the same optimum, and the result, to_dict and the
    summary say which method found θ̂ and why the first stage stopped."""
    ref = fastmme.lmm("Reaction ~ Days + (Days | Subject)", sleep())
    from fastmme.evaluate.schur import DenseSchur
    original, calls = DenseSchur.gradient, {"n": 0}

    def flaky(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] <= 1:
            raise NotPositiveDefinite("not positive definite on purpose")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(DenseSchur, "gradient", flaky)
    fit = fastmme.lmm("Reaction ~ Days + (Days | Subject)", sleep())
    assert calls["n"] > 1
    assert fit.core.optimizer == "L-BFGS-B"
    assert len(fit.core.fallbacks) == 1 and "an evaluation failed" in fit.core.fallbacks[0]
    assert fit.converged
    text = fit.summary()
    assert "fallback: Newton (average information): an evaluation failed" in text
    assert "optimizer: L-BFGS-B" in text
    assert fit.to_dict()["fallbacks"] == list(fit.core.fallbacks)
    assert fit.deviance == pytest.approx(ref.deviance, rel=1e-10)


def test_a_stage_claiming_convergence_far_from_the_optimum_is_not_certified():
    """certify checks the projected gradient itself: a claim of convergence at lme4's start is refused
    (converged=False, a ConvergenceWarning, the reason among the fallbacks)."""
    m = fastmme.Model(*_sleep_arrays())
    obj = m._objective
    th = m.theta_start
    claim = OptSummary(theta=th, fmin=m.deviance(th), n_evals=1, converged=True, message="claimed",
                       theta_start=th, method="Newton (average information)")
    with pytest.warns(ConvergenceWarning):
        out = certify(claim, obj.deviance, obj.deviance_and_gradient, m.theta_lower, obj.canonical_theta)
    assert not out.converged and out.gradient > 1e-3
    assert "not certified" in out.fallbacks[-1]
    good = m.fit()
    assert good.converged and "relative projected gradient <" in good.certificate


def _sleep_arrays():
    d = sleep()
    X = np.column_stack([np.ones(len(d)), d.Days.to_numpy(float)])
    return d.Reaction.to_numpy(float), X, [fastmme.Term(d.Subject, z=X, name="Subject")]


def maximal(seed, ns=24, ni=16, k=2, rank=1):
    """Subjects × items, 2^k within factors coded ±1 (counterbalanced), one observation per pair,
    data from a covariance of rank `rank` for both terms: a singular maximal model."""
    rng = np.random.default_rng(seed)
    subj, item = np.repeat(np.arange(ns), ni), np.tile(np.arange(ni), ns)
    cond = (subj + item) % 2 ** k
    F = np.array([[1.0 if (c >> b) & 1 else -1.0 for b in range(k)] for c in cond])
    cols = [np.ones(len(cond))] + [np.prod(F[:, list(c)], axis=1) for r in range(1, k + 1)
                                   for c in itertools.combinations(range(k), r)]
    Xf = np.column_stack(cols)
    p = Xf.shape[1]
    A, B = rng.normal(size=(p, rank)), rng.normal(size=(p, rank)) * 0.5
    bs, bi = rng.normal(size=(ns, rank)) @ A.T, rng.normal(size=(ni, rank)) @ B.T
    y = Xf @ rng.normal(size=p) + np.sum(Xf * bs[subj], 1) + np.sum(Xf * bi[item], 1) + rng.normal(size=len(cond))
    names = "ABCD"[:k]
    df = pd.DataFrame({"y": y, "subj": subj, "item": item, **{names[b]: F[:, b] for b in range(k)}})
    rhs = "*".join(names)
    return df, f"y ~ 1 + {rhs} + (1 + {rhs} | subj) + (1 + {rhs} | item)"


@pytest.mark.parametrize("seed", [1, 2])
def test_a_singular_maximal_model_reaches_the_optimum_and_is_certified(seed):
    """Rank-1 covariances for 4 × 4 blocks: θ̂ is rank-deficient in both terms.  The fit is in
    canonical form (diagonal ≥ 0), its gradient certificate holds, and no other method finds a lower
    criterion: BOBYQA with lme4's bounds from fastmme's optimum and from lme4's start."""
    df, formula = maximal(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit = fastmme.lmm(formula, df)
    assert fit.converged and fit.singular
    th = np.array(fit.core.theta)
    m = fit.model
    lower = m.theta_lower
    assert np.all(th[lower == 0] >= 0)
    from fastmme.optimize.minimize import minimize_bobyqa
    for start in (th, m.theta_start):
        b = minimize_bobyqa(m.deviance, start, lower, warn=False)
        assert fit.deviance <= b.fmin + 1e-7 * abs(b.fmin)
