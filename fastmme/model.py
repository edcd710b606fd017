"""The assembled model: Model (validate the arrays, assemble once, fit θ or solve at given variances),
the θ optimisation it runs (start values, Newton / L-BFGS-B / BOBYQA, the certificate), and the Model
of a formula design (in memory or the summed blocks of partitioned data).  fastmme.api wires the
formula interface to it; fastmme.mixedfit refits through design_model.
"""
from __future__ import annotations

import contextlib
import functools

import numpy as np
from threadpoolctl import threadpool_limits

from .errors import FastmmeError
from .objective import ProfiledDeviance
from .optimize import MAXEVAL, OptSummary, certify, minimize_bobyqa, minimize_newton
from .results import FitResult, build_result
from .spec import make_spec
from .start import initial_step, moment_start
from .terms import theta_lower, theta_lower_free, theta_start
from .theta_scale import Scaled


class Model:
    """A linear mixed model y = Xβ + Σ_k Z_k b_k + ε, ε ~ N(0, σ² W⁻¹), assembled once.

    Parameters
    ----------
    y : (n,) response.  X : (n, p) fixed-effect model matrix (array or DataFrame).
    terms : a fastmme.Term or a sequence of them.  reml : REML (default) or ML.
    weights : (n,) positive prior weights W (None: all 1).  x_names : names of the columns of X.
    sparse_fixed : {name: labels (n,)} fixed factors with many levels (contemporary groups) carried in
        the sparse factor, not as columns of X (fastmme.sparse_fixed; estimates in fixed_levels()).
    offset : (n,) a known part of the linear predictor (lme4's offset): y − offset = Xβ + Zb + ε is
        fitted, and the fitted values include it.
    """

    def __init__(self, y, X, terms, reml=True, weights=None, x_names=None, sparse_fixed=None, offset=None,
                 _owned=False):
        self.spec = make_spec(y, X, terms, reml=reml, weights=weights, x_names=x_names, copy=not _owned,
                              sparse_fixed=sparse_fixed, offset=offset)
        original = list(x_names) if x_names is not None else (
            [str(c) for c in X.columns] if hasattr(X, "columns") else None)
        ncol = 1 if np.ndim(X) == 1 else np.shape(X)[1]
        names = original or [f"x{i}" for i in range(ncol)]
        self._kept_columns = np.array([names.index(nm) for nm in self.spec.x_names], dtype=np.int64)
        self._objective = ProfiledDeviance(self.spec)

    @classmethod
    def from_blocks(cls, spec, blocks, pattern, kept_columns) -> "Model":
        """A model from summed cross-product blocks (partitioned data: fastmme.partitioned); `spec` is
        row-free (ModelSpec.n_rows) and `kept_columns` indexes the fixed columns kept."""
        self = cls.__new__(cls)
        self.spec = spec
        self._kept_columns = np.asarray(kept_columns, dtype=np.int64)
        self._objective = ProfiledDeviance(spec, blocks=blocks, pattern=pattern)
        return self

    @property
    def theta_lower(self) -> np.ndarray:
        return theta_lower(self.spec.terms)

    @property
    def theta_start(self) -> np.ndarray:
        return theta_start(self.spec.terms)

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

        start: None (starting values from single-term fits, falling back to T = I in the units of
        fastmme.theta_scale, lme4's T = I unless a covariate is badly scaled), "lme4" (lme4's T = I),
        or a θ vector.  progress: optional callable(n_evals, best_criterion), called after
        every evaluation."""
        with blas_threads(self._objective):
            opt = optimize_theta(self._objective, start=start, maxeval=maxeval, progress=progress)
            return self._finish(build_result(self.spec, self._objective, opt, self._kept_columns))

    def _finish(self, result: FitResult) -> FitResult:
        """The result is complete: free the evaluator's workspace (made again if the model is used again)."""
        self._objective.release()
        return result

    def solve(self, variances, residual: float) -> FitResult:
        """BLUEs and BLUPs with given variance components, without estimating them (breeders' routine
        evaluation: Henderson's mixed-model equations at known σ²_a/σ²_e).

        variances: one entry per term, a variance (r_k = 1) or the r_k × r_k covariance matrix Σ_k;
        residual: the residual variance σ².  The result's σ, covariances, Var(β̂), PEVs and reliabilities
        use these values; its log-likelihood is the criterion at them."""
        terms = self.spec.terms
        if np.ndim(variances) == 0:
            variances = [variances]
        if len(variances) != len(terms):
            raise FastmmeError(f"variances has {len(variances)} entries for {len(terms)} random-effects terms; give one "
                               "variance (or covariance matrix) per term, in the order of the terms")
        s2 = float(residual)
        if not (np.isfinite(s2) and s2 > 0):
            raise FastmmeError(f"the residual variance must be positive and finite; got {residual!r} — give σ² > 0")
        th = np.concatenate([t.theta_from_covariance(np.asarray(v, dtype=float) / s2)
                             for t, v in zip(terms, variances)])
        opt = OptSummary(theta=th, fmin=self._objective.unprofiled_deviance(th, np.sqrt(s2)), n_evals=0,
                         converged=True, message="variances given, not estimated", theta_start=th)
        return self._finish(build_result(self.spec, self._objective, opt, self._kept_columns, sigma2=s2))

    def at(self, theta) -> FitResult:
        """The result at a given θ without optimising (BLUEs and BLUPs for known relative variances)."""
        th = self._objective.check_theta(theta)
        opt = OptSummary(theta=th, fmin=self.deviance(th), n_evals=0, converged=True,
                         message="theta given, not optimised", theta_start=th)
        return self._finish(build_result(self.spec, self._objective, opt, self._kept_columns))


