"""The result of a formula fit: lme4's accessors on top of the core FitResult.

No model mathematics here beyond arranging numbers: estimates come from fastmme.results, tests and
intervals from fastmme.results.inference, text from fastmme.results.summary.  Tests: tests/test_formula_lme4.py.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import FastmmeError
from ..formula.frame import Design, to_pandas
from ..lazy import scipy_stats
from .fit import FitResult
from ..spec.covariance import sdcor_names
from .anova_table import AnovaTable
from .inference import profile_intervals, satterthwaite_df, varpar_covariance


@dataclass(frozen=True, eq=False)
class MixedFit:
    """A fitted linear mixed model from ``fastmme.lmm(formula, data)``."""
    core: FitResult
    design: Design
    model: object           # fastmme.Model, kept for refits and profiles
    formula: str
    data_name: str | None = None    # the summary's "Data:" line (fastmme.api.data_name)

    # ---- lme4's accessors ----------------------------------------------------------------------
    @property
    def reml(self) -> bool:
        return self.core.reml

    @property
    def nobs(self) -> int:
        return self.core.nobs

    @property
    def n_dropped(self) -> int:
        """Rows dropped because a column the model uses had a missing value."""
        return self.design.n_dropped

    @property
    def loglik(self) -> float:
        return self.core.loglik

    @property
    def aic(self) -> float:
        return self.core.aic

    @property
    def bic(self) -> float:
        return self.core.bic

    @property
    def deviance(self) -> float:
        """The minimised criterion: REML criterion (REML fits) or −2 log-likelihood (ML fits)."""
        return self.core.deviance

    @property
    def sigma(self) -> float:
        return self.core.sigma

    @property
    def converged(self) -> bool:
        return self.core.converged

    @property
    def singular(self) -> bool:
        return self.core.singular

    @property
    def theta(self) -> pd.Series:
        return pd.Series(np.array(self.core.theta), index=list(self.core.theta_names), name="theta")

    @functools.cached_property
    def fixef(self) -> pd.Series:
        return pd.Series(np.array(self.core.beta), index=list(self.core.x_names), name="fixef")

    @functools.cached_property
    def vcov(self) -> pd.DataFrame:
        names = list(self.core.x_names)
        return pd.DataFrame(np.array(self.core.beta_cov), index=names, columns=names)

    @property
    def ngroups(self) -> dict:
        out = {}
        for t, lv in zip(self.design.parsed.random, self.core.levels):
            out[t.group] = len(lv)
        return out

    @functools.cached_property
    def ranef(self) -> dict:
        """Grouping factor → DataFrame of conditional modes (levels × columns); the conditional
        covariances (levels × r × r) are in ``df.attrs["cond_var"]`` (lme4's condVar)."""
        groups = {}
        for k, t in enumerate(self.design.parsed.random):
            groups.setdefault(t.group, []).append(k)
        out = {}
        for g, ks in groups.items():
            cols, vals, cvs = [], [], []
            for k in ks:
                cols += list(self.core.z_names[k])
                vals.append(np.array(self.core.blups[k]))
                cvs.append(np.array(self.core.cond_var[k]))
            df = pd.DataFrame(np.hstack(vals), index=pd.Index(self.core.levels[ks[0]], name=g), columns=cols)
            J, r = df.shape
            cv = np.zeros((J, r, r))
            off = 0
            for c in cvs:
                rk = c.shape[1]
                cv[:, off:off + rk, off:off + rk] = c
                off += rk
            df.attrs["cond_var"] = cv
            out[g] = df
        return out

    def breeding_values(self, group: str) -> pd.DataFrame:
        """For one grouping factor (one term), every level's BLUP (EBV), prediction-error variance
        (fixed effects' uncertainty included), reliability 1 − PEV / ((1 + F) σ²_a) — K_jj in place of
        1 + F for other relationship matrices, 1 for iid terms — and accuracy √reliability."""
        ks = [k for k, t in enumerate(self.design.parsed.random) if t.group == group]
        if len(ks) != 1:
            raise FastmmeError(f"{group!r} is not the grouping factor of exactly one random term "
                               f"(terms: {', '.join(t.group for t in self.design.parsed.random)})")
        k = ks[0]
        names = self.core.z_names[k]
        pev = np.diagonal(self.core.pev[k], axis1=1, axis2=2)
        rel = self.core.reliability(k)
        cols = {}
        for a, c in enumerate(names):
            sfx = "" if len(names) == 1 else f".{c}"
            cols[f"ebv{sfx}"] = self.core.blups[k][:, a]
            cols[f"pev{sfx}"] = pev[:, a]
            cols[f"reliability{sfx}"] = rel[:, a]
            cols[f"accuracy{sfx}"] = np.sqrt(np.clip(rel[:, a], 0.0, None))
        return pd.DataFrame(cols, index=pd.Index(self.core.levels[k], name=group))

    @functools.cached_property
    def coef(self) -> dict:
        """Per grouping factor, fixed + random coefficients for every level (lme4's coef)."""
        out = {}
        fe = self.fixef
        for g, re in self.ranef.items():
            extra = [c for c in re.columns if c not in fe.index]
            df = pd.DataFrame({c: np.zeros(len(re)) for c in extra}, index=re.index)
            for c in fe.index:
                df[c] = fe[c]
            for c in re.columns:
                df[c] = df[c] + re[c].to_numpy()
            out[g] = df
        return out

    @functools.cached_property
    def varcorr(self) -> pd.DataFrame:
        """lme4's as.data.frame(VarCorr(fit)): grp, var1, var2, vcov, sdcor."""
        rows = []
        for g, zn, S, st in zip(self.core.term_names, self.core.z_names, self.core.covariances,
                                self.core.structures):
            sd = np.sqrt(np.diag(S))
            for a in range(len(zn)):
                rows.append((g, zn[a], None, S[a, a], sd[a]))
            if st == "unstructured":
                for j in range(len(zn)):
                    for i in range(j + 1, len(zn)):
                        c = S[i, j] / (sd[i] * sd[j]) if sd[i] * sd[j] > 0 else np.nan
                        rows.append((g, zn[j], zn[i], S[i, j], c))
        rows.append(("Residual", None, None, self.sigma ** 2, self.sigma))
        return pd.DataFrame(rows, columns=["grp", "var1", "var2", "vcov", "sdcor"])

    # ---- the optimiser's record and the breeders' quantities -----------------------------------------
    @property
    def optimizer(self) -> str:
        """The method whose point θ̂ is: Newton (average information), L-BFGS-B or BOBYQA."""
        return self.core.optimizer

    @property
    def optimizer_message(self) -> str:
        return self.core.optimizer_message

    @property
    def n_evals(self) -> int:
        """Evaluations of the criterion the optimiser used."""
        return self.core.n_evals

    @property
    def certificate(self) -> str:
        """How θ̂ was checked: the projected gradient there and the entries at the bound."""
        return self.core.certificate

    @property
    def fallbacks(self) -> tuple:
        """Why each earlier optimiser stage handed over to the next (empty: none did)."""
        return self.core.fallbacks

    def _term_index(self, term) -> int:
        names = list(self.core.term_names)
        if isinstance(term, (int, np.integer)) and not isinstance(term, bool):
            if not 0 <= term < len(names):
                raise FastmmeError(f"term {term} is out of range: the model has {len(names)} random terms (0 … {len(names) - 1})")
            return int(term)
        if names.count(term) == 1:
            return names.index(term)
        raise FastmmeError(f"term must be a grouping factor named once among the random terms ({', '.join(map(repr, names))}) "
                           f"or a term's position; got {term!r}")

    def variance_components(self) -> pd.DataFrame:
        """The variance components (each term's variances and covariances, then the residual) with
        AI-REML standard errors from the inverse average-information matrix (FitResult.variance_components)."""
        return self.core.variance_components()

    def heritability(self, term=0) -> tuple:
        """(h², standard error) of a random term (its position or grouping factor): its variance over the
        sum of all variances, the SE by the delta method on the inverse average-information matrix.
        Needs every term to be a random intercept."""
        return self.core.heritability(self._term_index(term))

    def reliability(self, term=0) -> pd.DataFrame:
        """Reliabilities 1 − PEV / Var(b) of a term's levels (rows) and columns, with K_jj Var(b) for a term
        with a relationship matrix K; the accuracy is the square root."""
        k = self._term_index(term)
        return pd.DataFrame(np.array(self.core.reliability(k)), columns=list(self.core.z_names[k]),
                            index=pd.Index(self.core.levels[k], name=self.core.term_names[k]))

    @property
    def partitioned(self) -> bool:
        """True for a fit of a Dask DataFrame: fitted values and residuals are then Dask series."""
        return getattr(self.design, "partitioned", False)

    @functools.cached_property
    def _partition_outputs(self):
        return self.design.fitted_and_residuals(self._predictor, self.sigma)

    @property
    def fitted(self) -> pd.Series:
        """Xβ̂ + Zb̂, indexed like the rows used (a new Series each time: changing it leaves the fit alone)."""
        if self.partitioned:
            return self._partition_outputs[0]
        return pd.Series(np.array(self.core.fitted), index=self.design.kept_index, name="fitted")

    @property
    def residuals(self) -> pd.Series:
        if self.partitioned:
            return self._partition_outputs[1]
        return pd.Series(np.array(self.core.residuals), index=self.design.kept_index, name="residuals")

    @property
    def scaled_residuals(self) -> np.ndarray:
        """Pearson residuals divided by σ (lme4's residuals(type = "pearson", scaled = TRUE))."""
        if self.partitioned:
            return self._partition_outputs[2]
        w = self.design.weights if self.design.weights is not None else 1.0
        return np.array(self.core.residuals) * np.sqrt(w) / self.sigma

    # ---- tests and intervals ---------------------------------------------------------------------
    @functools.cached_property
    def _varpar(self):
        return varpar_covariance(self.model._objective, np.array(self.core.theta), self.sigma, self.reml)

    def satterthwaite(self, contrasts) -> np.ndarray:
        """Satterthwaite denominator df for the rows of a contrast matrix (lmerTest)."""
        return satterthwaite_df(self._varpar, contrasts)

    @functools.cached_property
    def coef_table(self) -> pd.DataFrame:
        """Estimate, Std. Error, df (Satterthwaite), t value, Pr(>|t|): lmerTest's summary table."""
        beta = np.array(self.core.beta)
        se = np.array(self.core.beta_se)
        df = self.satterthwaite(np.eye(len(beta))) if len(beta) else np.zeros(0)
        t = beta / se
        p = 2 * scipy_stats().t.sf(np.abs(t), df)
        return pd.DataFrame({"Estimate": beta, "Std. Error": se, "df": df, "t value": t, "Pr(>|t|)": p},
                            index=list(self.core.x_names))

    @property
    def _x_used(self) -> tuple:
        """(X, assign) of the fixed-effect columns the fit kept (aliased ones dropped)."""
        kept = np.asarray(self.core._kept_columns)
        return self.design.X[:, kept], np.asarray(self.design.fixed_columns.assign)[kept]

    @functools.cached_property
    def _kenward_roger(self):
        from ..spec.covariance import RelativeFactor
        from .kenward_roger import kenward_roger
        if not self.reml:
            raise FastmmeError("Kenward–Roger's method is only available for REML fits (as in lmerTest): refit with "
                               "reml=True, or use Satterthwaite's df")
        if self.design.weights is not None:
            raise FastmmeError("Kenward–Roger's df with prior weights are not available (pbkrtest takes the residual "
                               "covariance as σ² I): use Satterthwaite's df")
        if self.partitioned or self.design.sparse_fixed:
            raise FastmmeError("Kenward–Roger's df need the rows in memory and every fixed factor in X: use "
                               "Satterthwaite's df")
        terms = self.model.spec.terms
        Ts = RelativeFactor(terms).blocks(np.array(self.core.theta))
        return kenward_roger(terms, Ts, self.sigma, self._x_used[0], np.array(self.core.beta_cov))

    def vcov_adjusted(self) -> pd.DataFrame:
        """Kenward–Roger's adjusted covariance of β̂ (pbkrtest's vcovAdj; a REML fit)."""
        names = list(self.core.x_names)
        return pd.DataFrame(np.array(self._kenward_roger.phi_adj), index=names, columns=names)

    def coef_table_kr(self) -> pd.DataFrame:
        """lmerTest's summary(fit, ddf = "Kenward-Roger") table: Std. Error from Kenward–Roger's adjusted
        covariance, df by pbkrtest's Lb_ddf."""
        kr = self._kenward_roger
        beta = np.array(self.core.beta)
        se = np.sqrt(np.diag(kr.phi_adj))
        df = kr.ddf(np.eye(len(beta))) if len(beta) else np.zeros(0)
        t = beta / se
        return pd.DataFrame({"Estimate": beta, "Std. Error": se, "df": df, "t value": t,
                             "Pr(>|t|)": 2 * scipy_stats().t.sf(np.abs(t), df)}, index=list(self.core.x_names))

    def confint(self, method: str = "wald", level: float = 0.95, nsim: int = 500, seed=None,
                progress=None) -> pd.DataFrame:
        """Confidence intervals: "wald" (β only; variance parameters NaN, as lme4), "profile" (profile
        likelihood of the ML refit for sd/cor/σ and β, as lme4's confint(profile(fit))) or "boot"
        (lme4's confint(method = "boot"): percentile intervals of sd/cor/σ and β over `nsim` replicates
        of the parametric bootstrap (fit.bootstrap(nsim, seed)), boot.ci's interpolated order statistics).
        progress: as lmm's — a bar over the profiled parameters or the bootstrap's refits."""
        from ..progress import Progress
        if not 0 < level < 1:
            raise FastmmeError(f"level must be between 0 and 1; got {level}")
        rep = Progress.of(progress)
        try:
            return self._confint(method, level, nsim, seed, rep)
        finally:
            rep.close()

    def _confint(self, method, level, nsim, seed, rep) -> pd.DataFrame:
        lo_name, hi_name = f"{100 * (1 - level) / 2:.3g} %", f"{100 * (1 + level) / 2:.3g} %"
        var_names = sdcor_names(self.model.spec.terms, self.model.spec.term_names)
        if method == "wald":
            z = scipy_stats().norm.ppf(0.5 + level / 2)
            b, se = np.array(self.core.beta), np.array(self.core.beta_se)
            lo = np.concatenate([np.full(len(var_names), np.nan), b - z * se])
            hi = np.concatenate([np.full(len(var_names), np.nan), b + z * se])
            names = var_names + list(self.core.x_names)
        elif method == "profile":
            ml = self if not self.reml else self.refit_ml()
            names, ci = profile_intervals(ml.model._objective, np.array(ml.core.theta), ml.sigma,
                                          np.array(ml.core.beta), np.array(ml.core.beta_se),
                                          ml.model.spec.terms, ml.model.spec.term_names, ml.core.x_names, level,
                                          steps=rep.steps)
            lo, hi = ci[:, 0], ci[:, 1]
        elif method == "boot":
            from ..spec.covariance import sdcor_from_theta
            from .inference import percentile_interval
            boot = self.bootstrap(nsim, seed, progress=rep)
            terms, k = self.model.spec.terms, len(self.core.theta)
            par = np.array([np.concatenate([sdcor_from_theta(terms, row[2:2 + k], row[1]), row[2 + k:-1]])
                            for row in boot.to_numpy(dtype=float)])
            lo, hi = percentile_interval(par, level)
            names = var_names + list(self.core.x_names)
        else:
            raise FastmmeError(f"method must be 'wald', 'profile' or 'boot'; got {method!r}")
        return pd.DataFrame({lo_name: lo, hi_name: hi}, index=names)

    def refit_ml(self) -> "MixedFit":
        """The same model fitted by maximum likelihood (what anova and profiles use)."""
        d = self.design
        model = type(self.model).of_design(d, reml=False)
        return MixedFit(core=model.fit(), design=d, model=model, formula=self.formula, data_name=self.data_name)

    def anova(self, *others, names=None, type: int | str = 3, ddf: str = "Satterthwaite") -> pd.DataFrame:
        """With other fits: likelihood-ratio tests against them (see fastmme.anova).  Alone: lmerTest's
        anova(fit) — an F-test of each fixed-effect term, type=3 (Type III, lmerTest's default: each
        term adjusted for all others, the contrasts orthogonal to the terms that contain it) or type=1
        (sequential), with Satterthwaite's denominator df (fastmme.results.ftests)."""
        if others:
            return anova(self, *others, names=names)
        return self._f_tests(type, ddf)

    def drop1(self, ddf: str = "Satterthwaite") -> pd.DataFrame:
        """lmerTest's drop1(fit): an F-test (Satterthwaite's df) of each marginal fixed-effect term (one no
        other term contains), H₀: its coefficients are 0."""
        from ..formula.cells import term_labels
        from .ftests import type1_contrasts
        _check_ddf(ddf)
        if self.core.dropped:
            raise FastmmeError(f"drop1 of a model with aliased columns ({', '.join(self.core.dropped)}) is not "
                               "available: remove the aliased terms (or use anova(fit), Type III)")
        self._check_f_tests()
        cols = self.design.fixed_columns
        labels = term_labels(cols)
        terms = [set(t) for t in cols.rhs.terms]
        marginal = [lab for lab, t in zip(labels, terms) if not any(t < o for o in terms)]
        X, assign = self._x_used
        if X.shape[1] <= 1 or len(labels) <= 1:
            Ls = type1_contrasts(X, assign, labels)
        else:
            Ls = {lab: np.eye(X.shape[1])[assign == j + 1] for j, lab in enumerate(labels)}
        heading = "\n".join([f"Single term deletions using {ddf}'s method:", "", "Model:", self.formula])
        return self._f_table({lab: Ls[lab] for lab in marginal}, heading, ddf)

    def _check_f_tests(self) -> None:
        if self.partitioned:
            raise FastmmeError("F-tests of the terms need the rows in memory; this fit was assembled from partitioned "
                               "data (compare nested models with fastmme.anova(m0, m1) instead)")
        if self.design.sparse_fixed:
            raise FastmmeError("F-tests of the terms need every fixed factor in X: refit with sparse_fixed=False")

    def _f_table(self, Ls: dict, heading: str, ddf: str = "Satterthwaite") -> pd.DataFrame:
        from .anova_table import AnovaTable
        from .ftests import f_test
        beta, cov = np.array(self.core.beta), np.array(self.core.beta_cov)
        if ddf == "Kenward-Roger":
            rows = [self._kr_row(L, beta) for L in Ls.values()]
        else:
            rows = [f_test(L, beta, cov, self.sigma, self.satterthwaite) for L in Ls.values()]
        table = AnovaTable(pd.DataFrame(rows, columns=["Sum Sq", "Mean Sq", "NumDF", "DenDF", "F value"],
                                        index=list(Ls), dtype=float))
        table["Pr(>F)"] = scipy_stats().f.sf(table["F value"], table["NumDF"], table["DenDF"])
        table.heading = heading
        table.hypotheses = dict(Ls)
        return table

    def _kr_row(self, L, beta) -> tuple:
        """lmerTest's mk_Ftable of pbkrtest's KRmodcomp: Sum Sq and Mean Sq from the unscaled F, the F
        value scaled."""
        if L.shape[0] == 0:
            return (np.nan,) * 5
        q, ddf, F, _, F_u = self._kenward_roger.f_test(L, beta)
        ms = F_u * self.sigma ** 2
        return ms * q, ms, float(q), ddf, F

    def ranova(self) -> pd.DataFrame:
        """lmerTest's ranova(fit): a likelihood-ratio test of each random-effect term, deleted (an
        intercept-only term) or reduced by one term of its left side ((1 + x | g) → (1 | g)), each
        reduced model refitted to the same rows with the fit's criterion (fastmme.results.ranova)."""
        from .ranova import ranova
        return ranova(self)

    def _f_tests(self, type, ddf) -> pd.DataFrame:
        from ..formula.cells import cell_design, containment, term_labels
        from .ftests import type1_contrasts, type3_contrasts
        kinds = {3: 3, "3": 3, "III": 3, 1: 1, "1": 1, "I": 1}
        if isinstance(type, bool) or type not in kinds:
            raise FastmmeError(f"type must be 3 (Type III, lmerTest's default) or 1 (sequential); got {type!r} "
                               "(Type II is not available)")
        _check_ddf(ddf)
        self._check_f_tests()
        cols = self.design.fixed_columns
        labels = term_labels(cols)
        X, assign = self._x_used
        x_names = list(self.core.x_names)
        kind = kinds[type]
        if kind == 1 or X.shape[1] <= 1 or len(labels) <= 1:      # lmerTest: one term, Type I's contrasts
            Ls = type1_contrasts(X, assign, labels)
        else:
            orders = [len(t) for t in cols.rhs.terms]
            cells = cell_design(cols, self.design.kept_frame())
            Ls = type3_contrasts(X, assign, cells, containment(cols), labels, orders, x_names)
        heading = f"Type {'III' if kind == 3 else 'I'} Analysis of Variance Table with {ddf}'s method"
        return self._f_table({lab: Ls[lab] for lab in labels}, heading, ddf)

    # ---- simulation and the parametric bootstrap ---------------------------------------------------
    def simulate(self, nsim: int = 1, seed=None, use_u: bool = False) -> pd.DataFrame:
        """Responses simulated from the fitted model, as lme4's simulate() of an lmer fit: columns sim_1 …
        sim_nsim, one row per observation used (the fit's row labels).  y* = offset + Xβ̂ + Zb + ε,
        ε ~ N(0, σ̂² W⁻¹); use_u=False (lme4's default) draws new b ~ N(0, Σ̂) for every simulation
        (through the relative factors T: a singular Σ̂ works; Σ̂ ⊗ K for a term with a relationship
        matrix K), use_u=True keeps the conditional modes b̂.  seed: as numpy.random.default_rng's.  fastmme.simulate(fit, …) is the same
        (simulated breeding data sets come from fastmme.breeding_data)."""
        if isinstance(nsim, bool) or not isinstance(nsim, (int, np.integer)) or nsim < 1:
            raise FastmmeError(f"nsim must be a positive integer; got {nsim!r}")
        if self.partitioned:
            raise FastmmeError("simulate needs the rows in memory; this fit was assembled from partitioned data")
        from ..linalg.kernels.matvec import add_levels, add_z_times
        from ..spec.covariance import RelativeFactor
        rng = np.random.default_rng(seed)
        terms = self.model.spec.terms
        core = self.core
        fixed = np.array(core.fitted, dtype=float)          # offset + Xβ̂ + Zb̂, less Zb̂ below
        for t, b in zip(terms, core.blups):
            (add_levels(t.codes, -np.asarray(b), fixed) if t.z is None
             else add_z_times(t.codes, t.z, -np.ascontiguousarray(b), fixed))
        Ts = RelativeFactor(terms).blocks(np.array(core.theta))
        w = self.design.weights
        scale = self.sigma / (np.sqrt(w) if w is not None else 1.0)
        out = np.empty((fixed.shape[0], int(nsim)))
        for s in range(int(nsim)):
            y = fixed + scale * rng.standard_normal(fixed.shape[0])
            for t, T, b in zip(terms, Ts, core.blups):
                bk = np.ascontiguousarray(b) if use_u else self.sigma * _spherical(t, rng) @ T.T
                (add_levels(t.codes, bk, y) if t.z is None else add_z_times(t.codes, t.z, np.ascontiguousarray(bk), y))
            out[:, s] = y
        return pd.DataFrame(out, columns=[f"sim_{i + 1}" for i in range(int(nsim))], index=self.design.kept_index)

    def bootstrap(self, nsim: int = 100, seed=None, use_u: bool = False, progress=None) -> pd.DataFrame:
        """The parametric bootstrap (lme4's bootMer, MixedModels.jl's parametricbootstrap): the model
        refitted to each of `simulate(nsim, seed, use_u)`'s responses, from θ̂.  One row per replicate:
        the criterion, σ, θ (lme4's names) and β; quantiles of a column are percentile intervals
        (lme4's confint(method = "boot")).  Each refit keeps the fit's design (X, Z, weights, offset):
        one model of its own serves every replicate (Model._set_response), so a replicate re-sums only ZᵀWy, XᵀWy
        and yᵀWy and keeps the pattern, the other blocks and the evaluator's analysis.
        progress: True, False, None (a bar when interactive) or a fastmme.progress.Progress."""
        import dataclasses
        from ..progress import Progress
        sims = self.simulate(nsim, seed, use_u)
        rows = []
        rep = Progress.of(progress)
        work = None             # one model for every refit: a new response re-sums only ZᵀWy, XᵀWy, yᵀWy
        for i in rep.steps("bootstrap", sims.shape[1]):
            y = np.ascontiguousarray(sims[sims.columns[i]].to_numpy())
            if work is None:
                work = type(self.model).of_design(dataclasses.replace(self.design, y=y), reml=self.reml)
            else:
                work._set_response(y)
            r = work.fit(start=np.array(self.core.theta))
            rows.append([r.deviance, r.sigma, *np.asarray(r.theta), *np.asarray(r.beta), bool(r.converged)])
        cols = ["criterion", "sigma", *self.core.theta_names, *self.core.x_names, "converged"]
        return pd.DataFrame(rows, columns=cols)

    # ---- prediction --------------------------------------------------------------------------
    def predict(self, newdata=None, re: bool = True, new_levels: str = "error") -> pd.Series:
        """Predictions for new data: offset + x'β̂ (+ z'b̂ with re=True; lme4's re.form = NA is re=False),
        a Series indexed like newdata (like the fit's rows when newdata is None; a Dask series for a
        Dask frame).

        A level of a grouping factor not seen in the fit raises (new_levels="error", lme4's default
        allow.new.levels = FALSE) or gets the population prediction, offset + x'β̂
        (new_levels="population", allow.new.levels = TRUE).  A level of a fixed factor not seen in the
        fit always raises: a fixed effect has no estimate for it.  Transforms in the formula (scale,
        poly) use the fit's centre, scale and polynomial coefficients, as R's predict does.  A row with a
        missing value in a column the prediction uses is predicted as NaN."""
        from .predict import check_new_levels
        check_new_levels(new_levels)
        if newdata is None and self.partitioned:
            newdata = self.design.frame
        if newdata is None:
            if re:
                pred = np.array(self.core.fitted)
            else:
                pred = self.design.X[:, self.core._kept_columns] @ np.array(self.core.beta) + \
                    self._sparse_fixed_part(self.design.sparse_fixed or {})
                if self.design.offset is not None:
                    pred = pred + self.design.offset
            return pd.Series(pred, index=self.design.kept_index, name="predict")
        if type(newdata).__module__.startswith("dask"):         # partition by partition, BLUPs broadcast
            from .predict import predict_partition
            return newdata.map_partitions(predict_partition, self._predictor, re, new_levels,
                                          meta=("predict", "f8"))
        df = to_pandas(newdata)
        return pd.Series(self._predictor(df, re, new_levels), index=df.index, name="predict")

    @functools.cached_property
    def _predictor(self):
        from .predict import Predictor
        c = self.core
        return Predictor(formula=self.formula, parsed=self.design.parsed, fixed=self.design.fixed_columns,
                         random=self.design.random_columns, kept_columns=np.asarray(c._kept_columns),
                         beta=np.array(c.beta), levels=tuple(np.asarray(v) for v in c.levels),
                         blups=tuple(np.asarray(b) for b in c.blups), sparse_fixed=c.sparse_fixed,
                         categories=self.design.plan.categories if self.partitioned else None)

    def _sparse_fixed_part(self, columns: dict) -> np.ndarray:
        return self._predictor.sparse_fixed_part(columns)

    def fixed_levels(self, name: str | None = None) -> pd.DataFrame:
        """Estimates of a sparse fixed factor's levels (FitResult.fixed_levels)."""
        return self.core.fixed_levels(name)

    # ---- output ------------------------------------------------------------------------------
    def summary(self, ddf: str = "Satterthwaite", progress=None) -> str:
        """lmerTest's summary (progress: as lmm's, for the df): t-tests with Satterthwaite's df, ddf="Kenward-Roger": Kenward–Roger's standard
        errors and df (pbkrtest's, a REML fit), or ddf="lme4": lme4's t values only (no
        df, no p-values; it skips the df's numerical derivatives, which on a large fit can take longer
        than the fit)."""
        from ..progress import Progress
        from .summary import summary_text
        rep = Progress.of(progress)
        try:
            with rep.phase(f"{ddf}'s df for the t-tests" if ddf != "lme4" else "the summary"):
                return summary_text(self, ddf)
        finally:
            rep.close()

    def __repr__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        from .summary import summary_html
        return summary_html(self)

    def to_dict(self) -> dict:
        """Plain JSON-serialisable dict of the fit (for programs that use fastmme as a backend)."""
        def clean(v):
            return None if v is None or (isinstance(v, float) and math.isnan(v)) else v
        ct = self.coef_table
        return {
            "formula": self.formula, "reml": self.reml, "nobs": self.nobs, "n_dropped": self.n_dropped,
            "loglik": self.loglik, "aic": self.aic, "bic": self.bic, "deviance": self.deviance,
            "sigma": self.sigma, "converged": self.converged, "singular": self.singular,
            "n_evals": self.core.n_evals, "optimizer_message": self.core.optimizer_message,
            "optimizer": self.core.optimizer, "certificate": self.core.certificate,
            "fallbacks": list(self.core.fallbacks),
            "theta": {k: float(v) for k, v in self.theta.items()},
            "fixef": {k: float(v) for k, v in self.fixef.items()},
            "vcov": {"names": list(self.vcov.index), "values": self.vcov.to_numpy().tolist()},
            "coef_table": [{"term": i, **{c: clean(float(ct.loc[i, c])) for c in ct.columns}} for i in ct.index],
            "varcorr": [{k: (clean(float(v)) if isinstance(v, (float, np.floating)) else v) for k, v in r.items()}
                        for r in self.varcorr.to_dict(orient="records")],
            "ngroups": self.ngroups,
            "ranef": {g: {"levels": [str(x) for x in df.index], "columns": list(df.columns),
                          "values": df.to_numpy().tolist(), "cond_var": df.attrs["cond_var"].tolist()}
                      for g, df in self.ranef.items()},
            "dropped_columns": list(self.core.dropped),
        }


def _check_ddf(ddf) -> None:
    if ddf not in ("Satterthwaite", "Kenward-Roger"):
        raise FastmmeError(f"ddf must be 'Satterthwaite' or 'Kenward-Roger'; got {ddf!r}")


def _spherical(term, rng) -> np.ndarray:
    """(J × r) draws whose rows are the levels' effects before T: independent N(0, 1), or, for a term
    with a relationship matrix K, columns ~ N(0, K)."""
    z = rng.standard_normal((term.n_levels, term.r))
    return z if term.known is None else term.known.draw(z)


def anova(*fits, names=None, type: int | str = 3, ddf: str = "Satterthwaite") -> pd.DataFrame:
    """Likelihood-ratio tests of nested models fitted to the same data (lme4's anova): REML fits are
    refitted by ML first, and the table says so; models are ordered by their number of parameters.
    names: a label per model, in the order given (default "m1", "m2", … in that order; lme4 uses the
    arguments' names, which a Python function cannot see); the table's rows are these labels and
    `table.formulas` maps them to the formulas.  Printed, the table reads as lme4's.  GLMMs (fastmme.glmm) are
    compared with GLMMs of the same family, link and data (their −2 log L is the nAGQ = 0, Laplace or
    quadrature objective, with the saturated model's constant at every nAGQ: compare fits of the same nAGQ).
    One lmm fit: lmerTest's F-tests of its fixed-effect terms (MixedFit.anova; type=3 or 1)."""
    if len(fits) == 1 and isinstance(fits[0], MixedFit):
        return fits[0].anova(type=type, ddf=ddf)
    if len(fits) < 2:
        raise FastmmeError("anova of a single fit gives F-tests for lmm fits only; to compare models, pass "
                           "at least two fitted models")
    labels = [f"m{i + 1}" for i in range(len(fits))] if names is None else [str(n) for n in names]
    if len(labels) != len(fits) or len(set(labels)) != len(labels):
        raise FastmmeError(f"names must give one distinct label per model ({len(fits)}); got {names!r}")
    glmms = [hasattr(f, "family") and hasattr(f, "nAGQ") for f in fits]
    if any(glmms):
        if not all(glmms):
            raise FastmmeError("anova compares linear mixed models with linear mixed models and GLMMs with GLMMs")
        ml = _same_glmm_data(fits)
        refitted = []
    else:
        for f in fits:
            if not isinstance(f, MixedFit):
                raise FastmmeError(f"anova compares fastmme.lmm fits; got {type(f).__name__}")
        refitted = [lb for lb, f in zip(labels, fits) if f.reml]
        ml = [f.refit_ml() if f.reml else f for f in fits]
        ys = [f.design.y for f in ml]
        if len({len(y) for y in ys}) > 1 or any(not np.array_equal(ys[0], y) for y in ys[1:]):
            raise FastmmeError("the models were fitted to different data (responses or rows differ); "
                               "anova compares models of the same observations")
    npar = np.array([f.core.n_params for f in ml])
    order = np.argsort(npar, kind="stable")
    ml = [ml[i] for i in order]
    labels = [labels[i] for i in order]
    npar = npar[order]
    ll = np.array([f.loglik for f in ml])
    chisq = np.concatenate([[np.nan], 2 * np.maximum(0, np.diff(ll))])
    df = np.concatenate([[np.nan], np.diff(npar)]).astype(float)
    with np.errstate(invalid="ignore"):
        p = np.where(df > 0, scipy_stats().chi2.sf(chisq, np.where(df > 0, df, 1)), np.nan)
    p[0] = np.nan
    table = AnovaTable({"npar": npar, "AIC": [f.aic for f in ml], "BIC": [f.bic for f in ml], "logLik": ll,
                        "deviance": -2 * ll, "Chisq": chisq, "Df": df, "Pr(>Chisq)": p},
                       index=pd.Index(labels, name="model"))
    table.formulas = {lb: f.formula for lb, f in zip(labels, ml)}
    table.refitted = tuple(lb for lb in labels if lb in set(refitted))
    return table


def _same_glmm_data(fits) -> list:
    """The GLMMs, after checking that they share the family, the link, nAGQ and the data."""
    first = fits[0]
    for f in fits[1:]:
        if (f.family, f.link) != (first.family, first.link):
            raise FastmmeError(f"anova compares GLMMs of one family and link; got {first.family} ({first.link}) and "
                               f"{f.family} ({f.link})")
        if f.nAGQ != first.nAGQ:
            raise FastmmeError(f"anova compares GLMMs fitted with the same nAGQ; got {first.nAGQ} and {f.nAGQ}: "
                               "their objectives are different approximations")
        if f.y.shape != first.y.shape or not np.array_equal(f.y, first.y) or \
                not np.array_equal(f.prior_weights, first.prior_weights):
            raise FastmmeError("the models were fitted to different data (responses, weights or rows differ); "
                               "anova compares models of the same observations")
    return list(fits)
