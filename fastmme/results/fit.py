"""The fitted model: immutable estimates, BLUPs, variances and their presentation.

Everything is derived from the factor of the augmented system at θ̂ (fastmme.evaluate.objective):
    [u; β̂] solves the mixed-model equations, b̂ = Λ u (the conditional modes, BLUPs);
    σ̂² = r² / (n − p) (REML) or r² / n (ML);
    Var(β̂) = σ̂² (R_Xᵀ R_X)⁻¹ = σ̂² [M⁻¹]_XX;
    condVar of level j of term k = σ̂² T_k [(ΛᵀZᵀWZΛ + I)⁻¹]_jj T_kᵀ (lme4's `condVar`).
Tests: tests/test_lme4.py, tests/test_dense.py, tests/test_theory.py.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import FastmmeError
from ..evaluate.at_estimate import AtEstimate
from ..linalg.kernels.matvec import add_levels, add_z_times
from ..spec.covariance import variance_components
from ..spec.terms import theta_lower

SINGULAR_TOL = 1e-4  # lme4's isSingular tolerance


def _freeze(a):
    a = np.array(a, copy=True)
    a.setflags(write=False)
    return a


def _own(a: np.ndarray) -> np.ndarray:
    """A new array made here, read-only without a copy (n values: the fitted values and residuals)."""
    a.setflags(write=False)
    return a


def _map_levels(levels, labels):
    """Codes of `labels` among `levels` (in any order: a relationship matrix's labels are not
    sorted); -1 for a label the fit has not seen."""
    labels = np.asarray(labels)
    try:
        out = pd.Index(levels).get_indexer(labels).astype(np.int64)
    except (TypeError, ValueError):
        out = np.full(labels.shape[0], -1, dtype=np.int64)
    if np.any(out < 0):                      # labels of another type than the levels (1 vs "1")
        lookup = {str(v): i for i, v in enumerate(levels)}
        miss = np.flatnonzero(out < 0)
        out[miss] = [lookup.get(str(v), -1) for v in labels[miss]]
    return out


@dataclass(frozen=True, eq=False)
class FitResult:
    reml: bool
    nobs: int
    theta: np.ndarray
    theta_names: tuple
    beta: np.ndarray
    beta_cov: np.ndarray
    x_names: tuple
    dropped: tuple
    sigma: float
    covariances: tuple           # Σ_k (r_k × r_k), data units
    blups: tuple                 # (J_k × r_k) conditional modes
    levels: tuple                # level labels per term
    term_names: tuple
    z_names: tuple               # per term, names of its columns
    structures: tuple
    fitted: np.ndarray
    residuals: np.ndarray
    loglik: float
    deviance: float              # the minimised criterion: REML criterion (REML) or −2 log L (ML)
    n_theta: int
    converged: bool
    n_evals: int
    optimizer_message: str
    singular: bool
    _at: object = field(repr=False)   # fastmme.evaluate.at_estimate.AtEstimate: the objective at θ̂ only
    _kept_columns: np.ndarray = field(repr=False)
    sparse_fixed: tuple = ()     # per sparse fixed factor: (name, level labels, estimates), zeroed levels 0
    optimizer: str = ""          # the method whose point θ̂ is (optimize.OptSummary.method)
    certificate: str = ""        # how θ̂ was checked: the projected gradient there, the entries at the bound
    fallbacks: tuple = ()        # why each earlier optimiser stage handed over (empty: none did)


    # ---- derived ---------------------------------------------------------------------------
    @property
    def n_params(self) -> int:
        """Parameters counted by lme4's logLik df: p + nθ + 1 (p with the sparse factors' estimable levels)."""
        return self._at.p_df + self.n_theta + 1

    @property
    def sparse_factors(self) -> tuple:
        """The sparse fixed factors (fastmme.spec.sparse_fixed.SparseFixed) of the model, in order."""
        return tuple(self._at.spec.sparse_factors)

    @property
    def aic(self) -> float:
        return -2.0 * self.loglik + 2.0 * self.n_params

    @property
    def bic(self) -> float:
        return -2.0 * self.loglik + np.log(self.nobs) * self.n_params

    @property
    def beta_se(self) -> np.ndarray:
        return np.sqrt(np.diag(self.beta_cov))

    @functools.cached_property
    def cond_var(self) -> tuple:
        """Per term, (J_k × r_k × r_k) conditional covariances of the random effects (lme4's condVar)."""
        return self._at.cond_var()

    @functools.cached_property
    def pev(self) -> tuple:
        """Per term, (J_k × r_k × r_k) prediction-error (co)variances Var(b̂ − b) = σ² [C⁻¹]_bb with C
        the whole coefficient matrix, so the fixed effects' uncertainty is included (breeders' PEV;
        lme4's condVar leaves it out).  From the selected inverse of the sparse factor."""
        return self._at.pev()

    @functools.cached_property
    def _vc(self):
        """(names, estimates, covariance) of the variance components: per term the lower triangle of
        Σ_k (θ's order), then σ²; the covariance is 2 × the inverse average-information matrix of the
        criterion in (θ, σ²) (AI-REML's standard errors), mapped by the Jacobian of σ² vech(T Tᵀ)."""
        terms = self._at.spec.terms
        H = self._at.average_information(self.reml)
        index, est, J = variance_components(terms, self.theta, self.sigma ** 2)
        names = [f"{self.term_names[k]}.{terms[k].z_names[i]}" + ("" if i == j else f".{terms[k].z_names[j]}")
                 if k >= 0 else "Residual" for k, i, j in index]
        J = np.array(J)
        try:
            cov = J @ (2.0 * np.linalg.inv(H)) @ J.T
        except np.linalg.LinAlgError:
            cov = np.full((len(est), len(est)), np.nan)
        return names, np.array(est), cov

    def fixed_levels(self, name: str | None = None) -> pd.DataFrame:
        """A DataFrame of a sparse fixed factor's levels (fastmme.spec.sparse_fixed): estimate, se, its
        connected set and whether the level was set to zero.  Each estimate is the level's contrast
        with the zeroed reference level of its set (treatment coding) and se is that contrast's
        standard error, σ̂ √[C⁻¹]_jj from the selected inverse; differences between levels of one set
        are estimable, across sets they are not."""
        import pandas as pd
        factors = self.sparse_factors
        if not factors:
            raise FastmmeError("this model has no sparse fixed factors")
        names = [f.name for f in factors]
        if name is None and len(factors) == 1:
            name = names[0]
        if name not in names:
            raise FastmmeError(f"no sparse fixed factor {name!r}; the model has {', '.join(map(repr, names))}")
        k = names.index(name)
        f, est = factors[k], self.sparse_fixed[k][2]
        var = self._fixed_level_variances[k]
        return pd.DataFrame({"estimate": est, "se": np.sqrt(np.clip(var, 0.0, None)) * self.sigma,
                             "set": f.sets, "zeroed": f.zeroed}, index=pd.Index(f.labels, name=name))

    @functools.cached_property
    def _fixed_level_variances(self):
        return self._at.fixed_level_variances()

    def variance_components(self) -> pd.DataFrame:
        """A DataFrame of the variance components (variances and covariances of each term, then the
        residual) with standard errors from the inverse average-information matrix, as AI-REML
        programs report them.  At a boundary (a variance at 0) the standard errors are not meaningful."""
        import pandas as pd
        names, est, cov = self._vc
        return pd.DataFrame({"estimate": est, "se": np.sqrt(np.clip(np.diag(cov), 0.0, None))},
                            index=pd.Index(names, name="component"))

    def heritability(self, term: int = 0) -> tuple:
        """(h², standard error): term's variance over the sum of all variances of scalar terms and σ²
        (σ²_a / (σ²_a + σ²_pe + … + σ²_e)), the standard error by the delta method on the inverse AI
        matrix.  Needs every term to have one variance (r_k = 1)."""
        terms = self._at.spec.terms
        if any(t.r != 1 for t in terms):
            raise FastmmeError("heritability needs terms with one variance each (random intercepts); "
                               "for random regression compute it from variance_components() per point")
        names, est, cov = self._vc
        total = float(np.sum(est))
        h = est[term] / total
        g = -np.full(est.shape[0], est[term] / total ** 2)
        g[term] += 1.0 / total
        return float(h), float(np.sqrt(max(g @ cov @ g, 0.0)))

    def reliability(self, term: int = 0) -> np.ndarray:
        """(J_k × r_k) reliabilities 1 − PEV / Var(b): Var(b_ja) = K_jj Σ_aa with K the term's
        relationship matrix ((1 + F_j) Σ_aa for a pedigree), or Σ_aa for an iid term.  The accuracy is
        its square root."""
        t = self._at.spec.terms[term]
        kd = t.known.diagonal if t.known is not None else np.ones(t.n_levels)
        pev = np.diagonal(self.pev[term], axis1=1, axis2=2)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = 1.0 - pev / (kd[:, None] * np.diag(self.covariances[term])[None, :])
        out[np.abs(out) < 1e-12] = 0.0          # no information (PEV = prior variance): round-off only
        out.setflags(write=False)
        return out

    # ---- prediction ------------------------------------------------------------------------
    def predict(self, X_new, groups_new=None, z_new=None, new_levels: str = "error") -> np.ndarray:
        """x'β̂ + Σ_k z_k' b̂_k[level].  A level not seen in the fit is an error (new_levels="error", as
        lme4's allow.new.levels = FALSE) or contributes 0, the population value (new_levels="population").

        X_new has the columns of the X given to the fit (aliased columns included or already left out).
        groups_new: one label array per term (a bare array for a one-term model); None gives the
        population prediction.  z_new: per term the model columns (None for intercept terms).
        An offset is not included: add the new rows' offset to the result.
        """
        if new_levels not in ("error", "population"):
            raise FastmmeError(f"new_levels must be 'error' or 'population'; got {new_levels!r}")
        Xn = np.array(X_new, dtype=np.float64, copy=True)
        if Xn.ndim == 1:
            Xn = Xn[:, None]
        p = self.beta.shape[0]
        if Xn.shape[1] != p:
            if Xn.shape[1] == p + len(self.dropped):
                Xn = Xn[:, self._kept_columns]
            else:
                raise FastmmeError(f"X_new has {Xn.shape[1]} columns; the model has {p} fixed effects "
                                   f"({', '.join(self.x_names)})")
        pred = Xn @ self.beta
        if groups_new is None:
            return pred
        K = len(self.blups)
        if K == 1 and not isinstance(groups_new, (list, tuple)):
            groups_new = [groups_new]
        if len(groups_new) != K:
            raise FastmmeError(f"groups_new must give one label array per term ({K} terms)")
        if z_new is None:
            z_new = [None] * K
        elif K == 1 and not isinstance(z_new, (list, tuple)):
            z_new = [z_new]
        m = Xn.shape[0]
        for k in range(K):
            codes = _map_levels(self.levels[k], groups_new[k])
            if codes.shape[0] != m:
                raise FastmmeError(f"groups_new[{k}] has {codes.shape[0]} labels for {m} rows of X_new")
            if new_levels == "error" and np.any(codes < 0):
                new = sorted({str(v) for v in np.asarray(groups_new[k])[codes < 0]})
                raise FastmmeError(f"groups_new[{k}] has levels of {self.term_names[k]} not in the fit: "
                                   f"{', '.join(new[:10])}; pass new_levels='population' to predict them at the "
                                   "population level")
            r = self.blups[k].shape[1]
            if z_new[k] is None:
                if self.z_names[k] != ("(Intercept)",):
                    raise FastmmeError(f"term {self.term_names[k]} has columns {self.z_names[k]}: pass them in z_new")
                zk = np.ones((m, 1))
            else:
                zk = np.asarray(z_new[k], dtype=np.float64).reshape(m, r)
            seen = codes >= 0
            pred[seen] += np.sum(zk[seen] * self.blups[k][codes[seen]], axis=1)
        return pred

    # ---- presentation ----------------------------------------------------------------------
    def summary(self) -> str:
        """lme4-style text summary (fastmme.results.summary: the same formatter as a formula fit's, with t values)."""
        from .summary import summary_text
        return summary_text(self)

    def __repr__(self) -> str:
        return self.summary()


EXACT_FIT = 1e-14      # penalised residual sum of squares relative to Σ w y²: the response is fitted exactly


def _check_not_exact(spec, objective, theta, pwrss) -> None:
    """Refuse an estimate where the random effects fit the response exactly (no variation left for the
    residual): θ runs off to ~10⁷, the equations lose every digit of the fixed effects, and the
    numbers would be quietly wrong (a balanced one-way design gave an intercept of 2.40 for 1.90)."""
    yty = float(objective.blocks.yty)
    if not (yty > 0 and pwrss <= EXACT_FIT * yty):
        return
    big = int(np.argmax([np.max(np.abs(theta[sl])) for sl in spec.theta_slices]))
    name = spec.term_names[big]
    raise FastmmeError(f"the model fits the response exactly: the residual sum of squares is {pwrss:.3g}, "
                       f"{pwrss / yty:.1e} of Σy², with θ up to {np.max(np.abs(theta)):.3g} for {name}; the "
                       f"residual variance is not identifiable and the fixed effects cannot be computed "
                       f"reliably. Does y vary within the levels of {name}? If not, model the level means "
                       "instead (or remove the term); also check y for a copy of a predictor")


def build_result(spec, objective, opt, kept_columns, sigma2=None) -> FitResult:
    """The result at opt.theta; sigma2: a given residual variance (BLUP with known variances) instead
    of the profiled estimate."""
    theta = opt.theta
    u, beta, pwrss, _ = objective.solve(theta)
    beta = beta + spec.beta_shift               # the equations were solved for y − offset − X b₀
    n, p = spec.n, spec.p_df
    given = sigma2 is not None
    if not given:
        _check_not_exact(spec, objective, theta, pwrss)
        sigma2 = pwrss / (n - p if spec.reml else n)
    Ts = objective.lam.blocks(theta)
    blups, covs = [], []
    off = spec.q_offsets
    for k, (t, T) in enumerate(zip(spec.terms, Ts)):
        uk = u[off[k]:off[k + 1]].reshape(t.n_levels, t.r)
        blups.append(_freeze(uk @ T.T))
        covs.append(_freeze(sigma2 * T @ T.T))
    beta_cov = sigma2 * objective.unscaled_beta_cov(theta)        # Var(β̂) = σ² (R_Xᵀ R_X)⁻¹
    dev = objective.unprofiled_deviance(theta, np.sqrt(sigma2), spec.reml) if given else \
        objective.deviance(theta, spec.reml)
    objective.release()             # the last solve was made: its workspace goes before the n-long arrays come
    fitted = spec.X @ beta                       # row-free (partitioned) specs: no rows, computed where they are
    if spec.offset is not None:
        fitted += spec.offset
    if not spec.row_free:                        # in place, by rows: no n × r temporaries (1M rows: 30 MB)
        for t, b in zip(spec.terms, blups):
            if t.z is None:
                add_levels(t.codes, b, fitted)
            else:
                add_z_times(t.codes, t.z, b, fitted)
    sparse_fixed, lo = [], spec.q
    for f in spec.sparse_factors:
        est = u[lo:lo + f.n_levels].copy()
        est[f.zeroed] = 0.0
        fitted += est[f.codes]
        sparse_fixed.append((f.name, f.labels, _freeze(est)))
        lo += f.n_levels
    lower = theta_lower(spec.terms)
    names = []
    for k, t in enumerate(spec.terms):           # lme4 names θ by the grouping factor
        names += t.theta_names(t.name or f"g{k + 1}")
    return FitResult(
        reml=spec.reml, nobs=n, theta=_freeze(theta), theta_names=tuple(names), beta=_freeze(beta),
        beta_cov=_freeze(beta_cov), x_names=spec.x_names, dropped=spec.dropped, sigma=float(np.sqrt(sigma2)),
        covariances=tuple(covs), blups=tuple(blups), levels=tuple(_freeze(t.levels) for t in spec.terms),
        term_names=spec.term_names, z_names=tuple(t.z_names for t in spec.terms),
        structures=tuple(t.structure for t in spec.terms), fitted=_own(fitted),
        residuals=_own(spec.y - fitted) if not spec.row_free else _own(np.zeros(0)), loglik=-0.5 * dev, deviance=dev, n_theta=spec.n_theta,
        converged=opt.converged, n_evals=opt.n_evals, optimizer_message=opt.message,
        singular=bool(np.any(theta[lower == 0] < SINGULAR_TOL)),
        _at=AtEstimate(objective, theta, np.sqrt(sigma2)), _kept_columns=_freeze(kept_columns), sparse_fixed=tuple(sparse_fixed),
        optimizer=opt.method, certificate=opt.certificate if opt.method else "", fallbacks=tuple(opt.fallbacks),
    )
