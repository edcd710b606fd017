"""Starting values for θ from single-term fits (cheap: each uses only the assembled blocks).

BOBYQA from lme4's start (T = I) spends most of its evaluations finding the scale of each term
(InstEval: 104 evaluations from θ = 1, 28–48 from near the optimum).  Each term alone, y ~ X + term,
has a block-diagonal system (cost O(J_k r_k³) per evaluation, with the gradient), so its optimum is
found in milliseconds.  A single-term fit attributes the other terms' variance to the residual:
σ²_e(k) ≈ σ² + Σ_{l≠k} σ²_l.  Solving these for σ² (averaged over k) rescales each term's factor to
a joint start.  The start is kept only if its criterion beats lme4's start.
Tests: tests/test_fit.py (the optimum does not depend on the start), tests/test_lme4.py.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..assembly.blocks import Blocks
from ..assembly.pattern import ZtZPattern
from ..errors import NotPositiveDefinite
from ..spec.terms import theta_lower, theta_start
from .minimize import minimize_bobyqa, minimize_newton
from .theta_scale import Scaled


START_TOL = 1e-5     # a starting value needs the single-term optimum to a few digits only
START_GTOL = 1e-3    # ... and its projected gradient small to a few digits (slopes 1e6: a relative 4.6e-5
                     # after 6 evaluations, where NEWTON_GTOL sent it to L-BFGS-B for 9 more)


def _single_term(objective, k):
    """The profiled criterion of y ~ X + term k alone, from the assembled blocks."""
    from ..evaluate.objective import ProfiledDeviance
    pt, b = objective.pattern, objective.blocks
    r, J = int(pt.r[k]), int(pt.J[k])
    lo = int(pt.diag_offset[k])
    sub_pt = ZtZPattern.build([r], [J], [])
    rows = slice(int(pt.q_offset[k]), int(pt.q_offset[k]) + r * J)
    sub_b = Blocks(zz=b.zz[lo:lo + J * r * r], ZtX=b.ZtX[rows], Zty=b.Zty[rows], XtX=b.XtX, Xty=b.Xty,
                   yty=b.yty, sum_log_w=b.sum_log_w, n=b.n)
    spec = dataclasses.replace(objective.spec, terms=(objective.spec.terms[k],),
                               term_names=(objective.spec.term_names[k],))
    return ProfiledDeviance(spec, sub_b, sub_pt, perm_z=np.arange(r * J))


def _anova_one_way(objective, k):
    """(θ, σ²_e, σ²_k) of y ~ X + (1 | g_k) by the one-way ANOVA estimator on the OLS residuals
    (unbalanced: n₀ = (n − Σ n_j² / n) / (J − 1)), from the assembled blocks; None if degenerate."""
    pt, b = objective.pattern, objective.blocks
    J = int(pt.J[k])
    lo, q0 = int(pt.diag_offset[k]), int(pt.q_offset[k])
    nj = b.zz[lo:lo + J]                                   # Σ w per level (scalar intercept term)
    try:
        beta = np.linalg.solve(b.XtX, b.Xty) if b.XtX.size else np.zeros(0)
    except np.linalg.LinAlgError:
        return None
    rss = b.yty - 2 * beta @ b.Xty + beta @ b.XtX @ beta
    sj = b.Zty[q0:q0 + J] - b.ZtX[q0:q0 + J] @ beta       # level sums of the residuals
    ssb = float(np.sum(sj ** 2 / nj))
    n = float(np.sum(nj))
    if J < 2 or n <= J:
        return None
    s2e = (rss - ssb) / (n - J)
    n0 = (n - float(np.sum(nj ** 2)) / n) / (J - 1)
    s2k = (ssb / (J - 1) - s2e) / n0
    if not (s2e > 0 and np.isfinite(s2k)):
        return None
    s2k = max(s2k, 1e-4 * s2e)
    return np.array([np.sqrt(s2k / s2e)]), s2e, s2k


def moment_start(objective, compare: bool = True, scale=None) -> np.ndarray | None:
    """A joint starting θ from single-term fits, or None when it is not better than T = I.

    compare=False skips that comparison (two evaluations) unless the start looks doubtful: the
    single-term estimates disagree (σ² at its floor) or some |θ| > 5 (a nested design, where the
    outer term's one-way estimate absorbs the inner one).  scale: the objective's θ scale
    (fastmme.optimize.theta_scale; computed here if not given)."""
    spec = objective.spec
    terms = spec.terms
    if len(terms) < 2 or any(t.known is not None for t in terms) or spec.sparse_factors:
        return None           # (single-term fits ignore K and sparse fixed factors: T = I is the better start)
    n, p = objective.blocks.n, objective.p
    nn = n - p if spec.reml else n
    fits = []
    for k, t in enumerate(terms):
        if t.r == 1 and t.z is None:
            est = _anova_one_way(objective, k)
            if est is not None:                 # a scalar intercept term: closed form, no fit
                fits.append(est)
                continue
        sub = Scaled.of(_single_term(objective, k))     # from T = I in θ units free of the covariates' scale
        if sub.objective.has_gradient:
            opt = minimize_newton(sub.fgh, sub.fg, sub.f, t.theta_start(), t.theta_lower(),
                                  warn=False, canonical=sub.canonical, tol=START_TOL,
                                  gtol=START_GTOL)
        else:
            opt = minimize_bobyqa(sub.f, t.theta_start(), t.theta_lower(), warn=False)
        theta = sub.from_scaled(opt.theta)
        s2 = sub.objective.evaluate(theta).pwrss / nn
        T = t.lambda_block(opt.theta)             # the term's variance in the same units for every term
        fits.append((theta, s2, float(np.trace(s2 * T @ T.T)) / t.r))
    total = [f[2] for f in fits]
    est = [fits[k][1] - (sum(total) - total[k]) for k in range(len(fits))]
    s2_min = min(f[1] for f in fits)
    floored = float(np.mean(est)) < 0.05 * s2_min        # the single-term fits disagree
    sigma2 = max(float(np.mean(est)), 0.05 * s2_min)
    d = Scaled.of(objective).d if scale is None else scale   # the floor and the size test in θ̃ units
    theta0 = np.concatenate([th * np.sqrt(s2 / sigma2) for th, s2, _ in fits]) * d
    lower = theta_lower(terms)
    theta0 = np.where(lower == 0, np.maximum(theta0, 1e-3), theta0)
    big = np.max(np.abs(theta0)) > 5.0
    theta0 = theta0 / d
    if not np.all(np.isfinite(theta0)):           # a degenerate pooled σ² (y in the span of X)
        return None
    if not compare and not floored and not big:
        return theta0
    default = theta_start(terms) / d              # T = I in those units: optimize_theta's fallback start
    try:
        if objective.deviance(theta0) < objective.deviance(default):
            return theta0
    except NotPositiveDefinite:       # the moment start (or the default) is outside the PD region
        return None
    return None


def initial_step(theta0, lower) -> np.ndarray:
    """BOBYQA's first trust-region radius per coordinate: a fraction of a good start."""
    return np.where(np.isfinite(lower), np.clip(0.3 * np.abs(theta0), 0.02, 0.75), 0.25)
