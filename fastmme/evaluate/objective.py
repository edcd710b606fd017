"""The profiled REML/ML criterion at θ, from one sparse factorisation of the augmented system.

With L the Cholesky factor of M (fastmme.evaluate.system), eliminating the random effects first:

    log|L_Z|² = Σ log diag(L)² over the random effects    (ldL2)
    log|R_X|² = Σ log diag(L)² over the fixed effects     (ldRX2)
    r²        = diag(L)² of y                             (the penalised weighted RSS)

and, as in lme4 (Bates et al. 2015, eqs. 34 and 41), with n observations, p fixed effects and
Σ log w the log-determinant of the prior weights:

    ML:    d(θ)  = ldL2 − Σ log w + n [1 + log(2π r² / n)]
    REML:  dR(θ) = ldL2 + ldRX2 − Σ log w + (n − p) [1 + log(2π r² / (n − p))]

An evaluation costs one write of Λ into the fixed pattern and one numeric refactorisation: nothing of
order n.  Tests: tests/test_objective.py (dense GLS at random θ, lme4's devfun at fixed θ).
"""
from __future__ import annotations

import warnings

import numpy as np

from ..assembly.blocks import Blocks, assemble, stack_terms, with_response
from ..assembly.pattern import ZtZPattern
from ..errors import FastmmeError
from ..linalg import cholmod
from ..linalg.cholmod import SparseCholesky, check_factor_memory, factor_column_counts, factor_fits, not_positive_definite
from ..spec.covariance import RelativeFactor
from ..spec.model_spec import ModelSpec
from .evaluators import LOG_2PI, SPARSE_GRADIENT_MAX_NNZ, CholmodEvaluator, Evaluation, SchurEvaluator  # noqa: F401
from .information import average_information
from .schur import MAX_DENSE, MAX_DENSE_P, DenseSchur, dense_size
from .system import AugmentedSystem



def _evaluator_name(evaluator: str) -> str:
    """'auto', 'cholmod' or 'schur'; the old spelling 'dense' (which also named the n × n oracle) warns."""
    if evaluator == "dense":
        warnings.warn("evaluator='dense' is now evaluator='schur' (the dense Schur complement); 'dense' names "
                      "the n × n oracle, fastmme.dense", DeprecationWarning, stacklevel=3)
        return "schur"
    if evaluator not in ("auto", "cholmod", "schur"):
        raise FastmmeError(f"evaluator must be 'auto', 'cholmod' or 'schur'; got {evaluator!r}")
    return evaluator


def schur_seconds(downdate_flops: float, m: float) -> float:
    """Estimated time of one dense Schur evaluation: the level downdates (Numba), zeroing and filling S,
    and LAPACK's Cholesky of S (m³/3).  Constants from timings of nested and partially crossed designs
    on the development machine (2 cores; m from 11 to 7,000: within a factor 2–3 of the measured)."""
    return 0.3e-9 * downdate_flops + 1e-9 * m * m + 0.015e-9 * m ** 3 / 3 + 0.3e-3


def cholmod_seconds(nnz_L: float, sum_sq_counts: float) -> float:
    """Estimated time of one CHOLMOD numeric factorisation from the factor's column counts (the same
    timings: 25 ns an entry of L and 0.5 ns a flop, Σ c_j², plus a fixed 0.3 ms)."""
    return 25e-9 * nnz_L + 0.5e-9 * sum_sq_counts + 0.3e-3


