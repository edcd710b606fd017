"""The Laplace objective of a GLMM by penalised iteratively reweighted least squares (PIRLS) on the
frozen pattern of the linear mixed model's equations.

With u spherical (b = Λ_θ u) and η = offset + Xβ + ZΛ_θ u, PIRLS finds the conditional mode of u
(and of β as well at nAGQ = 0) by minimising the penalised deviance
    pdev(u, β) = Σ_i d_i(y_i, μ_i) + ‖u‖²,   μ = g⁻¹(η),
each step a weighted least-squares solve of the linear mixed model's equations with the working
weights w_i = a_i (dμ/dη)² / V(μ_i) (a: prior weights) and the working response
z_i = η_i − offset_i + (y_i − μ_i) / (dμ/dη), assembled in one compiled pass over the rows on the
pattern the first assembly froze (fastmme.assembly).  A step that does not decrease pdev is halved
(up to MAX_HALVINGS times).  At the mode the Laplace approximation to −2 log L is, as lme4's,
    log|L_θ|² + ‖u‖² + aic(y, μ),   L_θ L_θᵀ = Λ_θᵀ ZᵀWZ Λ_θ + I,
with aic the family's −2 Σ log f(y_i | μ_i) (fastmme.spec.family).  With one scalar term, adaptive
Gauss–Hermite quadrature (agq) integrates each level's likelihood around the mode.  Tests:
tests/test_glmm.py (lme4's objective at fixed (θ, β), its optima, and the dense mode and Hessian of the
integrand), tests/test_glmm_designs.py (seeded designs), tests/test_agq.py, tests/test_glmm_gaussian.py.
"""
from __future__ import annotations

import contextlib

import numba
import numpy as np

from ..assembly.blocks import assemble, stack_terms
from ..errors import FastmmeError, NotPositiveDefinite
from ..linalg.kernels import glm
from ..linalg.kernels.matvec import add_z_times
from ..spec.model_spec import make_spec
from ..spec.terms import theta_lower, theta_start
from .objective import ProfiledDeviance

PIRLS_TOL = 1e-10      # stop when pdev changes by less than this, relative, ...
ETA_TOL = 1e-9         # ... and η by less than this (relative to 1 + max |η|): Fisher scoring converges
#                        only linearly for non-canonical links (probit, cloglog)
STALL_ETA = 1e-6       # a full step this small (relative) with no decrease of pdev left is the mode
PRECISE = (1e-15, 1e-13)   # the tolerances for finite differences (vcov's Hessian): the mode to rounding
PIRLS_MAXIT = 100
MAX_HALVINGS = 30
# from this many rows the assembly reads the rows in the order of the terms' levels (LaplaceObjective):
# below it ZᵀWZ stays in cache whatever the order, and the results stay those of the caller's order
ASSEMBLY_ORDER_MIN_ROWS = 50_000


MAX_AGQ = 100         # nodes per level (lme4's GHrule takes up to 100)


def gauss_hermite(n: int) -> tuple:
    """Nodes and weights of the n-point Gauss–Hermite rule for the standard normal density (Σ weights = 1)."""
    x, w = np.polynomial.hermite_e.hermegauss(n)
    return x, w / np.sqrt(2.0 * np.pi)


def check_nagq(nAGQ) -> int:
    """nAGQ as an int from 0 to MAX_AGQ (a whole float such as R's 7 is taken), or a FastmmeError."""
    whole = isinstance(nAGQ, (int, np.integer)) or (isinstance(nAGQ, (float, np.floating)) and float(nAGQ).is_integer())
    if isinstance(nAGQ, bool) or not whole or not 0 <= nAGQ <= MAX_AGQ:
        raise FastmmeError(f"nAGQ must be an integer from 0 to {MAX_AGQ} (0: β inside PIRLS, 1: the Laplace "
                           f"approximation, more: adaptive Gauss–Hermite quadrature); got {nAGQ!r}")
    return int(nAGQ)


