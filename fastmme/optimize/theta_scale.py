"""θ in units that do not depend on how the random-effect covariates are scaled.

A random slope on a covariate measured in large units (days up to 10⁵) has θ entries near 1e-5 at its
optimum; the optimisers' absolute thresholds (an entry within 1e-4 of its bound of 0 may land on it; the
convergence certificate's scale max(1, |θ|)) then act on the wrong scale: sleepstudy with Days × 10⁴ in
`(1 | Subject) + (0 + D | Subject)` stopped at θ_D = 0 and reported convergence, 42.8 above the optimum.
Scaling column a of a term's model matrix by 1/d_a changes T_k to D T_k (row a of T_k times d_a) and
leaves the model unchanged, so the optimisers work on θ̃ = d ⊙ θ with d_a the power of two nearest the
root mean square sqrt(Σ_i w_i z_ia² / n) of that column, where that is at least 2⁴ or at most 2⁻⁴ (1
otherwise: intercepts, indicators and covariates of moderate scale keep lme4's θ, and their fits are
unchanged).  Powers of two make the map exact in floating point.  Results are reported in lme4's θ.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from .minimize import OptSummary

SCALE_FROM = 4      # |log2 of the column's RMS| from which the column is rescaled


def theta_scale(objective) -> np.ndarray:
    """d (one per θ entry) for a ProfiledDeviance: from the diagonal of ZᵀWZ's diagonal blocks, Σ_i w_i z_ia²
    per column a of each term, over n rows."""
    pt, b = objective.pattern, objective.blocks
    out = []
    for k, term in enumerate(objective.spec.terms):
        r, J, lo = int(pt.r[k]), int(pt.J[k]), int(pt.diag_offset[k])
        ss = np.einsum("jaa->a", b.zz[lo:lo + J * r * r].reshape(J, r, r))
        if term.structure == "identity":
            ss = np.array([np.mean(ss)])
        e = np.round(np.log2(np.sqrt(np.maximum(ss, 0.0) / max(b.n, 1)), where=ss > 0, out=np.zeros_like(ss)))
        d = np.where(np.abs(e) >= SCALE_FROM, np.exp2(e), 1.0)
        if term.structure == "unstructured":          # θ_k: T's lower triangle by columns; entry (i, j) → d_i
            d = np.array([d[i] for j in range(r) for i in range(j, r)])
        out.append(d)
    return np.concatenate(out) if out else np.zeros(0)


@dataclasses.dataclass(frozen=True)
class Scaled:
    """An objective's callables in θ̃ = d ⊙ θ: f̃(θ̃) = f(θ̃ / d), ∇̃ = ∇ / d, H̃ = H / (d dᵀ)."""
    objective: object
    d: np.ndarray

    @classmethod
    def of(cls, objective) -> "Scaled":
        return cls(objective, theta_scale(objective))

    @property
    def identity(self) -> bool:
        return bool(np.all(self.d == 1.0))

    def to_scaled(self, theta) -> np.ndarray:
        return np.asarray(theta, dtype=np.float64) * self.d

    def from_scaled(self, theta) -> np.ndarray:
        return np.asarray(theta, dtype=np.float64) / self.d

    def f(self, th):
        return self.objective.deviance(th / self.d)

    def fg(self, th):
        v, g = self.objective.deviance_and_gradient(th / self.d)
        return v, g / self.d

    def fgh(self, th):
        v, g, H = self.objective.deviance_and_gradient(th / self.d, information=True)
        return v, g / self.d, H / np.outer(self.d, self.d)

    def canonical(self, th):
        """canonical(θ̃) = d ⊙ canonical(θ̃ / d): the semi-definite Cholesky factor of D Σ D is D times Σ's."""
        return self.objective.canonical_theta(th)

    def wrap(self, step):
        """A map θ → θ (such as an EM step) as a map θ̃ → θ̃."""
        return lambda th: self.d * step(th / self.d)

    def unscale(self, opt: OptSummary) -> OptSummary:
        """The optimiser's summary with θ, its start and the gradient there in lme4's θ (the certificate
        number stays the scale-invariant one the optimiser saw)."""
        return dataclasses.replace(opt, theta=self.from_scaled(opt.theta), theta_start=self.from_scaled(opt.theta_start),
                                   grad=None if opt.grad is None else opt.grad * self.d)
