"""A GLMM family's per-row functions, as R's binomial() and poisson() define them, and PIRLS's passes
over the rows fused from them (one compiled loop each instead of a dozen NumPy passes).

The scalar functions are the only implementation: fastmme.spec.family's array methods call the array
kernels here, and PIRLS (fastmme.evaluate.laplace) calls the fused ones.  Codes: family 0 binomial,
1 Poisson, 2 Gaussian; link 0 logit, 1 probit, 2 cloglog, 3 log, 4 identity.  R's clamps are kept:
|η| > 30 gives μ = ε or 1 − ε for the logit, μ ≥ ε for the log link, and so on.
Tests: tests/test_family.py (against R's values and the closed forms), tests/test_glmm.py.
"""
import math

import numpy as np
from numba import njit, prange
from scipy import special

from ...config import JIT

EPS = float(np.finfo(float).eps)
LOGIT_THRESH = 30.0                         # R's logit link: |η| above this gives μ = ε or 1 − ε
PROBIT_THRESH = float(-special.ndtri(EPS))  # R: −qnorm(ε)
SQRT_2PI = math.sqrt(2.0 * math.pi)
LOG_2PI = math.log(2.0 * math.pi)


@njit(inline="always", **JIT)
def linkinv1(link, eta):
    if link == 0:
        if eta > LOGIT_THRESH:
            return 1.0 - EPS
        if eta < -LOGIT_THRESH:
            return EPS
        e = math.exp(-abs(eta))
        return 1.0 / (1.0 + e) if eta >= 0 else e / (1.0 + e)
    if link == 1:
        x = min(max(eta, -PROBIT_THRESH), PROBIT_THRESH)
        return 0.5 * math.erfc(-x / math.sqrt(2.0))
    if link == 2:
        return min(max(-math.expm1(-math.exp(eta)), EPS), 1.0 - EPS)
    if link == 3:
        return max(math.exp(eta), EPS)
    return eta


@njit(inline="always", **JIT)
def mu_eta1(link, eta):
    if link == 0:
        if abs(eta) > LOGIT_THRESH:
            return EPS
        e = math.exp(-abs(eta))
        return e / ((1.0 + e) * (1.0 + e))
    if link == 1:
        return max(math.exp(-0.5 * eta * eta) / SQRT_2PI, EPS)
    if link == 2:
        e = min(eta, 700.0)
        return max(math.exp(e) * math.exp(-math.exp(e)), EPS)
    if link == 3:
        return max(math.exp(eta), EPS)
    return 1.0


@njit(inline="always", **JIT)
def dmu_eta1(link, eta):
    """d²μ/dη² (0 where mu_eta1 is clamped)."""
    if link == 0:
        if abs(eta) > LOGIT_THRESH:
            return 0.0
        e = math.exp(-abs(eta))
        me = e / ((1.0 + e) * (1.0 + e))
        return me * (1.0 - e) / (1.0 + e) * (-1.0 if eta >= 0 else 1.0)     # μ'(1 − 2μ)
    if link == 1:
        v = math.exp(-0.5 * eta * eta) / SQRT_2PI
        return -eta * v if v > EPS else 0.0
    if link == 2:
        e = min(eta, 700.0)
        v = math.exp(e) * math.exp(-math.exp(e))
        return (1.0 - math.exp(e)) * v if v > EPS else 0.0
    if link == 3:
        return math.exp(eta) if math.exp(eta) > EPS else 0.0
    return 0.0


@njit(inline="always", **JIT)
def variance1(family, mu):
    if family == 0:
        return mu * (1.0 - mu)
    if family == 1:
        return mu
    return 1.0


@njit(inline="always", **JIT)
def _xlogy_ratio(y, mu):
    """y log(y / μ), 0 where y = 0."""
    return y * math.log(y / mu) if y > 0 else 0.0


@njit(inline="always", **JIT)
def dev_resid1(family, y, mu, w):
    if family == 0:
        return 2.0 * w * (_xlogy_ratio(y, mu) + _xlogy_ratio(1.0 - y, 1.0 - mu))
    if family == 1:
        return 2.0 * w * (_xlogy_ratio(y, mu) - (y - mu))
    return w * (y - mu) * (y - mu)


