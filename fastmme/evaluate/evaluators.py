"""The two evaluators of the θ loop behind one protocol.

fastmme.evaluate.objective.ProfiledDeviance assembles the blocks, chooses an evaluator by a cost model and
delegates every per-θ operation to it; nothing else asks which evaluator runs.  An evaluator has

    name                        "schur" (the dense Schur complement) or "cholmod" (the sparse factor)
    has_gradient                whether deviance_and_gradient is available
    small_blas                  whether its LAPACK calls are small enough for one BLAS thread
    sparse_steps                whether EM steps (fastmme.optimize.em, on the sparse factor) apply
    evaluate(θ)                 Evaluation (ldL2, ldRX2, r²), or NotPositiveDefinite
    deviance_and_gradient(θ, reml, information)
                                (Evaluation, ∂criterion/∂θ, AI matrix or None)
    model_solver(θ)             rhs (model order: u by term, X, y) ↦ M_aug⁻¹ rhs
    solve_y(θ)                  x = M_aug⁻¹ e_y and the order it is in ("system" or "model")
    solve_fixed(θ, E)           M_aug⁻¹ E for E with rows only at X and y (the same in both orders)
    release(), set_blocks(b)    free the workspace; take blocks of a new response

The sparse factor itself (fastmme.evaluate.system, fastmme.linalg.cholmod) belongs to the objective whichever
evaluator runs the θ loop: PEVs, condVar, fixed-level variances and EM use it at θ̂.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from ..config import SINGLE_BLAS_THREAD_M
from ..linalg.cholmod import not_positive_definite
from ..spec.terms import theta_start
from .sparse_gradient import sparse_gradient

LOG_2PI = np.log(2.0 * np.pi)
# above this many entries of L the selected inverse behind the gradient (a copy of L and Z, 24 bytes an
# entry) is not attempted and BOBYQA runs.  With the supernodal selected inverse a Newton (AI-REML) step
# costs about 4 evaluations and a fit takes 4-6 of them against BOBYQA's 25-30 evaluations (measured:
# 210,000 animals, nnz(L) 22 M: 4 Newton steps 71 s, BOBYQA 29 evaluations 149 s, the same optimum)
SPARSE_GRADIENT_MAX_NNZ = 300_000_000


@dataclass(frozen=True)
class Evaluation:
    """The pieces of the profiled criterion at θ: log|L_Z|², log|R_X|² and r²."""
    theta: np.ndarray
    ldL2: float
    ldRX2: float
    pwrss: float

    def deviance(self, n: int, p: int, sum_log_w: float, reml: bool) -> float:
        if reml:
            nmp = n - p
            return self.ldL2 + self.ldRX2 - sum_log_w + nmp * (1.0 + LOG_2PI + np.log(self.pwrss / nmp))
        return self.ldL2 - sum_log_w + n * (1.0 + LOG_2PI + np.log(self.pwrss / n))


class SchurEvaluator:
    """The θ loop by the dense Schur complement after the term with most random effects (fastmme.evaluate.schur)."""
    name = "schur"
    has_gradient = True
    sparse_steps = False

    def __init__(self, objective, schur):
        # a weak reference: the objective owns its evaluator, and a strong one back would make a reference
        # cycle that keeps every finished fit's blocks and workspace until the garbage collector runs
        self.objective, self.schur = weakref.proxy(objective), schur

    @property
    def small_blas(self) -> bool:
        return self.schur.m <= SINGLE_BLAS_THREAD_M

    def _evaluate_T(self, th, T):
        out = self.schur.evaluate(T, self.objective.lam.t_offset)
        if out is None:
            raise not_positive_definite(th)
        return Evaluation(theta=th, ldL2=out[0], ldRX2=out[1], pwrss=out[2])

    def evaluate(self, th):
        return self._evaluate_T(th, self.objective.lam.flat(th))

    def deviance_and_gradient(self, th, reml: bool, information: bool):
        obj = self.objective
        T = obj.lam.flat(th)
        ev = self._evaluate_T(th, T)
        H = obj.information(th, reml) if information else None
        try:
            gT = self.schur.gradient(T, obj.lam.t_offset, reml)
        except np.linalg.LinAlgError:
            raise not_positive_definite(th) from None
        grad = obj.lam.chain(gT)
        return ev, grad, H

    def model_solver(self, th):
        obj = self.objective
        T_flat = obj.lam.flat(th)
        return lambda rhs: self.schur.solve(T_flat, obj.lam.t_offset, rhs)

    def _solve(self, th, B):
        obj = self.objective
        try:
            return self.schur.solve(obj.lam.flat(th), obj.lam.t_offset, B)
        except np.linalg.LinAlgError:
            raise not_positive_definite(th) from None

    def solve_y(self, th):
        e = np.zeros(self.objective.N)
        e[-1] = 1.0
        return self._solve(th, e[:, None])[:, 0], "model"

    def solve_fixed(self, th, E):
        return self._solve(th, E)

    def release(self) -> None:
        self.schur.release()

    def set_blocks(self, blocks) -> None:
        self.schur.set_blocks(blocks)


class CholmodEvaluator:
    """The θ loop by a numeric refactorisation of the sparse augmented system (fastmme.evaluate.system) per θ;
    the gradient from its selected inverse (fastmme.evaluate.sparse_gradient)."""
    name = "cholmod"
    small_blas = False
    sparse_steps = True

    def __init__(self, objective):
        self.objective = weakref.proxy(objective)          # as SchurEvaluator
        self._gradient_ok: bool | None = None

    @property
    def has_gradient(self) -> bool:
        """The sparse gradient is not attempted for factors above SPARSE_GRADIENT_MAX_NNZ or whose selected
        inverse would not fit in half the available memory: BOBYQA runs then."""
        obj = self.objective
        if self._gradient_ok is None:
            if obj._last is None:          # nnz(L) is known after a numeric factorisation
                obj.factorize(theta_start(obj.spec.terms))
            self._gradient_ok = obj.chol.nnz_L() <= SPARSE_GRADIENT_MAX_NNZ and obj.selected_inverse_fits()
        return self._gradient_ok

    def evaluate(self, th):
        self.objective.factorize(th)
        return self.objective._last

    def deviance_and_gradient(self, th, reml: bool, information: bool):
        obj = self.objective
        ev = obj.evaluate(th)
        H = obj.information(th, reml) if information else None
        return ev, sparse_gradient(obj, th, reml), H

    def model_solver(self, th):
        obj = self.objective
        obj.factorize(th)
        iperm, q = obj.system.iperm_z, obj.q

        def solve(rhs):
            s = np.array(rhs, dtype=float, copy=True)
            s[iperm] = rhs[:q]
            out = np.asarray(obj.chol.solve(s)).reshape(rhs.shape)
            res = out.copy()
            res[:q] = out[iperm]
            return res
        return solve

    def solve_y(self, th):
        obj = self.objective
        obj.factorize(th)
        e = np.zeros(obj.N)
        e[-1] = 1.0
        return np.asarray(obj.chol.solve(e)).reshape(-1), "system"

    def solve_fixed(self, th, E):
        self.objective.factorize(th)
        return np.asarray(self.objective.chol.solve(E))

    def release(self) -> None:
        pass

    def set_blocks(self, blocks) -> None:
        pass
