"""The result of a GLMM fit (fastmme.glmm): lme4's glmer accessors.

Definitions, as lme4's: loglik is the Laplace approximation to log L (nAGQ = 0: at β's joint mode
with u; nAGQ > 1: adaptive Gauss–Hermite quadrature); minus2loglik = −2 loglik, the objective lme4
minimises (at nAGQ > 1 lme4's objective and logLik leave out −2 log L of the saturated model, a constant
that is 0 for a binary response; loglik here keeps it, so it is comparable across nAGQ); AIC = −2 loglik + 2 (p + n_θ),
BIC = −2 loglik + log(n)(p + n_θ); `deviance` is lme4's deviance() of a GLMM, which is not −2 log L:
the sum of the squared deviance residuals Σ d_i(y_i, μ̂_i) (relative to the saturated model).  vcov: from the
central-difference Hessian of the objective in (θ, β) (lme4's default for nAGQ ≥ 1, use.hessian =
TRUE; steps HESSIAN_STEP × each parameter's scale; differences of the exact gradient where it exists:
2k evaluations instead of 2k² + 1), else (nAGQ = 0, or a Hessian that is not positive definite, which the fit then says) from the
weighted equations at the mode (lme4's use.hessian = FALSE).  Tests: tests/test_glmm.py.
"""
from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import FastmmeError, FastmmeWarning, NotPositiveDefinite
from ..evaluate.laplace_gradient import laplace_gradient
from ..lazy import scipy_stats
from ..optimize.glmm import GRADIENT_METHOD
from ..spec.covariance import RelativeFactor
from ..spec.terms import theta_lower


# the central differences' steps, relative to each parameter's scale: max(|θ|, 0.1) for θ and the
# standard error from the weighted equations for β (lme4's deriv12 takes 1e-4 for every coordinate,
# whatever the scale of its covariate).  The objective is exact to about 1e-12 (relative: the mode to
# rounding), which at steps of 1e-3 in cbpp's cloglog fit moved the SEs by 1.4e-4; at 1e-2 of the
# scale the truncation error is about 1e-5 and the rounding's share 100 times smaller
HESSIAN_STEP = 1e-2


