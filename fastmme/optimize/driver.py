"""The θ loop of one fit: start values, θ in units free of the covariates' scale, Newton with the
average-information matrix (L-BFGS-B, then BOBYQA, where a stage fails), BOBYQA where the evaluator has
no gradient, and the certificate; and the BLAS thread setting it runs under."""
from __future__ import annotations

import contextlib
import functools

from threadpoolctl import ThreadpoolController

from ..evaluate.objective import ProfiledDeviance
from ..spec.terms import theta_lower, theta_lower_free, theta_start
from .minimize import MAXEVAL, OptSummary, certify, minimize_bobyqa, minimize_newton
from .start import initial_step, moment_start
from .theta_scale import Scaled


@functools.lru_cache(maxsize=1)
def _blas_controller() -> ThreadpoolController:
    """The BLAS libraries loaded (numpy's, scipy's, CHOLMOD's), found once: threadpool_limits looks them up
    in the process's memory maps on every call (1.4 ms, a sixth of a small refit in the bootstrap)."""
    return ThreadpoolController()


def blas_threads(objective: ProfiledDeviance):
    """A context: one BLAS thread when the evaluator says its LAPACK calls are small (a dense Schur S up
    to config.SINGLE_BLAS_THREAD_M), else BLAS as it is."""
    if objective.ev.small_blas:
        return _blas_controller().limit(limits=1, user_api="blas")
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
