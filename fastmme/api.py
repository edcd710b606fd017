"""Public array API: validate and orchestrate, no mathematics.

    model = fastmme.Model(y, X, terms, reml=True, weights=None)
    model.deviance(theta)        # the profiled criterion at θ (lme4's devfun)
    result = model.fit()         # an immutable FitResult
    result = fastmme.fit(y, X, terms)
"""
from __future__ import annotations

import numpy as np

from .objective import ProfiledDeviance
from .optimize import MAXEVAL, OptSummary, minimize_bobyqa, minimize_newton
from .results import FitResult, build_result
from .start import initial_step, moment_start
from .spec import make_spec


class Model:
    """A linear mixed model y = Xβ + Σ_k Z_k b_k + ε, ε ~ N(0, σ² W⁻¹), assembled once.

    Parameters
    ----------
    y : (n,) response.  X : (n, p) fixed-effect model matrix (array or DataFrame).
    terms : a fastmme.Term or a sequence of them.  reml : REML (default) or ML.
    weights : (n,) positive prior weights W (None: all 1).  x_names : names of the columns of X.
    """

    def __init__(self, y, X, terms, reml=True, weights=None, x_names=None, _owned=False):
        self.spec = make_spec(y, X, terms, reml=reml, weights=weights, x_names=x_names, copy=not _owned)
        original = list(x_names) if x_names is not None else (
            [str(c) for c in X.columns] if hasattr(X, "columns") else None)
        ncol = 1 if np.ndim(X) == 1 else np.shape(X)[1]
        names = original or [f"x{i}" for i in range(ncol)]
        self._kept_columns = np.array([names.index(nm) for nm in self.spec.x_names], dtype=np.int64)
        self._objective = ProfiledDeviance(self.spec)

    @property
    def theta_lower(self) -> np.ndarray:
        return np.concatenate([t.theta_lower() for t in self.spec.terms])

    @property
    def theta_start(self) -> np.ndarray:
        return np.concatenate([t.theta_start() for t in self.spec.terms])

    @property
    def theta_names(self) -> list:
        out = []
        for k, t in enumerate(self.spec.terms):   # lme4 names θ by the grouping factor
            out += t.theta_names(t.name or f"g{k + 1}")
        return out

    def deviance(self, theta) -> float:
        """The profiled criterion at θ: the REML criterion or −2 log-likelihood, as lme4 defines them."""
        return self._objective.deviance(theta)

    def fit(self, start=None, maxeval: int = MAXEVAL, progress=None) -> FitResult:
        """Optimise θ (L-BFGS-B with the analytic gradient, or BOBYQA; see optimize_theta) and return the
        fitted model.  The model itself is not changed.

        start: None (starting values from single-term fits, falling back to lme4's T = I), "lme4"
        (T = I), or a θ vector.  progress: optional callable(n_evals, best_criterion), called after
        every evaluation."""
        opt = optimize_theta(self._objective, start=start, maxeval=maxeval, progress=progress)
        return build_result(self.spec, self._objective, opt, self._kept_columns)

    def at(self, theta) -> FitResult:
        """The result at a given θ without optimising (BLUEs and BLUPs for known relative variances)."""
        th = self._objective.check_theta(theta)
        opt = OptSummary(theta=th, fmin=self.deviance(th), n_evals=0, converged=True,
                         message="theta given, not optimised", theta_start=th)
        return build_result(self.spec, self._objective, opt, self._kept_columns)


def optimize_theta(objective: ProfiledDeviance, start=None, maxeval: int = MAXEVAL, progress=None) -> OptSummary:
    """θ̂ from `start` (None: single-term starting values, else lme4's T = I; "lme4"; or a θ vector):
    L-BFGS-B with the analytic gradient where the dense Schur evaluator applies, BOBYQA otherwise."""
    lower = np.concatenate([t.theta_lower() for t in objective.spec.terms])
    step = None
    if start is None:
        th0 = moment_start(objective, compare=not objective.has_gradient)
        if th0 is None:
            th0 = np.concatenate([t.theta_start() for t in objective.spec.terms])
        else:
            step = initial_step(th0, lower)
    elif isinstance(start, str) and start == "lme4":
        th0 = np.concatenate([t.theta_start() for t in objective.spec.terms])
    else:
        th0 = objective.check_theta(start)
    if objective.has_gradient:
        return minimize_newton(lambda th: objective.deviance_and_gradient(th, information=True),
                               objective.deviance_and_gradient, objective.deviance, th0, lower,
                               maxeval=maxeval, progress=progress, canonical=objective.canonical_theta)
    return minimize_bobyqa(objective.deviance, th0, lower, maxeval=maxeval, progress=progress, step=step)


def lmm(formula: str, data, reml: bool = True, weights=None, **fit_options):
    """Fit a linear mixed model given by an lme4 formula, e.g. ``"y ~ x + (1 + x | g)"``.

    data: pandas DataFrame (or polars / pyarrow table, or dict of columns).  weights: a column name
    or an array of prior weights.  Rows with a missing value in a used column are dropped (counted in
    ``n_dropped``).  Returns a MixedFit with lme4's accessors, summary, predict, anova and confint.
    """
    from .frame import build_design
    from .mixedfit import MixedFit
    d = build_design(formula, data, weights=weights)
    model = Model(d.y, d.X, d.terms, reml=reml, weights=d.weights, x_names=d.x_names, _owned=True)
    return MixedFit(core=model.fit(**fit_options), design=d, model=model, formula=formula)


def fit(y, X, terms, reml=True, weights=None, x_names=None, **fit_options) -> FitResult:
    """One call: ``Model(y, X, terms, reml, weights).fit()``."""
    return Model(y, X, terms, reml=reml, weights=weights, x_names=x_names).fit(**fit_options)