@njit(inline="always", **JIT)
def minus2ll1(family, y, mu, w):
    """−2 log f(y | μ) of one row with its prior weight, as R's family$aic sums them (binomial: w the
    trials, dbinom(round(w y), round(w), μ); Gaussian: variance 1 / w)."""
    if family == 0:
        m = np.rint(w)
        if not m > 0:
            return 0.0
        k = np.rint(w * y)
        ll = math.lgamma(m + 1.0) - math.lgamma(k + 1.0) - math.lgamma(m - k + 1.0)
        if k != 0:
            ll += k * math.log(mu)
        if m - k != 0:
            ll += (m - k) * math.log1p(-mu)
        return -2.0 * ll
    if family == 1:
        ll = (y * math.log(mu) if y != 0 else 0.0) - mu - math.lgamma(y + 1.0)
        return -2.0 * w * ll
    return w * (y - mu) * (y - mu) + LOG_2PI - math.log(w)


@njit(inline="always", **JIT)
def clamped1(link, eta):
    """Whether R's clamp holds μ constant at η (logit |η| > 30; log: exp(η) ≤ ε)."""
    if link == 0:
        return abs(eta) > LOGIT_THRESH
    if link == 1:
        return abs(eta) > PROBIT_THRESH
    if link == 3:
        return not math.exp(eta) > EPS
    return False


# ---- arrays (fastmme.spec.family) -------------------------------------------------------------
LINKINV, MU_ETA, DMU_ETA, VARIANCE, CLAMPED = 0, 1, 2, 3, 4      # what `per_row` computes


@njit(**JIT)
def per_row(what, code, x):
    """One of the per-row functions over an array: LINKINV, MU_ETA, DMU_ETA, CLAMPED (1.0 or 0.0; code:
    the link's) or VARIANCE (code: the family's)."""
    out = np.empty(x.shape[0])
    for i in range(x.shape[0]):
        if what == LINKINV:
            out[i] = linkinv1(code, x[i])
        elif what == MU_ETA:
            out[i] = mu_eta1(code, x[i])
        elif what == DMU_ETA:
            out[i] = dmu_eta1(code, x[i])
        elif what == CLAMPED:
            out[i] = 1.0 if clamped1(code, x[i]) else 0.0
        else:
            out[i] = variance1(code, x[i])
    return out


@njit(**JIT)
def dev_resids(family, y, mu, w):
    out = np.empty(y.shape[0])
    for i in range(y.shape[0]):
        out[i] = dev_resid1(family, y[i], mu[i], w[i])
    return out


@njit(**JIT)
def minus2ll(family, y, mu, w):
    s = 0.0
    for i in range(y.shape[0]):
        s += minus2ll1(family, y[i], mu[i], w[i])
    return s


# ---- PIRLS's fused passes (fastmme.evaluate.laplace) ------------------------------------------
# each pass has a serial and a parallel form with the same per-row arithmetic (no sums: the rows' values
# do not depend on the number of threads); the serial one skips starting a parallel region, which costs
# more than the pass on small designs (fastmme.optimize.glmm.kernel_threads sets one thread there)
@njit(inline="always", **JIT)
def _working_row(family, link, e, y, pw, off):
    mu = linkinv1(link, e)
    me = mu_eta1(link, e)
    return pw * me * me / variance1(family, mu), e - off + (y - mu) / me


@njit(**JIT)
def working_values(family, link, eta, y, pw, offset, w_out, z_out):
    """The working weights w = a (dμ/dη)² / V(μ) and response z = η − offset + (y − μ) / (dμ/dη)."""
    for i in range(eta.shape[0]):
        w_out[i], z_out[i] = _working_row(family, link, eta[i], y[i], pw[i], offset[i])


@njit(parallel=True, **JIT)
def working_values_parallel(family, link, eta, y, pw, offset, w_out, z_out):
    """working_values on Numba's threads."""
    for i in prange(eta.shape[0]):
        w_out[i], z_out[i] = _working_row(family, link, eta[i], y[i], pw[i], offset[i])


@njit(**JIT)
def deviance_residuals(family, link, eta, y, pw, out):
    """out_i = d_i(y_i, g⁻¹(η_i)) with the prior weights (their sum: the deviance against the saturated
    model; summed by the caller with NumPy's pairwise sum, whose rounding PIRLS's step-halving test sees)."""
    for i in range(eta.shape[0]):
        out[i] = dev_resid1(family, y[i], linkinv1(link, eta[i]), pw[i])


@njit(parallel=True, **JIT)
def deviance_residuals_parallel(family, link, eta, y, pw, out):
    """deviance_residuals on Numba's threads."""
    for i in prange(eta.shape[0]):
        out[i] = dev_resid1(family, y[i], linkinv1(link, eta[i]), pw[i])