class ProfiledDeviance:
    """Assembles once, then evaluates the profiled criterion and solves the system at any θ."""

    def __init__(self, spec: ModelSpec, blocks: Blocks | None = None, pattern: ZtZPattern | None = None,
                 perm_z=None, evaluator: str = "auto"):
        evaluator = _evaluator_name(evaluator)
        self.spec = spec
        terms = spec.terms
        # sparse fixed factors are laid out like r = 1 terms after the random ones (Λ = 1, no penalty)
        units = list(terms) + list(spec.sparse_factors)
        self.r = np.array([t.r for t in units], dtype=np.int64)
        self.J = np.array([t.n_levels for t in units], dtype=np.int64)
        self.q_random = int(spec.q)
        self.has_sparse_fixed = has_sparse_fixed = bool(spec.sparse_factors)
        self.p_df = int(spec.p_df)
        if blocks is None:
            if spec.row_free:
                raise FastmmeError("this model was assembled from partitioned data: its rows are not here, "
                                   "so a model with other columns needs a new fit from the data")
            response = spec.working_response()      # first: its least squares' copies are freed before the others
            codes, zcat = stack_terms(units)
            pattern, rows = ZtZPattern.from_codes(codes, self.r, self.J, with_rows=True)
            blocks = assemble(pattern, codes, zcat, spec.X, response, spec.weights, rows)
            del codes, zcat, rows, response
        self.pattern, self.blocks = pattern, blocks
        self.knowns = [t.known for t in terms]
        self.has_known = has_known = any(k is not None for k in self.knowns)
        if has_known and evaluator == "schur":
            raise FastmmeError("the Schur evaluator has no relationship matrices; use evaluator='cholmod'")
        if has_sparse_fixed and evaluator == "schur":
            raise FastmmeError("the Schur evaluator has no sparse fixed factors; use evaluator='cholmod'")
        schur_ok = evaluator != "cholmod" and not has_known and not has_sparse_fixed and \
            blocks.ZtX.shape[1] <= MAX_DENSE_P and \
            dense_size(pattern, blocks.ZtX.shape[1]) <= MAX_DENSE
        if perm_z is None and schur_ok:
            # the Schur evaluator will likely run the θ loop and CHOLMOD factorise once, at θ̂: the
            # term-level order of MixedModels.jl (most random effects first) costs nothing to compute,
            # where CHOLMOD's AMD/METIS analysis of a 10⁵-level crossed pattern takes seconds
            order = np.argsort(-(pattern.r * pattern.J), kind="stable")
            perm_z = np.concatenate([pattern.q_offset[k] + np.arange(pattern.r[k] * pattern.J[k]) for k in order])
        self.perm_z = perm_z
        self.q, self.p = int(pattern.q), int(blocks.ZtX.shape[1])
        self.N = self.q + self.p + 1
        self._system = None          # the augmented sparse system and its CHOLMOD factor: built on
        self._chol = None            # first use (not at all when the Schur evaluator does everything)
        self.lam = RelativeFactor(terms, len(spec.sparse_factors))   # Λ(θ): fastmme.spec.covariance
        self.t_offset = self.lam.t_offset
        # ML needs log|L_Z|² of the random effects alone: the sparse fixed levels then come after them
        # in the ordering (their Schur complement may fill in); REML needs only the sum, so they mix
        self._fixed_last = has_sparse_fixed and not spec.reml
        self._last: Evaluation | None = None
        self._last_theta: np.ndarray | None = None
        self._eval_cache: tuple | None = None      # (θ, Evaluation) of the last evaluation
        self._selinv_cache: tuple | None = None
        self._factor_counts = None   # the sparse factor's column counts, when _choose_evaluator made them
        self.ev = CholmodEvaluator(self)           # the θ loop's evaluator (fastmme.evaluate.evaluators)
        if schur_ok:
            self.ev = SchurEvaluator(self, DenseSchur(pattern, blocks))
            if evaluator == "auto" and len(terms) > 1 and self.ev.schur.pair_fraction < 1.0:
                self._choose_evaluator()
        self.evaluator = self.ev.name

    @property
    def schur(self) -> DenseSchur | None:
        """The dense Schur complement when it runs the θ loop, else None."""
        return getattr(self.ev, "schur", None)

    @property
    def dense(self) -> DenseSchur | None:
        """Deprecated name of `schur` (``dense`` names the n × n oracle, fastmme.dense)."""
        warnings.warn("ProfiledDeviance.dense is now ProfiledDeviance.schur", DeprecationWarning, stacklevel=2)
        return self.schur

    @property
    def system(self) -> AugmentedSystem:
        if self._system is None:
            fixed_diag = np.concatenate([f.zeroed.astype(np.float64) for f in self.spec.sparse_factors]) \
                if self.has_sparse_fixed else None
            self._system = AugmentedSystem(self.pattern, self.blocks, perm_z=self.perm_z, knowns=self.knowns,
                                           fixed_diag=fixed_diag, fixed_last=self._fixed_last)
        return self._system

    @property
    def chol(self) -> SparseCholesky:
        if self._chol is None:
            check_factor_memory(self.system.matrix(), self._fill_culprit, self._factor_counts)
            self._chol = SparseCholesky(self.system.matrix(), ordering="natural")
            q, p = self.q, self.p
            perm = self._chol.perm                     # factor position -> system index
            u_index = self.system.perm_z[np.minimum(perm, q - 1)]
            self._is_z = (perm < q) & (u_index < self.q_random)
            self._is_x = (perm < q + p) & ~self._is_z
            self._y_at = int(np.flatnonzero(perm == q + p)[0])
        return self._chol

    def _fill_culprit(self, counts) -> str:
        """Which unknowns make the factor big: the part owning most of its densest columns."""
        q = self.q
        dense = np.flatnonzero(counts >= 0.5 * counts.max())
        owner = np.full(dense.shape[0], -1, dtype=np.int64)        # unit index, −1: the fixed effects or y
        in_z = dense < q
        u = self.system.perm_z[dense[in_z]]
        units_q = np.concatenate([[0], np.cumsum(self.r * self.J)])
        owner[in_z] = np.searchsorted(units_q, u, side="right") - 1
        vals, cnt = np.unique(owner, return_counts=True)
        k = int(vals[np.argmax(cnt)])
        names = list(self.spec.term_names) + [f.name for f in self.spec.sparse_factors]
        width = f"{len(dense):,} columns with at least {int(counts.max()) // 2:,} entries each"
        if k < 0:
            return f"its densest part ({width}) are the fixed effects; fewer fixed-effect columns or more memory"
        kind = "random-effects term" if k < len(self.spec.terms) else "sparse fixed factor"
        return (f"most of it is a dense block ({width}) of the {kind} {names[k]} ({int(self.J[k]):,} levels), "
                "whose levels fill in against the other factors (crossed designs fill to a dense block of the "
                "smaller factor); fewer levels for that term, or more memory")

    def release(self) -> None:
        """Free what the next evaluation makes again (the Schur evaluator's workspace)."""
        self.ev.release()
        self._eval_cache = None

    def set_response(self, spec: ModelSpec) -> None:
        """Swap in a spec that differs from this one in y only (and so in b₀): its response's blocks are
        summed again over the same rows (fastmme.assembly.blocks.with_response), the rest of the blocks,
        the pattern and the evaluator's analysis are kept (a parametric bootstrap's refits)."""
        units = list(spec.terms) + list(spec.sparse_factors)
        codes, zcat = stack_terms(units)
        blocks = with_response(self.blocks, self.pattern, codes, zcat, spec.X, spec.working_response(), spec.weights)
        self.spec = spec
        self.set_blocks(blocks)

    def set_blocks(self, blocks: Blocks) -> None:
        """Swap in blocks with the same pattern and X columns (a new response or offset); keeps the analysis."""
        self.blocks = blocks
        if self._system is not None:
            self._system.set_response(blocks)
        self.ev.set_blocks(blocks)
        self._last_theta = None
        self._eval_cache = None
        self._selinv_cache = None            # keyed by θ only: it belongs to the old blocks

    def _choose_evaluator(self) -> None:
        """Keep the Schur evaluator (with its gradient: about 3 × fewer evaluations at about 3 ×
        the cost each) unless CHOLMOD's factorisation is estimated to be faster.  Only asked when S is
        likely sparse (few level pairs for its size: nested designs); dense S (crossed designs) needs
        no test.  The choice is made from counts, not timings, so that the same data always take the
        same path (a timed choice flipped between runs on small designs, and with it the optimiser:
        θ then differed by 1e-6).  A sparse factor that would not fit in memory keeps the Schur one."""
        d, pt = self.ev.schur, self.pattern
        deg = np.diff(d.lev_ptr).astype(np.float64)
        rs = float(pt.r[d.s])
        counts = factor_column_counts(self.system.matrix()).astype(np.float64)
        self._factor_counts = counts
        self.evaluator_costs = costs = {
            "schur": schur_seconds(rs * rs * float(np.sum(deg * (deg + 1) / 2)), float(d.m)),
            "cholmod": cholmod_seconds(float(counts.sum()), float(np.sum(counts * counts)))}
        if not costs["schur"] <= costs["cholmod"] and factor_fits(counts):
            self.ev = CholmodEvaluator(self)

    # ---- θ ----------------------------------------------------------------------------------
    def check_theta(self, theta) -> np.ndarray:
        th = np.array(theta, dtype=np.float64, copy=True).reshape(-1)
        if th.shape[0] != self.spec.n_theta:
            raise FastmmeError(f"theta has {th.shape[0]} values; this model has {self.spec.n_theta} "
                               f"({', '.join(str(t.n_theta) for t in self.spec.terms)} per term): give that many, "
                               "in the order of the terms (model.theta_start shows the layout)")
        if not np.all(np.isfinite(th)):
            raise FastmmeError("theta must be finite: replace its NaN or inf entries (model.theta_start gives lme4's start)")
        return th

    def canonical_theta(self, theta) -> np.ndarray:
        """θ of the same covariances with each T_k the semi-definite Cholesky factor (Term.canonical_theta)."""
        th = self.check_theta(theta)
        return self.lam.canonical(th)

    def T_blocks(self, theta) -> list:
        return self.lam.blocks(theta)

    def _T_flat(self, theta) -> np.ndarray:
        return self.lam.flat(theta)

    def _check_criterion(self, reml: bool) -> None:
        if self.has_sparse_fixed and not reml and not self._fixed_last:
            raise FastmmeError("this model was built for REML: its sparse fixed factors are ordered among the "
                               "random effects, which gives the REML criterion only; build it with reml=False "
                               "for the ML criterion (MixedFit.refit_ml does)")

    # ---- evaluation --------------------------------------------------------------------------
    def factorize(self, theta) -> None:
        th = self.check_theta(theta)
        if self._last_theta is not None and np.array_equal(th, self._last_theta):
            return
        data = self.system.write(self.lam.flat(th), self.lam.t_offset)
        if not self.chol.factorize(data):
            self._last_theta = None
            raise not_positive_definite(th)
        d = self.chol.diag_L2()
        if not np.all(d > 0):   # a simplicial LDLᵀ factor does not stop at a non-positive pivot
            self._last_theta = None
            raise not_positive_definite(th)
        self._last = Evaluation(theta=th, ldL2=float(np.sum(np.log(d[self._is_z]))) + self.system.prior.logdet,
                                ldRX2=float(np.sum(np.log(d[self._is_x]))), pwrss=float(d[self._y_at]))
        self._last_theta = th

    def evaluate(self, theta) -> Evaluation:
        """(ldL2, ldRX2, r²) at θ from the θ loop's evaluator (dense Schur or CHOLMOD)."""
        th = self.check_theta(theta)
        if self._eval_cache is not None and np.array_equal(th, self._eval_cache[0]):
            return self._eval_cache[1]
        ev = self.ev.evaluate(th)
        self._eval_cache = (th, ev)
        return ev

    @property
    def has_gradient(self) -> bool:
        """The analytic gradient: from the Schur evaluator's inverse, or from the selected inverse
        of the sparse factor (fastmme.evaluate.sparse_gradient; exact, with or without relationship matrices)."""
        return self.ev.has_gradient

    def information(self, theta, reml: bool) -> np.ndarray:
        """The average-information matrix at θ (fastmme.evaluate.information), from the evaluator's solves."""
        return average_information(self, theta, reml)

    def deviance_and_gradient(self, theta, reml: bool | None = None, information: bool = False):
        """(criterion, ∂criterion/∂θ) at θ, from one evaluation and its (selected) inverse; with
        information=True also the average-information approximation of the Hessian
        (fastmme.evaluate.information), from solves with the same factors."""
        reml = self.spec.reml if reml is None else reml
        self._check_criterion(reml)
        th = self.check_theta(theta)
        ev, grad, H = self.ev.deviance_and_gradient(th, reml, information)
        self._eval_cache = (th, ev)
        f = ev.deviance(self.blocks.n, self.p_df, self.blocks.sum_log_w, reml)
        return (f, grad, H) if information else (f, grad)

    def deviance(self, theta, reml: bool | None = None) -> float:
        """The profiled criterion at θ: REML criterion (reml=True) or −2 log-likelihood (ML)."""
        reml = self.spec.reml if reml is None else reml
        self._check_criterion(reml)
        ev = self.evaluate(theta)
        return ev.deviance(self.blocks.n, self.p_df, self.blocks.sum_log_w, reml)

    # ---- solutions at θ (used once, at the optimum) ------------------------------------------
    def solve(self, theta):
        """(u, beta, pwrss, x): spherical modes u (caller's order), BLUEs, r², and x = M_aug⁻¹ e_y (system
        order when CHOLMOD solves; model order — u by term, X, y — from the Schur evaluator)."""
        N, q, p = self.N, self.q, self.p
        x, order = self.ev.solve_y(self.check_theta(theta))
        sol = -x[:N - 1] / x[N - 1]
        u = sol[:q].copy() if order == "model" else sol[self.system.iperm_z]
        return u, sol[q:q + p].copy(), 1.0 / x[N - 1], x

    def model_solver(self, theta):
        """rhs (N × k, model order: v by term, X, y) ↦ M_aug⁻¹ rhs, with the evaluator's factors at θ."""
        return self.ev.model_solver(self.check_theta(theta))

    def unscaled_beta_cov(self, theta) -> np.ndarray:
        """(R_Xᵀ R_X)⁻¹ = [M⁻¹]_XX = [M_aug⁻¹]_XX − x_X x_Xᵀ / x_y, with x = M_aug⁻¹ e_y; Var(β̂) = σ² times it."""
        q, p, N = self.q, self.p, self.N
        if p == 0:
            return np.zeros((0, 0))
        E = np.zeros((N, p + 1))
        E[q:, :] = np.eye(p + 1)
        G = self.ev.solve_fixed(self.check_theta(theta), E)
        x = G[:, p]
        U = G[q:q + p, :p] - np.outer(x[q:q + p], x[q:q + p]) / x[-1]
        return 0.5 * (U + U.T)

    def unprofiled_deviance(self, theta, sigma: float, reml: bool | None = None) -> float:
        """The criterion at (θ, σ) before profiling σ out (lmerTest's devfun_vp, lme4's devfun2):
        ldL2 [+ ldRX2] − Σ log w + r²/σ² + m log(2πσ²), m = n − p (REML) or n (ML)."""
        reml = self.spec.reml if reml is None else reml
        self._check_criterion(reml)
        ev = self.evaluate(theta)
        m = self.blocks.n - (self.p_df if reml else 0)
        s2 = sigma * sigma
        return (ev.ldL2 + (ev.ldRX2 if reml else 0.0) - self.blocks.sum_log_w + ev.pwrss / s2
                + m * (LOG_2PI + np.log(s2)))

    def selected_inverse(self, theta):
        """(Z, position): M_aug⁻¹ on the pattern of L (lower CSC, factor order) at θ and the factor
        position of each system index; kept for the last θ (PEVs, fixed levels, EM and the gradient
        at one θ share it)."""
        self.factorize(theta)
        cached = self._selinv_cache
        if cached is None or not np.array_equal(cached[0], self._last_theta):
            Z, _ = self.chol.selected_inverse()
            self._selinv_cache = cached = (self._last_theta, Z)
        return cached[1], self.chol.position

    def selected_inverse_fits(self) -> bool:
        """Whether the selected inverse of the current factor fits in half the available memory."""
        return self.chol.selected_inverse_bytes() <= 0.5 * cholmod.available_memory()

    def inverse_blocks(self, theta, fixed_known: bool) -> list:
        """Per term, the (J_k, r_k, r_k) diagonal blocks of an inverse coefficient matrix in the
        system's unknowns v (unscaled: multiply by σ² and congruence with T_k for b), from the selected
        inverse of the augmented factor (Takahashi) and a few solves, never the inverse itself:

        fixed_known=False: [C⁻¹]_vv, C the coefficient matrix of (v, β): the fixed effects' uncertainty
        included (breeders' prediction-error variance); fixed_known=True: (ΛᵀZᵀWZΛ + prior)⁻¹, β̂ taken
        as known (lme4's condVar).  With R the rows removed (y, or X and y), the block of the inverse
        is [M_aug⁻¹]_vv − G_v H⁻¹ G_vᵀ, G = M_aug⁻¹ E_R, H = G_R.  When the dense Schur complement runs the
        θ loop, from its own factors instead (_schur_inverse_blocks)."""
        if self.schur is not None:
            return self._schur_inverse_blocks(self.check_theta(theta), fixed_known)
        self.factorize(theta)
        q, N = self.q, self.N
        iperm = self.system.iperm_z
        if fixed_known and self.has_sparse_fixed:
            return self._random_block_inverse_blocks()
        Zs, fpos = self.selected_inverse(theta)
        rest = np.arange(q, N) if fixed_known else np.array([N - 1])
        G = self.inverse_columns(rest)
        Hinv = np.linalg.inv(G[rest])
        return self._diagonal_blocks(Zs, fpos, iperm, G, Hinv)

    def _schur_inverse_blocks(self, th, fixed_known: bool) -> list:
        """inverse_blocks from DenseSchur.inverse_parts: M_aug⁻¹ is S⁻¹ on S's columns and M⁻¹_jj at term s's
        levels, and G's rows at level j are its last entries (X's columns, then y), so no sparse factor is
        made (a crossed design's would fill to a dense block)."""
        sc, pt = self.schur, self.pattern
        try:
            Sinv, Mjj, U = sc.inverse_parts(self.lam.flat(th), self.lam.t_offset)
        except np.linalg.LinAlgError:
            raise not_positive_definite(th) from None
        R = np.arange(sc.qR, sc.m) if fixed_known else np.array([sc.m - 1])
        Hinv = np.linalg.inv(Sinv[np.ix_(R, R)])
        out = []
        for k in range(len(self.spec.terms)):
            r, J, q0 = int(pt.r[k]), int(pt.J[k]), int(pt.q_offset[k])
            if k == sc.s:
                Gi = U[sc.lev_ptr[1:, None] - R.shape[0] + np.arange(R.shape[0])]      # (J, |R|, r)
                vals = Mjj - np.einsum("jma,mn,jnb->jab", Gi, Hinv, Gi)
            else:
                cols = sc.rest_pos[q0:q0 + r * J].reshape(J, r)
                Gi = Sinv[cols][:, :, R]                                                 # (J, r, |R|)
                vals = Sinv[cols[:, :, None], cols[:, None, :]] - np.einsum("jam,mn,jbn->jab", Gi, Hinv, Gi)
            out.append(vals)
        return out

    def _diagonal_blocks(self, Zs, fpos, position, G=None, Hinv=None) -> list:
        """Per term, the (J, r, r) blocks of Zs (a selected inverse, lower CSC in factor order) at the
        terms' unknowns (u-index → `position` → factor position `fpos`), less G_v H⁻¹ G_vᵀ if given."""
        pt, out = self.pattern, []
        for k in range(len(self.spec.terms)):
            r, J, q0 = int(pt.r[k]), int(pt.J[k]), int(pt.q_offset[k])
            idx = position[q0:q0 + r * J]
            f = fpos[idx].reshape(J, r)
            fa = np.broadcast_to(f[:, :, None], (J, r, r)).ravel()
            fb = np.broadcast_to(f[:, None, :], (J, r, r)).ravel()
            vals = np.asarray(Zs[np.maximum(fa, fb), np.minimum(fa, fb)]).reshape(J, r, r)
            if G is not None:
                Gi = G[idx].reshape(J, r, -1)
                vals -= np.einsum("jam,mn,jbn->jab", Gi, Hinv, Gi)
            out.append(vals)
        return out

    def _random_block_inverse_blocks(self) -> list:
        """(ΛᵀZᵀWZΛ + prior)⁻¹ blocks when sparse fixed levels sit among the random effects: the
        random effects' rows and columns of M (already in a fill-reducing order) get a factor and a
        selected inverse of their own (one more factorisation, no solve per fixed level)."""
        from ..linalg.cholmod import SparseCholesky
        iperm = self.system.iperm_z
        rand = np.sort(iperm[:self.q_random])
        M = self.system.matrix()
        M.data = self.system.data.copy()
        sub = M[rand][:, rand].tocsc()
        sub.sort_indices()
        ch = SparseCholesky(sub, ordering="natural")
        if not ch.factorize(sub.data):
            raise not_positive_definite(self._last_theta)
        Zs, _ = ch.selected_inverse()
        fpos = ch.position
        position = np.searchsorted(rand, iperm[:self.q_random])    # u-index → row of the sub-matrix
        return self._diagonal_blocks(Zs, fpos, position)

    def fixed_level_variances(self, theta) -> list:
        """Per sparse fixed factor, (J,) diagonal of C⁻¹ at its levels (unscaled: times σ² it is the
        variance of each level's estimate, i.e. of its contrast with the zeroed reference level of its
        set; 0 for zeroed levels), from the selected inverse: [M_aug⁻¹]_jj − x_j² / x_y."""
        Zs, fpos = self.selected_inverse(theta)
        d = np.asarray(Zs.diagonal())
        x = self.inverse_columns(np.array([self.N - 1]))[:, 0]
        iperm, out, lo = self.system.iperm_z, [], self.q_random
        for f in self.spec.sparse_factors:
            idx = iperm[lo:lo + f.n_levels]
            v = d[fpos[idx]] - x[idx] ** 2 / x[-1]
            v[f.zeroed] = 0.0
            out.append(v)
            lo += f.n_levels
        return out

    def inverse_columns(self, system_index: np.ndarray) -> np.ndarray:
        """Columns of M_aug⁻¹ at the given system indices (dense N × len)."""
        E = np.zeros((self.system.N, system_index.shape[0]))
        E[system_index, np.arange(system_index.shape[0])] = 1.0
        return np.asarray(self.chol.solve(E))