def check_agq(terms, nAGQ) -> None:
    """Adaptive quadrature (nAGQ > 1) needs one scalar random-effect term, as in lme4 and MixedModels.jl."""
    if check_nagq(nAGQ) > 1 and (len(terms) != 1 or terms[0].r != 1 or terms[0].known is not None):
        shape = ", ".join(f"({' + '.join('1' if c == '(Intercept)' else c for c in t.z_names)} | {t.name})"
                          for t in terms)
        raise FastmmeError(f"nAGQ={nAGQ}: adaptive Gauss–Hermite quadrature needs a single scalar random-effect "
                           f"term such as (1 | g), as in lme4; this model has {shape}. Use nAGQ=1 (the Laplace "
                           "approximation) or nAGQ=0")


def glmm_objective(design, family) -> "LaplaceObjective":
    """The objective of a GLMM from its formula's design (fastmme.formula.frame.Design: y, X, terms,
    weights, offset, x_names): fastmme.glmm's, and a fit's again for its profile."""
    return LaplaceObjective(design.y, design.X, design.terms, family, weights=design.weights,
                            offset=design.offset, x_names=design.x_names)


class PirlsFailure(NotPositiveDefinite):
    """PIRLS found no decrease of the penalised deviance along its step (or did not converge)."""


class LaplaceObjective:
    """−2 log L by the Laplace approximation at (θ, β), or at θ with β at its joint mode (nAGQ = 0).

    y: the response (a proportion for the binomial, with `weights` the trials); X (n, p) with
    linearly independent columns; terms: fastmme.Term; weights: prior weights (None: 1); offset;
    evaluator: as ProfiledDeviance's ("auto", "schur" or "cholmod")."""

    def __init__(self, y, X, terms, family, weights=None, offset=None, x_names=None, evaluator: str = "auto"):
        n = y.shape[0]
        self.family = family
        self.y = np.asarray(y, dtype=np.float64)
        self.pw = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
        family.check_response(self.y, self.pw)
        self.offset = np.zeros(n) if offset is None else np.asarray(offset, dtype=np.float64)
        # the two systems: (u, β) for nAGQ = 0 and the covariance of β̂, u alone for the Laplace objective
        spec = make_spec(self.y, X, terms, weights=self.pw, x_names=x_names, residual=False)
        self.spec = spec
        self.X = np.ascontiguousarray(spec.X, dtype=np.float64)
        self.terms = spec.terms
        self.joint = ProfiledDeviance(spec, evaluator=evaluator)
        self.X0 = np.zeros((n, 0))
        self.alone = ProfiledDeviance(make_spec(self.y, self.X0, terms, weights=self.pw, residual=False),
                                      evaluator=evaluator)
        # the assembly's own copy of the rows, in the order of the terms' levels (the first term's, then the
        # next's): its writes to ZᵀWZ, ZᵀWX then run along the pattern instead of jumping through it (10⁶ rows,
        # 100,000 × 2,000 crossed levels: 0.25 → 0.05 s a pass, ~290 passes a fit); the working weights and
        # response are gathered into that order for each pass (ASSEMBLY_ORDER_MIN_ROWS)
        codes, zcat = stack_terms(self.terms)
        order = np.lexsort(codes[::-1]) if n >= ASSEMBLY_ORDER_MIN_ROWS else None
        if order is not None and np.array_equal(order, np.arange(n)):
            order = None
        if order is not None:
            codes, zcat = np.ascontiguousarray(codes[:, order]), np.ascontiguousarray(zcat[order])
        self._order, self._codes, self._zcat = order, codes, zcat
        self._rows = {id(o): o.pattern.locate(codes) for o in (self.joint, self.alone)}
        self._X_rows = {id(self.joint): self.X if order is None else np.ascontiguousarray(self.X[order]),
                        id(self.alone): self.X0}
        self._z = [(t.codes, t.zmatrix(), t.n_levels, t.r) for t in self.terms]
        self.q, self.p = self.joint.q, self.X.shape[1]
        self.eta_start = family.link.linkfun(family.mustart(self.y, self.pw))
        self.n_pirls = 0                       # PIRLS iterations over all evaluations
        self.last = None                       # the mode of the last evaluation (a dict)
        self._warm = False                     # start PIRLS from the last mode (warm_starts)
        self._start = None                     # ... or from this η (starts_from)
        self.schur_rows = None                 # the Laplace gradient's rows → columns of S (made on first use)

    @contextlib.contextmanager
    def warm_starts(self):
        """PIRLS starts from the last mode inside this block (half the iterations for nearby points: cbpp
        6 → 3): for the optimiser's stages and profiles; not for the finite-difference Hessian of vcov,
        whose differences must not depend on the evaluations before them (warm there, cbpp's SEs moved
        by 3 %), nor for the result at θ̂."""
        before, self._warm = self._warm, True
        try:
            yield self
        finally:
            self._warm = before

    @contextlib.contextmanager
    def starts_from(self, mode: dict):
        """Every PIRLS inside this block starts from the η of `mode` (a mode of pirls): for the finite-
        difference Hessian at the estimate, whose points then do not depend on one another or on their
        order, in fewer iterations than from R's starting values."""
        before, self._start = self._start, np.array(mode["eta"], dtype=np.float64)
        try:
            yield self
        finally:
            self._start = before

    # -- pieces ---------------------------------------------------------------------------------
    def theta_lower(self) -> np.ndarray:
        return theta_lower(self.terms)

    def theta_start(self) -> np.ndarray:
        return theta_start(self.terms)

    def check_theta(self, theta) -> np.ndarray:
        return self.joint.check_theta(theta)

    def zb(self, theta, u) -> np.ndarray:
        """Z Λ_θ u by rows."""
        out = np.zeros(self.y.shape[0])
        off = 0
        for (codes, Z, J, r), T in zip(self._z, self.joint.lam.blocks(theta)):
            k = J * r
            b = u[off:off + k].reshape(-1, r) @ T.T
            add_z_times(codes, Z, np.ascontiguousarray(b), out)
            off += k
        return out

    def _assemble(self, obj, eta, offset):
        """The working weights and response at η (one compiled pass), assembled on obj's pattern (joint or
        alone) in the assembly's row order."""
        f = self.family
        w, z = np.empty(eta.shape[0]), np.empty(eta.shape[0])
        (glm.working_values if numba.get_num_threads() == 1 else glm.working_values_parallel)(
            f.code, f.link.code, np.ascontiguousarray(eta), self.y, self.pw,
            np.ascontiguousarray(offset, dtype=np.float64), w, z)
        if self._order is not None:
            w, z = w[self._order], z[self._order]
        obj.set_blocks(assemble(obj.pattern, self._codes, self._zcat, self._X_rows[id(obj)], z, w,
                                self._rows[id(obj)]))

    def pdev(self, eta, u) -> float:
        f, d = self.family, np.empty(eta.shape[0])
        (glm.deviance_residuals if numba.get_num_threads() == 1 else glm.deviance_residuals_parallel)(
            f.code, f.link.code, np.ascontiguousarray(eta), self.y, self.pw, d)
        return float(np.sum(d) + u @ u)

    # -- PIRLS ----------------------------------------------------------------------------------
    def pirls(self, theta, beta=None, precise: bool = False) -> dict:
        """The conditional mode at θ (and β; β None: β at its joint mode with u, nAGQ = 0).  precise: to
        rounding (PRECISE), for finite differences of the objective."""
        tol, eta_tol = PRECISE if precise else (PIRLS_TOL, ETA_TOL)
        theta = self.check_theta(theta)
        joint = beta is None
        obj, X = (self.joint, self.X) if joint else (self.alone, self.X0)
        offset = self.offset if joint else self.offset + self.X @ np.asarray(beta, dtype=np.float64)
        # from R's starting values η = g(mustart), as lme4, so the value at (θ, β) does not depend on the
        # evaluations before it; from the last mode inside warm_starts (the optimiser's stages, profiles)
        # (η from the last mode's u at the new (θ, β) was tried: no fewer PIRLS iterations on 7 models)
        if self._start is not None:
            eta = self._start.copy()
        else:
            eta = self.last["eta"].copy() if self._warm and self.last is not None else self.eta_start.copy()
        u, coef = np.zeros(self.q), np.zeros(self.p if joint else 0)
        pdev_old = np.inf
        for _ in range(PIRLS_MAXIT):
            self.n_pirls += 1
            self._assemble(obj, eta, offset)
            u_new, coef_new, _, _ = obj.solve(theta)
            step, eta_full = 1.0, None
            for _ in range(MAX_HALVINGS):
                u_t = u + step * (u_new - u)
                c_t = coef + step * (coef_new - coef)
                eta_t = offset + X @ c_t + self.zb(theta, u_t)
                pd = self.pdev(eta_t, u_t)
                if np.isfinite(pd) and pd <= pdev_old:
                    break
                if eta_full is None:
                    eta_full = eta_t                  # the full step: what convergence is judged on
                    if np.isfinite(pd) and float(np.max(np.abs(eta_full - eta), initial=0.0)) <= \
                            STALL_ETA * (1.0 + float(np.max(np.abs(eta), initial=0.0))):
                        # no decrease where pdev is flat to rounding, and a small full step: the mode.  The
                        # full step is kept (Newton's step there beats the point it came from: a mode from R's
                        # start was 1e-7 off in u, which moved log|L|² by 1e-10 relative and the Hessian's
                        # differences with it; Fisher scoring on a non-canonical link creeps on in η after pdev
                        # is flat: seen with cloglog)
                        break
                step *= 0.5
            else:
                raise PirlsFailure(f"PIRLS: no step along the update decreases the penalised deviance at theta = "
                                   f"{np.array2string(theta, precision=6)}")
            if eta_full is None:
                eta_full = eta_t
            moved = float(np.max(np.abs(eta_full - eta), initial=0.0))    # not the halved step
            scale = 1.0 + float(np.max(np.abs(eta_t), initial=0.0))
            # converged: a small change of pdev and a small full step; or no decrease left at all with a
            # full step at the level of rounding (the fixed point's own noise, about 1e-11 on cbpp)
            done = (abs(pdev_old - pd) <= tol * (0.1 + abs(pd)) and moved <= eta_tol * scale) or \
                (pd >= pdev_old and moved <= STALL_ETA * scale)
            u, coef, eta = u_t, c_t, eta_t
            pdev_old = pd
            if done:
                break
        else:
            hint = ("as under complete separation (a covariate or factor level that predicts a binary response "
                    "exactly); check the fixed effects with an ordinary GLM") if self.family.name == "binomial" \
                else "check the fixed effects with an ordinary GLM, and the scale of the covariates"
            raise PirlsFailure(f"PIRLS did not converge in {PIRLS_MAXIT} iterations at theta = "
                               f"{np.array2string(theta, precision=6)}: the linear predictor runs off to ±∞, {hint}")
        self._assemble(obj, eta, offset)          # the weights at the mode, for log|L|²
        ev = obj.evaluate(theta)
        mu = self.family.link.linkinv(eta)
        value = ev.ldL2 + float(u @ u) + self.family.aic(self.y, mu, self.pw)
        beta_out = coef if joint else np.asarray(beta, dtype=np.float64)
        self.last = dict(theta=theta, beta=beta_out, u=u, eta=eta, mu=mu, value=value, ldL2=ev.ldL2, pdev=pd)
        return self.last

    def laplace(self, theta, beta, precise: bool = False) -> float:
        """−2 log L by the Laplace approximation at (θ, β)."""
        return self.pirls(theta, beta, precise)["value"]

    def agq(self, theta, beta, nAGQ: int, precise: bool = False) -> float:
        """−2 log L at (θ, β) by adaptive Gauss–Hermite quadrature with nAGQ nodes per level (lme4's nAGQ > 1;
        nAGQ = 1 is the Laplace approximation).  Needs one scalar random-effect term: given the mode û, the
        levels' integrals are one-dimensional and independent.  With A_jj = λ² Σ_(i∈j) w_i z_i² + 1 the
        diagonal of the u-system at the mode (w: the working weights), sd_j = A_jj^(−1/2), the nodes
        u_jk = û_j + x_k sd_j of the rule for the standard normal (x_k, ω_k; Σ ω_k = 1), and
        dev_jk = Σ_(i∈j) d_i(u_jk) + u_jk² (d: the deviance residuals),
            −2 log L = log|L|² + Σ_j [dev_j0 − 2 log Σ_k ω_k exp(−(dev_jk − dev_j0)/2 + x_k²/2)] + c,
        dev_j0 at û and c = aic(y, μ̂) − Σ_i d_i(μ̂), −2 log L of the saturated model (μ-free).  lme4's
        objective at nAGQ > 1 leaves c out (0 for a binary response): docs/glmm.md.  Tests: tests/test_agq.py."""
        m = self.pirls(theta, beta, precise)
        if nAGQ == 1:
            return m["value"]
        check_agq(self.terms, nAGQ)
        return self.quadrature(theta, m, *gauss_hermite(nAGQ))

    def quadrature(self, theta, mode: dict, x: np.ndarray, omega: np.ndarray) -> float:
        """The formula of agq at the mode `mode` (of pirls at θ) with the rule (x, ω); the rule ([0], [1])
        gives the Laplace value.  One node at a time: O(n) memory whatever the number of nodes."""
        t = self.terms[0]
        codes, z = t.codes, t.zmatrix()[:, 0]
        lam = float(self.alone.lam.blocks(self.check_theta(theta))[0][0, 0])
        f, eta, u = self.family, mode["eta"], mode["u"]
        mu = f.link.linkinv(eta)
        me = f.link.mu_eta(eta)
        w = self.pw * me * me / f.variance(mu)
        J = t.n_levels
        sd = 1.0 / np.sqrt(lam * lam * np.bincount(codes, w * z * z, minlength=J) + 1.0)
        d0 = f.dev_resids(self.y, mu, self.pw)
        dev0 = np.bincount(codes, d0, minlength=J) + u * u
        step = lam * z * sd[codes]                      # η moves by z_i λ x_k sd_j at node k
        mult = np.zeros(J)
        for xk, wk in zip(x, omega):
            uk = u + xk * sd
            devk = np.bincount(codes, f.dev_resids(self.y, f.link.linkinv(eta + xk * step), self.pw),
                               minlength=J) + uk * uk
            mult += wk * np.exp(-0.5 * (devk - dev0) + 0.5 * xk * xk)
        saturated = f.aic(self.y, mu, self.pw) - float(np.sum(d0))
        return float(mode["ldL2"] + np.sum(dev0 - 2.0 * np.log(mult)) + saturated)

    def laplace_beta_free(self, theta) -> float:
        """The objective at θ with β at its joint mode with u (lme4's nAGQ = 0)."""
        return self.pirls(theta, None)["value"]

    def unscaled_beta_cov(self, theta, beta) -> np.ndarray:
        """(R_Xᵀ R_X)⁻¹ of the weighted equations at the mode of (θ, β) (lme4's vcov(use.hessian=FALSE))."""
        m = self.pirls(theta, beta)
        self._assemble(self.joint, m["eta"], self.offset)
        return self.joint.unscaled_beta_cov(self.check_theta(theta))

    def cond_var(self, theta, beta) -> list:
        """Var(b_k | y) at the mode by the Laplace approximation, per term (J_k, r_k, r_k), β held known."""
        m = self.pirls(theta, beta)
        self._assemble(self.alone, m["eta"], self.offset + self.X @ m["beta"])
        th = self.check_theta(theta)
        blocks = self.alone.inverse_blocks(th, fixed_known=True)
        out = []
        for B, T in zip(blocks, self.alone.lam.blocks(th)):
            out.append(np.einsum("ab,jbc,dc->jad", T, B, T))
        return out