@dataclass(frozen=True, eq=False)
class GlmmFit:
    """A fitted GLMM (fastmme.glmm), immutable.  Beside lme4's accessors below: theta, beta, beta_cov,
    minus2loglik (−2 log L, from a cold PIRLS at the estimate), deviance (lme4's), converged, n_evals,
    vcov_method (the route to vcov), stage2 (the last stage's method: "L-BFGS-B with the exact gradient"
    for the Laplace objective with a canonical link, else "BOBYQA"), stage1 (lme4's nAGQ = 0 stage, or ""
    when the gradient's one stage fitted (θ, β)), gradient (its certificate, the
    relative projected gradient; NaN without a gradient), fallbacks (every hand-over, also in the
    summary).  The fit holds no evaluator: profiles build a new objective from the design."""
    formula: str
    family: str
    link: str
    nAGQ: int
    nobs: int
    theta: np.ndarray
    theta_names: tuple
    beta: np.ndarray
    beta_cov: np.ndarray
    vcov_method: str
    x_names: tuple
    dropped: tuple
    term_names: tuple
    z_names: tuple
    levels: tuple
    covariances: tuple      # Σ_k = T_k T_kᵀ (no residual scale)
    blups: tuple            # b̂_k (J_k, r_k): the conditional modes
    cond_vars: tuple        # Var(b_k | y) (J_k, r_k, r_k) by the Laplace approximation
    mu: np.ndarray          # μ̂ (the response scale); fit.fitted is the Series
    linear_predictor: np.ndarray
    y: np.ndarray
    prior_weights: np.ndarray
    minus2loglik: float
    deviance: float
    converged: bool
    n_evals: int
    optimizer_message: str
    fallbacks: tuple
    n_dropped: int
    design: object = None   # the formula's design (fastmme.formula.frame.Design): the model's data
    _family: object = None       # the fastmme.spec.family.Family
    _terms: tuple = ()           # the fastmme.Term of the fit (the spec's)
    _fixed_eta: np.ndarray = None    # offset + Xβ̂
    _kept_columns: np.ndarray = None
    design_formula: str = ""     # the formula the design was read with (the response rewritten)
    stage2: str = "BOBYQA"       # the method of the last stage (nAGQ ≥ 1)
    stage1: str = "BOBYQA over θ (nAGQ = 0)"     # the first stage, "" when one stage fitted (θ, β)
    data_name: str | None = None     # the summary's "Data:" line (fastmme.api.data_name)
    gradient: float = float("nan")   # its certificate (the relative projected gradient; NaN without a gradient)

    # -- what the summary formatter reads (fastmme.results.summary) -----------------------------
    reml = False
    sigma = 1.0
    sparse_factors = ()          # GLMMs keep every fixed factor dense
    optimizer = "BOBYQA"

    @property
    def certificate(self) -> str:
        second = "the Laplace objective" if self.nAGQ == 1 else \
            f"adaptive Gauss–Hermite quadrature with {self.nAGQ} nodes per level"
        if not self.nAGQ:
            stages = self.stage1
        elif self.stage1:
            stages = f"{self.stage1}, then {self.stage2} over (θ, β) of {second}"
        else:
            stages = f"{self.stage2} over (θ, β) of {second} from θ's start (β at its joint mode with u there)"
        if not np.isfinite(self.gradient):
            return f"{stages}; " + ("the gradient at the estimate not evaluated" if self.stage2 == GRADIENT_METHOD
                                    else "no gradient (derivative-free)")
        g = "0" if self.gradient == 0 else f"< 1e{int(np.floor(np.log10(self.gradient))) + 1}"
        return f"{stages}; relative projected gradient {g}"

    @property
    def loglik(self) -> float:
        return -0.5 * self.minus2loglik

    @property
    def n_params(self) -> int:
        return len(self.beta) + len(self.theta)

    @property
    def aic(self) -> float:
        return self.minus2loglik + 2 * self.n_params

    @property
    def bic(self) -> float:
        return self.minus2loglik + math.log(self.nobs) * self.n_params

    @property
    def df_resid(self) -> int:
        return self.nobs - self.n_params

    @property
    def beta_se(self) -> np.ndarray:
        return np.sqrt(np.diag(self.beta_cov))

    @property
    def singular(self) -> bool:
        lower = theta_lower(self._terms)
        return bool(np.any(self.theta[lower == 0] < 1e-4))

    @property
    def _objective(self):
        """A new LaplaceObjective of this fit's model, built from its design (one assembly): the fit holds
        no evaluator.  PIRLS inside its warm_starts() begins at the mode of the fit, as the fit's own
        objective would have after it."""
        from ..evaluate.laplace import glmm_objective
        obj = glmm_objective(self.design, self._family)
        obj.last = {"eta": np.array(self.linear_predictor)}
        return obj

    @property
    def core(self) -> GlmmFit:   # the summary formatter's view of a fit (a MixedFit has .core)
        return self

    # -- lme4's accessors ----------------------------------------------------------------------
    def _rows(self, values, name: str) -> pd.Series:
        return pd.Series(np.array(values), index=self.design.kept_index, name=name)

    @property
    def fitted(self) -> pd.Series:
        """μ̂ on the response scale (lme4's fitted()), indexed like the rows of the data that were used."""
        return self._rows(self.mu, "fitted")

    @property
    def residuals(self) -> pd.Series:
        """Deviance residuals sign(y − μ̂)·√d_i (lme4's residuals() of a glmer fit, its default type)."""
        d = self._family.dev_resids(np.array(self.y), np.array(self.mu), np.array(self.prior_weights))
        return self._rows(np.sign(self.y - self.mu) * np.sqrt(np.maximum(d, 0.0)), "residuals")

    @property
    def pearson_residuals(self) -> pd.Series:
        """(y − μ̂)·√w / √V(μ̂) (lme4's residuals(type = "pearson"))."""
        v = self._family.variance(np.array(self.mu))
        return self._rows((self.y - self.mu) * np.sqrt(self.prior_weights / v), "pearson_residuals")

    @property
    def response_residuals(self) -> pd.Series:
        """y − μ̂ (lme4's residuals(type = "response"))."""
        return self._rows(self.y - self.mu, "response_residuals")

    @property
    def fixef(self) -> pd.Series:
        return pd.Series(np.array(self.beta), index=list(self.x_names))

    @property
    def vcov(self) -> pd.DataFrame:
        return pd.DataFrame(np.array(self.beta_cov), index=list(self.x_names), columns=list(self.x_names))

    @property
    def coef_table(self) -> pd.DataFrame:
        """Estimate, Std. Error, z value, Pr(>|z|) (Wald z-tests, as glmer's summary)."""
        beta, se = np.array(self.beta), self.beta_se
        z = beta / se
        p = 2 * scipy_stats().norm.sf(np.abs(z))
        return pd.DataFrame({"Estimate": beta, "Std. Error": se, "z value": z, "Pr(>|z|)": p},
                            index=list(self.x_names))

    @property
    def ranef(self) -> dict:
        """Per grouping factor, the conditional modes b̂ (levels × columns), as lme4's ranef(), with
        condVar (J, r, r) in `.attrs["cond_var"]` (what fastmme.plots.caterpillar draws)."""
        out = {}
        for g, b, lv, zn, cv in zip(self.term_names, self.blups, self.levels, self.z_names, self.cond_vars):
            df = pd.DataFrame(np.array(b), index=pd.Index(lv, name=g), columns=list(zn))
            df.attrs["cond_var"] = np.array(cv)
            out[g] = df
        return out

    @property
    def varcorr(self) -> pd.DataFrame:
        rows = []
        for g, zn, S in zip(self.term_names, self.z_names, self.covariances):
            sd = np.sqrt(np.diag(S))
            for a, name in enumerate(zn):
                rows.append({"group": g, "name": name, "variance": S[a, a], "sd": sd[a]})
        return pd.DataFrame(rows)

    @property
    def ngroups(self) -> dict:
        return {g: len(lv) for g, lv in zip(self.term_names, self.levels)}

    def predict(self, newdata=None, type: str = "link", re: bool = True, new_levels: str = "error") -> pd.Series:
        """Predictions on the link scale (type="link": the linear predictor η) or the response scale
        (type="response": μ = g⁻¹(η)), a Series indexed like newdata (like the fit's rows when newdata
        is None); re=False leaves the random effects out (lme4's re.form = NA); new_levels as
        MixedFit.predict."""
        if type not in ("link", "response"):
            raise FastmmeError(f"type must be 'link' or 'response'; got {type!r}")
        if newdata is None:
            eta, index = np.array(self.linear_predictor if re else self._fixed_eta), self.design.kept_index
        else:
            from ..formula.frame import to_pandas
            from .predict import check_new_levels
            check_new_levels(new_levels)
            df = to_pandas(newdata)
            eta, index = self._predictor(df, re, new_levels), df.index
        return pd.Series(eta if type == "link" else self._family.link.linkinv(eta), index=index, name="predict")

    @functools.cached_property
    def _predictor(self):
        from .predict import Predictor
        d = self.design
        return Predictor(formula=self.design_formula, parsed=d.parsed, fixed=d.fixed_columns, random=d.random_columns,
                         kept_columns=np.asarray(self._kept_columns), beta=np.array(self.beta),
                         levels=tuple(np.asarray(v) for v in self.levels),
                         blups=tuple(np.asarray(b) for b in self.blups), sparse_fixed=())

    def simulate(self, nsim: int = 1, seed=None, use_u: bool = False) -> pd.DataFrame:
        """Responses simulated from the fitted model, as lme4's simulate() of a glmer fit: columns sim_1 …
        sim_nsim, one row per observation.  use_u=False (lme4's default) draws new random effects
        b ~ N(0, Σ̂) for every simulation; use_u=True keeps the conditional modes b̂.  Then
        y ~ binomial(w, μ) / w (a proportion with the fit's trials w: 0/1 for a binary response) or
        Poisson(μ), μ = g⁻¹(offset + Xβ̂ + Zb).  seed: as numpy.random.default_rng's."""
        if isinstance(nsim, bool) or not isinstance(nsim, (int, np.integer)) or nsim < 1:
            raise FastmmeError(f"nsim must be a positive integer; got {nsim!r}")
        rng = np.random.default_rng(seed)
        fixed, family = np.array(self._fixed_eta), self._family
        Ts = RelativeFactor(self._terms).blocks(np.array(self.theta))   # Σ_k = T_k T_kᵀ (singular Σ included)
        out = np.empty((fixed.shape[0], int(nsim)))
        for s in range(int(nsim)):
            eta = fixed.copy()
            for t, T, b in zip(self._terms, Ts, self.blups):
                bk = np.asarray(b) if use_u else rng.standard_normal((t.n_levels, t.r)) @ T.T
                eta += np.sum(t.zmatrix() * bk[t.codes], axis=1)
            mu = family.link.linkinv(eta)
            if family.name == "binomial":
                trials = np.round(np.asarray(self.prior_weights)).astype(np.int64)
                out[:, s] = rng.binomial(trials, mu) / np.maximum(trials, 1)
            else:
                out[:, s] = rng.poisson(mu)
        return pd.DataFrame(out, columns=[f"sim_{i + 1}" for i in range(int(nsim))])

    def confint(self, method: str = "wald", level: float = 0.95, parm=None) -> pd.DataFrame:
        """Confidence intervals, as lme4's confint of a glmer fit (oldNames = FALSE): "wald" (β̂ ± z SE; the
        sd/cor rows NaN, as lme4) or "profile" (the profile likelihood of the objective the fit minimised —
        Laplace or quadrature — for the sd/cor parameters and β; needs nAGQ ≥ 1, where β is a parameter
        of the objective).  parm: as lme4's, the rows wanted — names, "theta_" (the sd/cor rows), "beta_";
        None: all."""
        from ..spec.covariance import sdcor_names
        from .inference import glmm_profile_intervals
        if not 0 < level < 1:
            raise FastmmeError(f"level must be between 0 and 1; got {level}")
        lo_name, hi_name = f"{100 * (1 - level) / 2:.3g} %", f"{100 * (1 + level) / 2:.3g} %"
        terms = self._terms
        if method == "wald":
            var_names = sdcor_names(terms, self.term_names)[:-1]
            zq = scipy_stats().norm.ppf(0.5 + level / 2)
            b, se = np.array(self.beta), np.array(self.beta_se)
            lo = np.concatenate([np.full(len(var_names), np.nan), b - zq * se])
            hi = np.concatenate([np.full(len(var_names), np.nan), b + zq * se])
            names = var_names + list(self.x_names)
            keep = self._parm_positions(parm)
            if keep is not None:
                names, lo, hi = [names[i] for i in keep], lo[keep], hi[keep]
        elif method == "profile":
            if self.nAGQ == 0:
                raise FastmmeError("confint(method='profile') needs a fit with nAGQ ≥ 1 (at nAGQ = 0 β is not a "
                                   "parameter of the objective); refit with nAGQ=1, or use method='wald'")
            obj, q = self._objective, self.nAGQ
            with obj.warm_starts():
                names, ci = glmm_profile_intervals(lambda th, b: obj.agq(th, b, q), terms, self.term_names,
                                                   np.array(self.theta), np.array(self.beta), self.beta_se,
                                                   self.x_names, level, which=self._parm_positions(parm))
            lo, hi = ci[:, 0], ci[:, 1]
        else:
            raise FastmmeError(f"method must be 'wald' or 'profile'; got {method!r}")
        return pd.DataFrame({lo_name: lo, hi_name: hi}, index=names)

    def _parm_positions(self, parm):
        """Positions (sd/cor rows, then β) of lme4's parm: None (all), "theta_", "beta_" or names."""
        from ..spec.covariance import sdcor_names
        names = sdcor_names(self._terms, self.term_names)[:-1] + list(self.x_names)
        k = len(names) - len(self.x_names)
        if parm is None:
            return None
        if isinstance(parm, str) and parm in ("theta_", "beta_"):
            return list(range(k)) if parm == "theta_" else list(range(k, len(names)))
        wanted = [parm] if isinstance(parm, str) else list(parm)
        unknown = [w for w in wanted if w not in names]
        if unknown:
            raise FastmmeError(f"parm: no parameter {', '.join(map(repr, unknown))}; the parameters are "
                               f"{', '.join(names)} (or 'theta_', 'beta_')")
        return [names.index(w) for w in wanted]

    def summary(self) -> str:
        from .summary import summary_text
        return summary_text(self)

    def __str__(self) -> str:
        return self.summary()

    def to_dict(self) -> dict:
        return {"formula": self.formula, "family": self.family, "link": self.link, "nAGQ": self.nAGQ,
                "nobs": self.nobs, "theta": [float(v) for v in self.theta], "beta": dict(zip(self.x_names, map(float, self.beta))),
                "beta_se": dict(zip(self.x_names, map(float, self.beta_se))), "vcov_method": self.vcov_method,
                "loglik": self.loglik, "aic": self.aic, "bic": self.bic, "deviance": self.deviance,
                "converged": self.converged, "n_evals": self.n_evals, "optimizer_message": self.optimizer_message,
                "fallbacks": list(self.fallbacks)}