def blas_threads(objective: ProfiledDeviance):
    """A context: one BLAS thread when the evaluator says its LAPACK calls are small (a dense Schur S up
    to config.SINGLE_BLAS_THREAD_M), else BLAS as it is."""
    if objective.ev.small_blas:
        return threadpool_limits(limits=1, user_api="blas")
    return contextlib.nullcontext()


def optimize_theta(objective: ProfiledDeviance, start=None, maxeval: int = MAXEVAL, progress=None) -> OptSummary:
    """θ̂ from `start` (None: single-term starting values, else T = I in θ̃ units; "lme4"; or a θ vector):
    Newton with the average-information matrix and the analytic gradient where the objective has one
    (L-BFGS-B, then BOBYQA, if a stage fails; each hand-over is recorded), BOBYQA otherwise.

    With the gradient, the θ of vector terms (unstructured T_k, r_k ≥ 2) is unconstrained, as in
    MixedModels.jl 5: Σ_k ∝ T_k T_kᵀ is smooth in every entry of T_k, so a rank-deficient optimum is an
    interior stationary point instead of a corner of lme4's box (diagonal ≥ 0), where projected
    gradient methods stopped short (a maximal subjects × items model: 5825.03 against 5822.71).
    Scalar and diagonal terms keep the bound 0.  optimize.certify then puts θ̂ in canonical form and
    checks the gradient there."""
    lower = theta_lower(objective.spec.terms)
    free = theta_lower_free(objective.spec.terms)
    sc = Scaled.of(objective)           # θ in units free of the covariates' scale (theta_scale.py)
    step = False
    if start is None:                   # single-term fits, or T = I in those units
        th0 = moment_start(objective, compare=not objective.has_gradient, scale=sc.d)
        if th0 is None:
            th0 = sc.from_scaled(theta_start(objective.spec.terms))
        else:
            step = True
    elif isinstance(start, str) and start == "lme4":      # lme4's T = I in lme4's θ
        th0 = theta_start(objective.spec.terms)
    else:
        th0 = objective.check_theta(start)
    th0 = sc.to_scaled(th0)
    if objective.has_gradient:
        em = None
        if objective.ev.sparse_steps and objective.spec.reml:
            from .em import em_theta
            em = sc.wrap(functools.partial(em_theta, objective))
        opt = minimize_newton(sc.fgh, sc.fg, sc.f, th0, free, maxeval=maxeval, progress=progress,
                              canonical=sc.canonical, em=em)
        return sc.unscale(certify(opt, sc.f, sc.fg, lower, sc.canonical))
    opt = minimize_bobyqa(sc.f, th0, lower, maxeval=maxeval, progress=progress,
                          step=initial_step(th0, lower) if step else None)
    return sc.unscale(certify(opt, sc.f, None, lower, sc.canonical))


def design_model(d, reml: bool) -> Model:
    """The Model of a formula Design (fastmme.frame) or of a PartitionedDesign's summed blocks."""
    if getattr(d, "partitioned", False):
        return Model.from_blocks(d.spec(reml), d.blocks, d.pattern, d.kept)
    return Model(d.y, d.X, d.terms, reml=reml, weights=d.weights, x_names=d.x_names,
                 sparse_fixed=d.sparse_fixed or None, offset=d.offset, _owned=True)
