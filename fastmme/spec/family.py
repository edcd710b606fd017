"""Response distributions of a GLMM and their links, as R's `binomial()` and `poisson()` define them
(the clamps of R's link inverses included, so μ stays inside (0, 1) or (0, ∞) where R's does).

A family gives, for the linear predictor η, prior weights w and the response y (a proportion for the
binomial, with w the number of trials; a count for the Poisson):
    μ = linkinv(η), dμ/dη = mu_eta(η), V(μ) = variance(μ),
    dev_resids(y, μ, w)  (Σ of them: the deviance against the saturated model),
    aic(y, μ, w)         (−2 log L of the conditional distribution: lme4's Laplace objective adds it),
    mustart(y, w)        (R's starting values).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from ..errors import FastmmeError

EPS = np.finfo(float).eps
LOGIT_THRESH = 30.0                      # R's logit link: |η| above this gives μ = ε or 1 − ε
PROBIT_THRESH = -special.ndtri(EPS)      # R: −qnorm(ε)


def _xlogy_ratio(y, mu):
    """y log(y / μ), 0 where y = 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(y > 0, y * np.log(np.where(y > 0, y, 1.0) / mu), 0.0)


@dataclass(frozen=True)
class Link:
    name: str

    def linkfun(self, mu):
        if self.name == "logit":
            return np.log(mu / (1.0 - mu))
        if self.name == "probit":
            return special.ndtri(mu)
        if self.name == "cloglog":
            return np.log(-np.log1p(-mu))
        if self.name == "log":
            return np.log(mu)
        return mu                         # identity

    def linkinv(self, eta):
        if self.name == "logit":
            e = np.exp(-np.abs(eta))
            mu = np.where(eta >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
            return np.where(eta > LOGIT_THRESH, 1.0 - EPS, np.where(eta < -LOGIT_THRESH, EPS, mu))
        if self.name == "probit":
            return special.ndtr(np.clip(eta, -PROBIT_THRESH, PROBIT_THRESH))
        if self.name == "cloglog":
            return np.clip(-np.expm1(-np.exp(eta)), EPS, 1.0 - EPS)
        if self.name == "log":
            return np.maximum(np.exp(eta), EPS)
        return np.asarray(eta, dtype=float)

    def mu_eta(self, eta):
        if self.name == "logit":
            e = np.exp(-np.abs(eta))
            return np.where(np.abs(eta) > LOGIT_THRESH, EPS, e / (1.0 + e) ** 2)
        if self.name == "probit":
            return np.maximum(np.exp(-0.5 * eta * eta) / np.sqrt(2.0 * np.pi), EPS)
        if self.name == "cloglog":
            e = np.minimum(eta, 700.0)
            return np.maximum(np.exp(e) * np.exp(-np.exp(e)), EPS)
        if self.name == "log":
            return np.maximum(np.exp(eta), EPS)
        return np.ones_like(np.asarray(eta, dtype=float))


@dataclass(frozen=True)
class Family:
    """A response distribution with its link (see the module docstring)."""
    name: str
    link: Link

    def variance(self, mu):
        if self.name == "binomial":
            return mu * (1.0 - mu)
        if self.name == "poisson":
            return mu
        return np.ones_like(mu)

    def dev_resids(self, y, mu, w):
        if self.name == "binomial":
            return 2.0 * w * (_xlogy_ratio(y, mu) + _xlogy_ratio(1.0 - y, 1.0 - mu))
        if self.name == "poisson":
            return 2.0 * w * (_xlogy_ratio(y, mu) - (y - mu))
        return w * (y - mu) ** 2

    def aic(self, y, mu, w) -> float:
        """−2 Σ log f(y_i | μ_i) with the prior weights, as R's family$aic (binomial: w the trials)."""
        if self.name == "binomial":
            m = np.round(w)
            k = np.round(w * y)                   # R: dbinom(round(m * y), round(m), μ) with m the weights
            ll = special.gammaln(m + 1) - special.gammaln(k + 1) - special.gammaln(m - k + 1) \
                + special.xlogy(k, mu) + special.xlog1py(m - k, -mu)
            return float(-2.0 * np.sum(np.where(m > 0, ll, 0.0)))
        if self.name == "poisson":
            ll = special.xlogy(y, mu) - mu - special.gammaln(y + 1)
            return float(-2.0 * np.sum(w * ll))
        if self.name == "gaussian":               # variance 1 / w, the dispersion known (the tests' LMM check)
            return float(np.sum(w * (y - mu) ** 2) + y.shape[0] * np.log(2.0 * np.pi) - np.sum(np.log(w)))
        raise FastmmeError(f"no aic for the {self.name} family")

    def mustart(self, y, w):
        if self.name == "binomial":
            return (w * y + 0.5) / (w + 1.0)
        if self.name == "poisson":
            return y + 0.1
        return np.asarray(y, dtype=float)

    def check_response(self, y, w) -> None:
        """A FastmmeError for a response the family cannot have (the caller's values are not changed)."""
        if not np.all(np.isfinite(y)):
            raise FastmmeError("the response has infinite values")
        if self.name == "binomial":
            if np.any((y < 0) | (y > 1)):
                raise FastmmeError("a binomial response must be 0/1, a proportion in [0, 1] with weights= the "
                                   "numbers of trials, or cbind(successes, failures); values outside [0, 1] found")
            k = w * y
            if np.any(np.abs(k - np.round(k)) > 1e-7 * np.maximum(1.0, w)):
                raise FastmmeError("binomial proportions times the weights (the trials) must be whole numbers of "
                                   "successes: give weights= the numbers of trials")
        elif self.name == "poisson":
            if np.any(y < 0) or np.any(np.abs(y - np.round(y)) > 1e-8 * np.maximum(1.0, np.abs(y))):
                raise FastmmeError("a Poisson response must be non-negative whole numbers (counts)")


LINKS = {"binomial": ("logit", "probit", "cloglog"), "poisson": ("log",)}


def family(name: str, link: str | None = None) -> Family:
    """The Family `name` ("binomial" or "poisson") with `link` (None: the canonical one)."""
    if isinstance(name, Family):
        return name
    key = str(name).lower()
    if key not in LINKS:
        extra = " (the Gaussian family is fastmme.lmm)" if key in ("gaussian", "normal") else ""
        raise FastmmeError(f"family {name!r} is not supported: use 'binomial' or 'poisson'{extra}; "
                           "negative binomial, Gamma and inverse Gaussian GLMMs are not available yet")
    link = LINKS[key][0] if link is None else str(link).lower()
    if link not in LINKS[key]:
        raise FastmmeError(f"link {link!r} is not available for the {key} family; use one of "
                           f"{', '.join(LINKS[key])}")
    return Family(key, Link(link))