def _gradient_differences(objective, par, steps, k) -> np.ndarray:
    """The Hessian of the Laplace objective in (θ, β) by central differences of its exact gradient
    (fastmme.evaluate.laplace_gradient), symmetrised; PIRLS to rounding at each point, each from the mode at
    the estimate (LaplaceObjective.starts_from: 40–55 % fewer PIRLS iterations than from R's starting values
    on cbpp, grouseticks, VerbAgg and Contraception; the SEs move by at most 8e-7 relative, VerbAgg's)."""
    m = par.shape[0]
    H = np.empty((m, m))
    centre = objective.pirls(par[:k], par[k:], precise=True)
    with objective.starts_from(centre):
        for i in range(m):
            e = np.zeros(m)
            e[i] = steps[i]
            gp = laplace_gradient(objective, (par + e)[:k], (par + e)[k:], precise=True)[1]
            gm = laplace_gradient(objective, (par - e)[:k], (par - e)[k:], precise=True)[1]
            H[i] = (gp - gm) / (2.0 * steps[i])
    return 0.5 * (H + H.T)


def build_glmm_fit(objective, opt, design, formula: str, design_formula: str, nAGQ: int, kept_columns,
                   data_name: str | None = None) -> GlmmFit:
    """The GlmmFit at the optimum `opt` (fastmme.optimize.glmm.GlmmOptimum) of `objective`."""
    from .inference import central_differences
    theta, beta = np.array(opt.theta), np.array(opt.beta)
    last = opt.stages[-1][1]
    fallbacks = [f for _, s in opt.stages for f in s.fallbacks]    # every stage's hand-overs (the summary shows them)
    n_stage_fallbacks = len(fallbacks)
    beta_cov, method = None, "weighted equations at the mode (lme4's use.hessian = FALSE)"
    k = theta.shape[0]
    if nAGQ >= 1:
        try:
            se = np.sqrt(np.maximum(np.diag(objective.unscaled_beta_cov(theta, beta)), 1e-300))
            steps = HESSIAN_STEP * np.concatenate([np.maximum(np.abs(theta), 0.1), se])
            par0 = np.concatenate([theta, beta])
            by = "central differences of the objective"
            if last.method == GRADIENT_METHOD:                   # differences of the exact gradient: 2k PIRLS
                H, by = _gradient_differences(objective, par0, steps, k), "central differences of its exact gradient"
            else:                                                # of the objective: 2k² + 1
                H = central_differences(lambda par: objective.agq(par[:k], par[k:], nAGQ, precise=True),
                                        par0, steps)[2]
            V = np.linalg.inv(0.5 * H)
            if np.all(np.isfinite(V)) and np.all(np.linalg.eigvalsh(0.5 * (V + V.T)) > 0):
                beta_cov, method = V[k:, k:], f"Hessian of the objective in (θ, β) (lme4's default), by {by}"
            else:
                fallbacks.append("the finite-difference Hessian in (θ, β) is not positive definite: vcov from the "
                                 "weighted equations at the mode")
        except np.linalg.LinAlgError:
            fallbacks.append("the finite-difference Hessian in (θ, β) is singular: vcov from the weighted "
                             "equations at the mode")
        except NotPositiveDefinite as err:     # PIRLS failed at a point of the difference stencil
            fallbacks.append(f"the finite-difference Hessian could not be computed ({str(err).split(':')[0]}): "
                             "vcov from the weighted equations at the mode")
        if len(fallbacks) > n_stage_fallbacks:
            warnings.warn(f"{fallbacks[-1]} (lme4 warns likewise); the standard errors are the approximate ones",
                          FastmmeWarning, stacklevel=3)
    if beta_cov is None:
        beta_cov = objective.unscaled_beta_cov(theta, beta)
    # −2 log L at the estimate from a cold PIRLS (the optimiser's evaluations start from the last mode, which
    # moves the value by about 1e-12 relative): the fit's value is what the objective gives there
    value = objective.laplace_beta_free(theta) if nAGQ == 0 else \
        objective.agq(theta, beta, nAGQ) if nAGQ > 1 else None
    mode = objective.pirls(theta, beta)
    value = mode["value"] if value is None else value
    u, eta, mu = mode["u"], mode["eta"], mode["mu"]
    terms = objective.terms
    Ts = objective.joint.lam.blocks(theta)
    blups, covs, off = [], [], 0
    for t, T in zip(terms, Ts):
        kk = t.n_levels * t.r
        blups.append(_frozen(u[off:off + kk].reshape(t.n_levels, t.r) @ T.T))
        covs.append(_frozen(T @ T.T))
        off += kk
    cond = tuple(_frozen(c) for c in objective.cond_var(theta, beta))
    spec = objective.spec
    names = []
    for i, t in enumerate(terms):
        names += t.theta_names(t.name or f"g{i + 1}")
    deviance = float(np.sum(objective.family.dev_resids(objective.y, mu, objective.pw)))
    return GlmmFit(
        formula=formula, family=objective.family.name, link=objective.family.link.name, nAGQ=nAGQ,
        nobs=int(objective.y.shape[0]), theta=_frozen(theta), theta_names=tuple(names), beta=_frozen(beta),
        beta_cov=_frozen(beta_cov), vcov_method=method, x_names=tuple(spec.x_names), dropped=tuple(spec.dropped),
        term_names=tuple(spec.term_names), z_names=tuple(t.z_names for t in terms),
        levels=tuple(_frozen(t.levels) for t in terms), covariances=tuple(covs), blups=tuple(blups),
        cond_vars=cond, mu=_frozen(mu), linear_predictor=_frozen(eta), y=_frozen(objective.y),
        prior_weights=_frozen(objective.pw), minus2loglik=float(value), deviance=deviance,
        converged=bool(opt.converged), n_evals=int(opt.n_evals), optimizer_message=opt.message,
        fallbacks=tuple(fallbacks), n_dropped=int(design.n_dropped), design=design, _family=objective.family,
        _terms=tuple(terms), _fixed_eta=_frozen(objective.offset + objective.X @ beta),
        _kept_columns=_frozen(np.asarray(kept_columns)), design_formula=design_formula,
        stage2=last.method or "BOBYQA", stage1="BOBYQA over θ (nAGQ = 0)" if len(opt.stages) > 1 or nAGQ == 0 else "",
        gradient=float(last.gradient) if nAGQ >= 1 else float("nan"), data_name=data_name)


def _frozen(a):
    a = np.array(a)
    a.setflags(write=False)
    return a
