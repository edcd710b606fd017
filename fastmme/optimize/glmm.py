"""The optimisation of a GLMM.  For the Laplace objective (nAGQ = 1) with a canonical link (binomial logit,
Poisson log) and the exact gradient (fastmme.evaluate.laplace_gradient): one stage, L-BFGS-B over (θ, β)
from θ's start and β at its joint mode with u there (as MixedModels.jl, which fits (θ, β) in one stage).
Otherwise lme4's two stages: BOBYQA over θ with β at its joint mode with u (nAGQ = 0, the fast
approximation and the start), then, for nAGQ ≥ 1, BOBYQA over (θ, β) of the Laplace objective or of
adaptive Gauss–Hermite quadrature (nAGQ > 1).  Measured (one process, the optimisation only): one
stage with the gradient against lme4's two stages with the gradient in the second, the same optimum
to 1e-10: cbpp 20/28 evaluations, grouseticks 30/61, VerbAgg 38/62, VerbAgg with (1 + Gender | item)
53/93, Contraception 45/32, with (urban | district) 43/65, InstEval binary 36/59 (9.8/14.7 s).
Entries of θ next to their bound of 0 are tried at 0, as for linear mixed models; every hand-over is
recorded in the summary."""
from __future__ import annotations

import dataclasses

import numpy as np

from ..evaluate.laplace import LaplaceObjective, PirlsFailure
from ..linalg.cholmod import SelectedInverseTooLarge
from ..evaluate.laplace_gradient import gradient_memory, has_laplace_gradient, laplace_gradient
from .minimize import MAXEVAL, minimize_bobyqa, minimize_gradient
from .threads import serial_kernels


# a GLMM solves the equations a few times per evaluation, hundreds of times per fit: below this many
# rows × (random-effect columns + fixed columns) the kernels run on one thread, where waking Numba's
# threads for each call cost more than the call (cbpp 1.10 → 0.60 s, VerbAgg 10.1 → 7.1 s; the results
# are the same: the parallel loops split work between levels or panels, not within a sum)
SERIAL_KERNEL_SIZE = 10**6


# stage 2's relative tolerance on the objective: with the LMM's 1e-12 BOBYQA stopped 3e-4 short on
# VerbAgg's (1 + Gender | item) model, where 12 parameters move the objective by little; its steps
# (xtol 1e-10) end the search instead
STAGE2_FTOL = 1e-15

GRADIENT_METHOD = "L-BFGS-B with the exact gradient"     # the stage's method name when the gradient found θ̂, β̂
ONE_STAGE = "Laplace (θ, β) from θ's start, β at its joint mode with u there"
STAGE1 = "nAGQ = 0 (θ; β at its joint mode with u)"


def kernel_threads(objective: LaplaceObjective):
    """One Numba thread for small problems (SERIAL_KERNEL_SIZE), else as set."""
    width = sum(t.r for t in objective.terms) + objective.p
    return serial_kernels(objective.y.shape[0] * width, SERIAL_KERNEL_SIZE)


def _gradient_stage(objective, start, lower, se, k, maxeval, progress):
    """Stage 2 by L-BFGS-B with the exact Laplace gradient (fastmme.evaluate.laplace_gradient), in
    units D = (max(θ₁, 0.1), SE(β₁)) so that every coordinate moves on the scale of its uncertainty
    (grouseticks' HEIGHT coefficient is 1e-2 with a gradient of 1e6 in the caller's units)."""
    D = np.concatenate([np.maximum(np.abs(start[:k]), 0.1), se])

    def fg(x):
        par = x * D
        value, grad = laplace_gradient(objective, par[:k], par[k:])
        return value, grad * D

    def f(x):
        par = x * D
        return objective.laplace(par[:k], par[k:])

    lo = np.where(np.isfinite(lower), lower / D, -np.inf)
    opt = minimize_gradient(fg, f, start / D, lo, maxeval=max(1, int(maxeval)), progress=progress,
                            fallback_ftol=STAGE2_FTOL)
    gnorm = float("nan")
    if opt.grad is not None:       # the certificate, in these units: as certify's for linear mixed models
        pg = np.where((opt.theta <= lo) & (opt.grad >= 0), 0.0, opt.grad)
        gnorm = float(np.max(np.abs(pg)) * max(1.0, float(np.max(np.abs(opt.theta)))) / max(1.0, abs(opt.fmin)))
    return dataclasses.replace(opt, theta=opt.theta * D, theta_start=start, grad=None, gradient=gnorm,
                               method=GRADIENT_METHOD if opt.method == "L-BFGS-B" else opt.method)


@dataclasses.dataclass(frozen=True)
class GlmmOptimum:
    theta: np.ndarray
    beta: np.ndarray
    value: float
    converged: bool
    message: str
    n_evals: int
    stages: tuple          # (name, OptSummary) per stage


