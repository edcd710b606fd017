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
from ..linalg.kernels import glm

LINK_CODE = {"logit": 0, "probit": 1, "cloglog": 2, "log": 3, "identity": 4}     # the kernels' codes
FAMILY_CODE = {"binomial": 0, "poisson": 1, "gaussian": 2}


def _rows(a):
    return np.ascontiguousarray(np.asarray(a, dtype=np.float64).ravel())


def _apply(what, code, x):
    """A per-row function of fastmme.linalg.kernels.glm (glm.per_row) on an array of any shape."""
    x = np.asarray(x, dtype=np.float64)
    return glm.per_row(what, code, _rows(x)).reshape(x.shape)


def _broadcast(w, y):
    return _rows(np.broadcast_to(np.asarray(w, dtype=np.float64), np.shape(y)))


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

    @property
    def code(self) -> int:
        return LINK_CODE[self.name]

    def linkinv(self, eta):
        """μ = g⁻¹(η), with R's clamps."""
        return _apply(glm.LINKINV, self.code, eta)

    def mu_eta(self, eta):
        """dμ/dη, with R's clamps."""
        return _apply(glm.MU_ETA, self.code, eta)

    def dmu_eta(self, eta):
        """d²μ/dη² (0 where dμ/dη is clamped)."""
        return _apply(glm.DMU_ETA, self.code, eta)

    def clamped(self, eta) -> np.ndarray:
        """Where R's clamp holds μ constant (a boolean array)."""
        return _apply(glm.CLAMPED, self.code, eta) > 0

    @property
    def canonical_for(self) -> str:
        """The family whose canonical link this is ("" for none): there the observed and expected
        information agree, w = a dμ/dη."""
        return {"logit": "binomial", "log": "poisson", "identity": "gaussian"}.get(self.name, "")


@dataclass(frozen=True)
class Family:
    """A response distribution with its link (see the module docstring)."""
    name: str
    link: Link

    @property
    def code(self) -> int:
        return FAMILY_CODE[self.name]

    def variance(self, mu):
        return _apply(glm.VARIANCE, self.code, mu)

    def dev_resids(self, y, mu, w):
        y = np.asarray(y, dtype=np.float64)
        return glm.dev_resids(self.code, _rows(y), _rows(mu), _broadcast(w, y)).reshape(y.shape)

    def aic(self, y, mu, w) -> float:
        """−2 Σ log f(y_i | μ_i) with the prior weights, as R's family$aic (binomial: w the trials; the
        Gaussian with variance 1 / w, the dispersion known: the tests' LMM check)."""
        if self.name not in FAMILY_CODE:
            raise FastmmeError(f"no aic for the {self.name} family")
        return float(glm.minus2ll(self.code, _rows(y), _rows(mu), _broadcast(w, y)))

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
