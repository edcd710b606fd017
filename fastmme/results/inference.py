"""Inference beyond point estimates, computed from the assembled blocks (the rows are not read again).

* Satterthwaite denominator degrees of freedom for t tests of fixed effects, as lmerTest computes
  them: for a contrast c, df = 2 (cᵀCc)² / (gᵀ A g), with C = Var(β̂) = σ² U(θ), g the gradient of cᵀCc
  with respect to the variance parameters (θ, σ), and A = 2 H⁻¹, H the Hessian of the unprofiled
  criterion f(θ, σ) = ldL2 [+ ldRX2] + r²(θ)/σ² + m log(2πσ²) at the optimum.  The σ-derivatives
  are analytic; θ-derivatives of (log-determinants, r², U) are central differences with one
  Richardson extrapolation.
* Profile-likelihood confidence intervals, as lme4's confint(profile(fit)): the model is refitted
  by ML; for each standard deviation, correlation and σ the ML deviance is minimised over the other
  parameters with that one fixed; for each β_j over θ with x_j β_j moved into an offset.  The signed
  root ζ = sign(v − v̂) √(dev(v) − dev̂) is solved for ±z_(1+level)/2.
Tests: tests/test_formula_lme4.py (against lmerTest and lme4's profile).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..assembly.blocks import Blocks
from ..errors import FastmmeError, NotPositiveDefinite
from ..evaluate.objective import ProfiledDeviance
from ..lazy import scipy_optimize, scipy_stats
from ..optimize.minimize import FTOL_REL, minimize_bobyqa
from ..optimize.theta_scale import Scaled
from ..spec.covariance import sdcor_bounds, sdcor_from_theta, sdcor_names, theta_from_sdcor
from ..spec.terms import theta_lower


# ---- finite differences ----------------------------------------------------------------------
def central_differences(F, x, h, hessian=True):
    """(F(x), gradient, Hessian) of a (vector) function by central differences with steps h."""
    F0 = np.asarray(F(x), dtype=float)
    k = x.shape[0]
    g = np.zeros((k,) + F0.shape)
    H = np.zeros((k, k) + F0.shape)
    for i in range(k):
        e = np.zeros(k)
        e[i] = h[i]
        a, b = np.asarray(F(x + e)), np.asarray(F(x - e))
        g[i] = (a - b) / (2 * h[i])
        H[i, i] = (a - 2 * F0 + b) / h[i] ** 2
    if hessian:
        for i in range(k):
            for j in range(i + 1, k):
                ei = np.zeros(k)
                ej = np.zeros(k)
                ei[i], ej[j] = h[i], h[j]
                v = (np.asarray(F(x + ei + ej)) - np.asarray(F(x + ei - ej)) - np.asarray(F(x - ei + ej))
                     + np.asarray(F(x - ei - ej))) / (4 * h[i] * h[j])
                H[i, j] = H[j, i] = v
    return F0, g, H


def derivatives(F, x, rel_step=2e-3, hessian=True):
    """(F(x), gradient, Hessian) of a vector function, central differences + one Richardson step."""
    x = np.asarray(x, dtype=float)
    h = rel_step * np.maximum(np.abs(x), 0.1)
    F0, g1, H1 = central_differences(F, x, h, hessian)
    _, g2, H2 = central_differences(F, x, h / 2, hessian)
    return F0, (4 * g2 - g1) / 3, (4 * H2 - H1) / 3


# ---- Satterthwaite ---------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class VarparCovariance:
    """Asymptotic covariance A of (θ, σ) and the Jacobian of U(θ) = Var(β̂)/σ² at the optimum."""
    A: np.ndarray
    U: np.ndarray
    dU: np.ndarray      # (m, p, p)
    sigma: float


def varpar_covariance(objective: ProfiledDeviance, theta, sigma, reml) -> VarparCovariance:
    theta = np.asarray(theta, dtype=float)
    m = theta.shape[0]
    n = objective.blocks.n
    nn = n - objective.p_df if reml else n

    def parts(th):
        ev = objective.evaluate(th)
        return np.array([ev.ldL2 + (ev.ldRX2 if reml else 0.0), ev.pwrss])

    F0, g, H = derivatives(parts, theta)
    r2, s2 = F0[1], sigma ** 2
    Hf = np.empty((m + 1, m + 1))
    Hf[:m, :m] = H[..., 0] + H[..., 1] / s2
    Hf[:m, m] = Hf[m, :m] = -2.0 * g[:, 1] / sigma ** 3
    Hf[m, m] = 6.0 * r2 / sigma ** 4 - 2.0 * nn / s2
    w, V = np.linalg.eigh(0.5 * (Hf + Hf.T))
    pos = w > 1e-8                         # lmerTest: pseudo-inverse over the positive eigenvalues
    A = 2.0 * (V[:, pos] / w[pos]) @ V[:, pos].T
    U0, dU, _ = derivatives(lambda th: objective.unscaled_beta_cov(th), theta, hessian=False)
    return VarparCovariance(A=A, U=U0, dU=dU, sigma=float(sigma))


def norm_inter(t: np.ndarray, alpha) -> np.ndarray:
    """boot's norm.inter: the alpha quantiles of the finite replicates t by the order statistic of rank
    (R + 1) α, interpolated on the normal scale between neighbours (the extremes beyond them)."""
    t = np.sort(np.asarray(t, dtype=float)[np.isfinite(t)])
    R = t.size
    alpha = np.atleast_1d(np.asarray(alpha, dtype=float))
    rk = (R + 1) * alpha
    k = np.trunc(rk).astype(int)
    out = np.empty(alpha.size)
    nq = scipy_stats().norm.ppf
    for i, (a, r, ki) in enumerate(zip(alpha, rk, k)):
        if ki <= 0:
            out[i] = t[0]
        elif ki >= R:
            out[i] = t[-1]
        elif ki == r:
            out[i] = t[ki - 1]
        else:
            lo, hi = nq(ki / (R + 1)), nq((ki + 1) / (R + 1))
            out[i] = t[ki - 1] + (nq(a) - lo) / (hi - lo) * (t[ki] - t[ki - 1])
    return out


def percentile_interval(replicates: np.ndarray, level: float) -> tuple:
    """(lower, upper) per column of the bootstrap replicates (boot.ci's type = "perc")."""
    a = (1 - level) / 2
    ends = np.array([norm_inter(replicates[:, j], [a, 1 - a]) for j in range(replicates.shape[1])])
    return ends[:, 0], ends[:, 1]


def satterthwaite_df(vc: VarparCovariance, contrasts) -> np.ndarray:
    """Denominator df for each row c of `contrasts` (lmerTest's contest1D)."""
    L = np.atleast_2d(np.asarray(contrasts, dtype=float))
    s = vc.sigma
    out = np.empty(L.shape[0])
    for i, c in enumerate(L):
        var = s * s * c @ vc.U @ c
        grad = np.concatenate([s * s * np.einsum("a,kab,b->k", c, vc.dU, c), [2.0 * s * c @ vc.U @ c]])
        out[i] = 2.0 * var ** 2 / (grad @ vc.A @ grad)
    return out


# ---- profile likelihood ----------------------------------------------------------------------
def _profile_zeta(dev, hat, i, lo, hi, step, base, ftol_rel=FTOL_REL):
    """ζ(v) = sign(v − hat_i) √(min over the others of dev − base) for parameter i, the others by BOBYQA
    (first steps `step`) from the point of the last call; zeta.restart() goes back to hat."""
    others = np.array([j for j in range(hat.shape[0]) if j != i])
    warm = {"x": hat[others].copy()}

    def zeta(v):
        def f(x):
            par = hat.copy()
            par[others] = x
            par[i] = v
            return dev(par)
        opt = minimize_bobyqa(f, np.clip(warm["x"], lo[others], hi[others]), lo[others], upper=hi[others],
                              warn=False, step=step[others], ftol_rel=ftol_rel)
        warm["x"] = opt.theta
        return np.sign(v - hat[i]) * np.sqrt(max(opt.fmin - base, 0.0))

    zeta.restart = lambda: warm.__setitem__("x", hat[others].copy())
    return zeta


def _interval(zeta, est, step, lo_bound, hi_bound, z):
    """Roots of ζ(v) = −z below est and ζ(v) = +z above it (bounds where ζ never gets there)."""
    out = []
    for sign, bound in ((-1, lo_bound), (1, hi_bound)):
        a, b = est, est
        h = step
        val = 0.0
        for _ in range(60):
            b = est + sign * h
            if (sign < 0 and b <= bound) or (sign > 0 and b >= bound):
                b = bound
            val = zeta(b)
            if sign * val >= z or b == bound:
                break
            a = b
            h *= 1.6
        if sign * val < z:
            out.append(bound)
            continue
        out.append(scipy_optimize().brentq(lambda v: zeta(v) - sign * z, min(a, b), max(a, b), xtol=1e-10 * max(1, abs(est))))
    return tuple(out)


def profile_intervals(ml: ProfiledDeviance, theta_ml, sigma_ml, beta_ml, beta_se, terms, term_names,
                      x_names, level=0.95, steps=None):
    """Profile-likelihood intervals of the sd/cor parameters, σ and β (lme4's confint(profile(fit))).
    steps(text, n): the loop over the parameters (fastmme.progress.Progress.steps shows a bar)."""
    z = scipy_stats().norm.ppf(0.5 + level / 2)
    phi_hat = sdcor_from_theta(terms, theta_ml, sigma_ml)
    k = phi_hat.shape[0]
    lo_b, hi_b = sdcor_bounds(terms)

    lo_b[-1] = sigma_ml / 100.0        # σ is never near 0 in a profile; keeps θ = sd/σ moderate
    # the steps in the units of fastmme.optimize.theta_scale: an sd of a badly scaled covariate's column (d ≠ 1) is
    # d times smaller than the same effect on a moderate scale (1 elsewhere, where nothing changes)
    d_theta = Scaled.of(ml).d
    d_phi = np.concatenate([np.where(theta_lower(terms) == 0, d_theta, 1.0), [1.0]])

    def dev_phi(phi):
        try:
            return ml.unprofiled_deviance(theta_from_sdcor(terms, phi), phi[-1], reml=False)
        except FastmmeError:            # numerically indefinite at an extreme point: reject it
            return 1e300

    base = dev_phi(phi_hat)
    rows = []
    b = ml.blocks
    p = b.XtX.shape[0]
    count = iter(steps("profiling", k + p, unit=" parameters") if steps is not None else range(k + p))
    for i in range(k):
        next(count, None)
        zeta = _profile_zeta(dev_phi, phi_hat, i, lo_b, hi_b, 0.75 / d_phi, base)

        step = 0.3 * max(abs(phi_hat[i]), 0.05 * phi_hat[-1] / d_phi[i]) if lo_b[i] >= 0 else 0.2
        rows.append(_interval(zeta, phi_hat[i], step, lo_b[i], hi_b[i], z))

    # fixed effects: x_j β_j as an offset, θ optimised, σ profiled (ML)
    spec = ml.spec
    for j in range(p):
        next(count, None)
        keep = [c for c in range(p) if c != j]
        red_spec = dataclasses.replace(spec, X=spec.X[:, keep], x_names=tuple(spec.x_names[c] for c in keep),
                                       reml=False)

        def blocks_at(v, keep=keep, j=j):
            v = v - spec.beta_shift[j]          # the blocks are of the working response y − X b₀
            return Blocks(zz=b.zz, ZtX=b.ZtX[:, keep], Zty=b.Zty - v * b.ZtX[:, j],
                          XtX=b.XtX[np.ix_(keep, keep)], Xty=b.Xty[keep] - v * b.XtX[keep, j],
                          yty=b.yty - 2 * v * b.Xty[j] + v * v * b.XtX[j, j], sum_log_w=b.sum_log_w, n=b.n)

        red = ProfiledDeviance(red_spec, blocks_at(beta_ml[j]), ml.pattern, perm_z=ml.perm_z)
        lower = theta_lower(terms)
        warm = {"x": np.asarray(theta_ml, dtype=float).copy()}

        def zeta(v, j=j, red=red, warm=warm, blocks_at=blocks_at, lower=lower):
            red.set_blocks(blocks_at(v))
            opt = minimize_bobyqa(lambda th: red.deviance(th, reml=False), warm["x"], lower, warn=False,
                                  step=np.where(np.isfinite(lower), 0.75, 0.5) / d_theta)
            warm["x"] = opt.theta
            return np.sign(v - beta_ml[j]) * np.sqrt(max(opt.fmin - base, 0.0))

        rows.append(_interval(zeta, beta_ml[j], 0.5 * beta_se[j], -np.inf, np.inf, z))
    next(count, None)
    names = sdcor_names(terms, term_names) + list(x_names)
    ml.factorize(theta_ml)
    return names, np.array(rows)


# the GLMM profile's inner minimisations: F to 1e-10 relative moves ζ ≈ 2 by about 1e-8 (ζ² = ΔF)
PROFILE_FTOL = 1e-10


def _profile_end(zeta, est, guess, bound, sign, z):
    """The end of a profile interval on one side: v with ζ(v) = sign·z, from a first guess est + sign·guess
    (the Wald end for β), extended by secant steps until ζ passes sign·z, then Brent's method on the
    bracket to |Δv| ≤ 1e-6 guess; the bound where ζ never gets there."""
    a, za = est, 0.0
    b = est + sign * guess
    if sign * (b - bound) >= 0:
        b = bound
    zb = zeta(b)
    for _ in range(40):
        if sign * zb >= z:
            break
        if b == bound:
            return bound
        slope = (zb - za) / (b - a)
        c = b + (sign * z - zb) / slope if sign * slope > 0 else b + sign * guess
        c = b + sign * min(max(sign * (c - b), 0.1 * abs(b - a)), 4.0 * abs(b - a))   # progress, not a leap
        if sign * (c - bound) >= 0:
            c = bound
        a, za, b, zb = b, zb, c, zeta(c)
    else:
        return bound
    return scipy_optimize().brentq(lambda v: zeta(v) - sign * z, min(a, b), max(a, b), xtol=1e-6 * guess)


def glmm_profile_intervals(F, terms, term_names, theta, beta, beta_se, x_names, level=0.95, which=None):
    """Profile-likelihood intervals of a GLMM's sd/cor parameters and β (lme4's confint(profile(fit)) of a
    glmer fit): F(θ, β) is the objective (−2 log L, Laplace or quadrature); each parameter in turn is held
    at v while BOBYQA minimises F over all the others, ζ(v) = sign(v − v̂) √(F_min(v) − F(θ̂, β̂)), and the
    interval's ends solve ζ = ∓z (a bound where ζ never gets there, as lme4 reports 1 for a correlation).
    which: the positions (in sd/cor, then β order) to profile; None: all.  Returns (names, intervals)."""
    z = scipy_stats().norm.ppf(0.5 + level / 2)
    sd_hat = sdcor_from_theta(terms, np.asarray(theta, dtype=float), 1.0)[:-1]
    k, p = sd_hat.shape[0], np.asarray(beta).shape[0]
    par_hat = np.concatenate([sd_hat, np.asarray(beta, dtype=float)])
    lo_sd, hi_sd = sdcor_bounds(terms)
    lo_b = np.concatenate([lo_sd[:-1], np.full(p, -np.inf)])
    hi_b = np.concatenate([hi_sd[:-1], np.full(p, np.inf)])
    se = np.maximum(np.asarray(beta_se, dtype=float), 1e-8)
    # BOBYQA's first steps: half a bounded parameter's size (at least 0.05), 0.2 for a correlation, half a β's SE
    step0 = np.concatenate([np.where(lo_sd[:-1] == 0.0, np.maximum(0.5 * sd_hat, 0.05), 0.2), 0.5 * se])

    def dev(par):
        try:
            return F(theta_from_sdcor(terms, np.concatenate([par[:k], [1.0]])), par[k:])
        except NotPositiveDefinite:    # PIRLS (PirlsFailure) or a factor failed at an extreme point: reject it
            return 1e300

    base = dev(par_hat)
    names = sdcor_names(terms, term_names)[:-1] + list(x_names)
    positions = range(k + p) if which is None else which
    rows = []
    for i in positions:
        zeta = _profile_zeta(dev, par_hat, i, lo_b, hi_b, step0, base, ftol_rel=PROFILE_FTOL)

        if i < k:      # an sd (bounded below by 0) or a correlation
            guess = 0.5 * max(abs(par_hat[i]), 0.05) if lo_b[i] >= 0 else 0.3
        else:          # β: the Wald end
            guess = z * se[i - k]
        ends = []
        for sign, bound in ((-1, lo_b[i]), (1, hi_b[i])):
            zeta.restart()
            ends.append(_profile_end(zeta, par_hat[i], guess, bound, sign, z))
        rows.append(tuple(ends))
    return [names[i] for i in positions], np.array(rows)