def optimize_glmm(objective: LaplaceObjective, nAGQ: int = 1, start=None, maxeval: int = MAXEVAL,
                  progress=None) -> GlmmOptimum:
    """θ̂ (and β̂) of the objective: with the exact Laplace gradient one stage over (θ, β); otherwise stage 1
    over θ (nAGQ = 0), then stage 2 over (θ, β) for nAGQ ≥ 1 (the Laplace objective, or adaptive
    Gauss–Hermite quadrature with nAGQ nodes).  PIRLS starts from the last mode in every stage (LaplaceObjective.warm_starts): 35–48 % fewer PIRLS iterations (VerbAgg 2,827 →
    1,478, 9.1 → 5.3 s) at the same optimum to 1e-12; the Hessian and the result start cold."""
    with objective.warm_starts():
        return _two_stages(objective, nAGQ, start, maxeval, progress)


def _two_stages(objective, nAGQ, start, maxeval, progress) -> GlmmOptimum:
    lower = objective.theta_lower()
    th0 = objective.theta_start() if start is None else objective.check_theta(start)
    gradient = nAGQ == 1 and has_laplace_gradient(objective)
    why = gradient_memory(objective) if gradient else ""       # a reason the gradient's stage did not run
    if gradient and not why:
        try:
            start2, se = _one_stage_start(objective, th0)
        except PirlsFailure as err:                  # at the start, where BOBYQA's stage 1 can step around it
            why = f"PIRLS failed at the start ({str(err).split(':')[0]})"
        else:
            try:
                return _one_stage(objective, start2, se, lower, maxeval, progress)
            except SelectedInverseTooLarge as err:   # the gradient's selected inverse: lme4's two stages
                why = str(err).split(":")[0]
    # at nAGQ = 0 stage 1 is the estimate: to stage 2's tolerance (with the LMM's 1e-12 it stopped 8e-7 short
    # on VerbAgg's (1 + Gender | item) model, θ 1.6e-4 from the optimum, where the objective is flat)
    s1 = minimize_bobyqa(objective.laplace_beta_free, th0, lower, maxeval=maxeval, progress=progress,
                         **(dict(ftol_rel=STAGE2_FTOL) if nAGQ == 0 else {}))
    beta1 = objective.pirls(s1.theta)["beta"]
    stages = [(STAGE1, s1)]
    if nAGQ == 0:
        return GlmmOptimum(theta=s1.theta, beta=beta1, value=s1.fmin, converged=s1.converged,
                           message=s1.message, n_evals=s1.n_evals, stages=tuple(stages))
    k = s1.theta.shape[0]

    def f(par):
        return objective.agq(par[:k], par[k:], nAGQ)

    se = np.sqrt(np.maximum(np.diag(objective.unscaled_beta_cov(s1.theta, beta1)), 1e-12))
    start2 = np.concatenate([s1.theta, beta1])
    lower2 = np.concatenate([lower, np.full(beta1.shape[0], -np.inf)])
    step = np.concatenate([np.where(lower == 0, np.maximum(0.1 * s1.theta, 0.02), 0.1), 0.5 * se])
    s2 = minimize_bobyqa(f, start2, lower2, maxeval=maxeval, progress=progress, step=step, ftol_rel=STAGE2_FTOL)
    if why:                         # a fallback: shown in the fit and its summary
        s2 = dataclasses.replace(s2, fallbacks=(f"{why}: lme4's two stages by BOBYQA",) + s2.fallbacks)
    stages.append(("Laplace (θ, β)" if nAGQ == 1 else f"adaptive Gauss–Hermite, {nAGQ} nodes (θ, β)", s2))
    return GlmmOptimum(theta=s2.theta[:k], beta=s2.theta[k:], value=s2.fmin, converged=s1.converged and s2.converged,
                       message=f"stage 1 {s1.message}; stage 2 {s2.message}", n_evals=s1.n_evals + s2.n_evals,
                       stages=tuple(stages))


def _one_stage_start(objective, th0):
    """(θ's start with β at its joint mode with u there (one nAGQ = 0 PIRLS), the SEs of that β from the
    weighted equations: the units of the one stage)."""
    beta0 = objective.pirls(th0)["beta"]
    se = np.sqrt(np.maximum(np.diag(objective.unscaled_beta_cov(th0, beta0)), 1e-12))
    return np.concatenate([th0, beta0]), se


def _one_stage(objective, start, se, lower, maxeval, progress) -> GlmmOptimum:
    """L-BFGS-B over (θ, β) of the Laplace objective with its exact gradient from `start`
    (_one_stage_start), with BOBYQA from its best point should it fail (minimize_gradient);
    SelectedInverseTooLarge propagates to the caller."""
    k = lower.shape[0]
    lower2 = np.concatenate([lower, np.full(start.shape[0] - k, -np.inf)])
    s = _gradient_stage(objective, start, lower2, se, k, maxeval, progress)
    return GlmmOptimum(theta=s.theta[:k], beta=s.theta[k:], value=s.fmin, converged=s.converged,
                       message=s.message, n_evals=s.n_evals, stages=((ONE_STAGE, s),))
