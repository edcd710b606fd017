"""The wiring: the only module where the stages meet (no mathematics).  lmm / blup read a formula and
a table (fastmme.formula), Model validates the arrays (fastmme.spec), assembles once and chooses the
evaluator (fastmme.evaluate), optimises θ (fastmme.optimize) and builds the result (fastmme.results).

    model = fastmme.Model(y, X, terms, reml=True, weights=None)
    model.deviance(theta)        # the profiled criterion at θ (lme4's devfun)
    result = model.fit()         # an immutable FitResult
    result = fastmme.fit(y, X, terms)
"""
from __future__ import annotations

import dataclasses
import inspect
import os
import sys
from typing import TYPE_CHECKING

import numpy as np

from .errors import FastmmeError
from .evaluate.objective import ProfiledDeviance
from .optimize.driver import blas_threads, optimize_theta  # noqa: F401  (public here too)
from .optimize.minimize import MAXEVAL, OptSummary
from .optimize.threads import lmm_kernel_threads
from .progress import Progress
from .results.fit import FitResult, build_result
from .spec.model_spec import _vector, make_spec, working_response
from .spec.terms import theta_lower, theta_start

if TYPE_CHECKING:
    from .results.glmm_fit import GlmmFit
    from .results.mixedfit import MixedFit


# lme4 arguments that fastmme spells differently or does not have: argument → what to write instead
LME4_ARGUMENTS = {
    "REML": "REML= is lme4's spelling; write reml=False for maximum likelihood (reml=True is the default)",
    "control": "control= (lmerControl) is not supported: fastmme chooses its optimiser itself; maxeval= sets the "
               "evaluation budget and start= the starting θ",
    "na.action": "na.action= is not supported: rows with a missing value in a column the model uses are always "
                 "dropped (lme4's default na.omit) and counted in fit.n_dropped; for another rule prepare the data first",
    "subset": "subset= is not supported: select the rows first, e.g. lmm(formula, data[data.x > 0])",
    "contrasts": "contrasts= is not supported: factors use treatment contrasts (R's default contr.treatment); "
                 "recode the column yourself for other contrasts",
    "offset": "offset= is not supported: write offset(x) in the formula (several offset() terms add up)",
    "verbose": "verbose= is not supported: pass progress=True (a live display) or progress=callable(n_evals, "
               "criterion) to follow the optimiser",
    "devFunOnly": "devFunOnly= is not supported: fastmme.Model(y, X, terms).deviance(theta) is lme4's devfun",
    "family": "family= is not supported: fastmme.lmm fits linear mixed models (Gaussian response) only",
    "nAGQ": "nAGQ= is not supported: fastmme.lmm fits linear mixed models (Gaussian response) only",
}
LME4_ARGUMENTS["na_action"] = LME4_ARGUMENTS["na.action"]


def _refuse_arguments(function: str, given: dict, takes: str) -> None:
    """A FastmmeError for keyword arguments `function` does not take, naming the Python spelling."""
    for name in given:
        if name in LME4_ARGUMENTS:
            raise FastmmeError(f"fastmme.{function}(): {LME4_ARGUMENTS[name]}")
        close = [k for k in LME4_ARGUMENTS if k.lower() == str(name).lower()]
        raise FastmmeError(f"fastmme.{function}() got an unexpected argument {name!r}; it takes {takes}"
                           + (f" ({LME4_ARGUMENTS[close[0]]})" if close else ""))


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def data_name(data, frame) -> str | None:
    """What lme4's summary prints after "Data:" (R deparses the data argument): the name the caller's
    frame binds to this very object (a caller outside fastmme), else the name a frame carries in
    ``data.attrs["name"]`` (the CLI's file name), else None: no Data: line (an expression such as
    ``d[d.x > 0]`` has no name; pandas would carry a name in attrs over to it, so fastmme sets none there)."""
    try:
        where = os.path.dirname(os.path.abspath(frame.f_code.co_filename))
        inside = where == _PACKAGE_DIR or where.startswith(_PACKAGE_DIR + os.sep)
        if not inside:               # (fastmme's own callers, the CLI even when run as __main__, pass names as attrs)
            names = frame.f_locals
            try:
                for name, value in names.items():
                    if value is data and name.isidentifier() and not name.startswith("_"):
                        return name
            finally:
                # a function's f_locals is a snapshot the frame keeps (Python < 3.13): emptied, it holds
                # none of the caller's objects past their own lifetime (it is refilled when next read);
                # a module's or class body's is their namespace itself, and is left alone
                if frame.f_code.co_flags & inspect.CO_OPTIMIZED and names is not frame.f_globals:
                    names.clear()
    finally:
        del frame
    attrs = getattr(data, "attrs", None)
    name = attrs.get("name") if isinstance(attrs, dict) else None
    return str(name) if name else None


def _lme4_start(start):
    """lme4's start = list(theta = …) as a dict {"theta": …}; a θ vector or "lme4" as they are."""
    if isinstance(start, dict):
        other = [k for k in start if k != "theta"]
        if other or "theta" not in start:
            raise FastmmeError(f"start= takes θ only (a vector, or {{'theta': vector}} as lme4's list(theta = …)); "
                               f"got the key(s) {', '.join(map(repr, other or start))}")
        return start["theta"]
    return start


def lmm(formula: str, data, reml: bool = True, weights=None, relmat=None, sparse_fixed=None, start=None,
        maxeval: int = MAXEVAL, progress=None, **lme4_arguments) -> MixedFit:
    """Fit a linear mixed model given by an lme4 formula, e.g. ``"y ~ x + (1 + x | g)"``.

    The formula is read as R reads it (fastmme.formula.rsyntax): ``I(x^2)``, ``factor(x)``, ``poly(x, 2)``,
    ``scale(x)``, ``log(x)``, ``offset(x)`` and the rest mean what they mean in R.
    data: pandas DataFrame (or polars / pyarrow table, or dict of columns), or a Dask DataFrame: then the
    rows are assembled partition by partition on the cluster and only the cross-product blocks reach
    this process (fastmme.distributed.partitioned; fitted values, residuals and predictions are Dask series).  weights: a column name
    or an array of prior weights.  relmat: grouping factor → Pedigree or relationship matrix K
    (Var(b) = Σ ⊗ K, the animal model; as lme4qtl / pedigreemm).  sparse_fixed: names of fixed factors
    with many levels to carry in the sparse factor (None: every categorical main effect with at least
    500 levels; False: none); their estimates are in ``fixed_levels(name)``.  start, maxeval: as Model.fit
    (start may also be lme4's ``{"theta": …}``).  progress: True (each phase and the evaluations on
    stderr, a widget in a notebook), None (the default: the evaluations, when interactive and the fit
    takes more than half a second), False, or a callable(n_evals, criterion) (fastmme.progress).  Rows with a missing value in a used
    column are dropped (counted in ``n_dropped``).  lme4's other arguments (REML=, control=, subset=,
    na.action=, contrasts=, offset=, …) raise a FastmmeError that says what to write instead.
    Returns a MixedFit with lme4's accessors, summary, predict, anova and confint.
    """
    from .results.mixedfit import MixedFit
    _refuse_arguments("lmm", lme4_arguments, "formula, data, reml, weights, relmat, sparse_fixed, start, "
                      "maxeval, progress")
    rep = Progress.of(progress)
    try:
        with rep.phase("building the model matrices"):
            d, model = _formula_model(formula, data, reml, weights, relmat, sparse_fixed)
        core = model.fit(start=_lme4_start(start), maxeval=maxeval, progress=rep)
    finally:
        rep.close()
    return MixedFit(core=core, design=d, model=model, formula=formula, data_name=data_name(data, sys._getframe(1)))


def blup(formula: str, data, variances, residual: float, weights=None, relmat=None, sparse_fixed=None,
         **lme4_arguments) -> MixedFit:
    """BLUEs and BLUPs with given variance components (no estimation): ``Model.solve`` from a formula.

    variances: grouping factor → variance (or covariance matrix) in the formula's term order, or a
    list with one entry per term; residual: σ²."""
    from .results.mixedfit import MixedFit
    _refuse_arguments("blup", lme4_arguments, "formula, data, variances, residual, weights, relmat, sparse_fixed "
                      "(the variances are given, so there is no reml)")
    d, model = _formula_model(formula, data, True, weights, relmat, sparse_fixed)
    if isinstance(variances, dict):
        names = [t.group for t in d.parsed.random]
        missing = [g for g in names if g not in variances]
        if missing or len(variances) != len(names):
            raise FastmmeError(f"variances must give one entry per random term ({', '.join(names)})")
        variances = [variances[g] for g in names]
    return MixedFit(core=model.solve(variances, residual), design=d, model=model, formula=formula,
                    data_name=data_name(data, sys._getframe(1)))


def glmm(formula: str, data, family="binomial", link=None, weights=None, nAGQ: int = 1, start=None,
         maxeval: int = MAXEVAL, progress=None, **lme4_arguments) -> GlmmFit:
    """Fit a generalized linear mixed model (lme4's glmer): binomial (links logit, probit, cloglog) or
    Poisson (log) responses, by PIRLS and the Laplace approximation (nAGQ=1), by adaptive Gauss–Hermite
    quadrature with nAGQ nodes per level (nAGQ=2 to 100; one scalar random-effect term such as (1 | g), as
    in lme4), or with β inside PIRLS and only θ optimised (nAGQ=0, lme4's fast mode and the start of the
    Laplace fit).  loglik is log L at every nAGQ; lme4's logLik at nAGQ > 1 leaves out the saturated
    model's log-likelihood (a constant, 0 for a binary response): docs/glmm.md.

    Responses as in lme4: 0/1, logical or a two-level factor; a proportion with weights= the numbers
    of trials; cbind(successes, failures); counts for the Poisson.  offset(x) terms in the formula
    enter the linear predictor.  Other families and Dask input are not available yet and are refused.  Returns a GlmmFit (fixef, vcov, coef_table with
    z-tests, ranef, varcorr, predict(type="link" | "response"), summary)."""
    from .distributed.partitioned import is_dask
    from .evaluate.laplace import check_agq, check_nagq, glmm_objective
    from .formula.frame import build_design, to_pandas
    from .formula.glm_response import glm_response
    from .optimize.glmm import kernel_threads, optimize_glmm
    from .results.glmm_fit import build_glmm_fit
    from .spec.family import family as make_family
    _refuse_arguments("glmm", lme4_arguments, "formula, data, family, link, weights, nAGQ, start, maxeval, progress")
    fam = make_family(family, link)
    nAGQ = check_nagq(nAGQ)
    if is_dask(data):
        raise FastmmeError("fastmme.glmm does not take Dask input yet (each PIRLS iteration would be a pass over "
                           "the partitions): compute the frame first, e.g. glmm(formula, ddf.compute(), ...)")
    formula2, df, w = glm_response(formula, to_pandas(data), weights, fam)
    d = build_design(formula2, df, weights=w, sparse_fixed=False)
    check_agq(d.terms, nAGQ)
    obj = glmm_objective(d, fam)
    kept = np.array([list(d.x_names).index(nm) for nm in obj.spec.x_names], dtype=np.int64)
    rep = Progress.of(progress)
    try:
        with blas_threads(obj.joint), kernel_threads(obj):
            opt = optimize_glmm(obj, nAGQ=int(nAGQ), start=start, maxeval=maxeval, progress=rep)
            return build_glmm_fit(obj, opt, d, formula, formula2, int(nAGQ), kept,
                                  data_name=data_name(data, sys._getframe(1)))
    finally:
        rep.close()


def _formula_model(formula, data, reml, weights, relmat, sparse_fixed=None):
    from .formula.frame import build_design
    from .distributed.partitioned import is_dask
    if is_dask(data):            # a Dask DataFrame: assembled on the cluster (fastmme.distributed.partitioned)
        from .distributed.partitioned import build_design as build_partitioned
        d = build_partitioned(formula, data, weights=weights, relmat=relmat, sparse_fixed=sparse_fixed)
    else:
        d = build_design(formula, data, weights=weights, relmat=relmat, sparse_fixed=sparse_fixed)
    return d, design_model(d, reml)


def fit(y, X, terms, reml=True, weights=None, x_names=None, offset=None, **fit_options) -> FitResult:
    """One call: ``Model(y, X, terms, reml, weights, offset=offset).fit()``."""
    return Model(y, X, terms, reml=reml, weights=weights, x_names=x_names, offset=offset).fit(**fit_options)


class Model:
    """A linear mixed model y = Xβ + Σ_k Z_k b_k + ε, ε ~ N(0, σ² W⁻¹), assembled once.

    Parameters
    ----------
    y : (n,) response.  X : (n, p) fixed-effect model matrix (array or DataFrame).
    terms : a fastmme.Term or a sequence of them.  reml : REML (default) or ML.
    weights : (n,) positive prior weights W (None: all 1).  x_names : names of the columns of X.
    sparse_fixed : {name: labels (n,)} fixed factors with many levels (contemporary groups) carried in
        the sparse factor, not as columns of X (fastmme.spec.sparse_fixed; estimates in fixed_levels()).
    offset : (n,) a known part of the linear predictor (lme4's offset): y − offset = Xβ + Zb + ε is
        fitted, and the fitted values include it.
    """

    def __init__(self, y, X, terms, reml=True, weights=None, x_names=None, sparse_fixed=None, offset=None,
                 _owned=False):
        self.spec = make_spec(y, X, terms, reml=reml, weights=weights, x_names=x_names, copy=not _owned,
                              sparse_fixed=sparse_fixed, offset=offset)
        original = list(x_names) if x_names is not None else (
            [str(c) for c in X.columns] if hasattr(X, "columns") else None)
        ncol = 1 if np.ndim(X) == 1 else np.shape(X)[1]
        names = original or [f"x{i}" for i in range(ncol)]
        self._kept_columns = np.array([names.index(nm) for nm in self.spec.x_names], dtype=np.int64)
        self._objective = ProfiledDeviance(self.spec)

    @classmethod
    def from_blocks(cls, spec, blocks, pattern, kept_columns) -> "Model":
        """A model from summed cross-product blocks (partitioned data: fastmme.distributed.partitioned); `spec` is
        row-free (ModelSpec.n_rows) and `kept_columns` indexes the fixed columns kept."""
        self = cls.__new__(cls)
        self.spec = spec
        self._kept_columns = np.asarray(kept_columns, dtype=np.int64)
        self._objective = ProfiledDeviance(spec, blocks=blocks, pattern=pattern)
        return self

    @classmethod
    def of_design(cls, d, reml: bool) -> "Model":
        """The Model of a formula Design (fastmme.formula.frame) or of a PartitionedDesign's summed blocks
        (what MixedFit refits through)."""
        if getattr(d, "partitioned", False):
            return cls.from_blocks(d.spec(reml), d.blocks, d.pattern, d.kept)
        return cls(d.y, d.X, d.terms, reml=reml, weights=d.weights, x_names=d.x_names,
                   sparse_fixed=d.sparse_fixed or None, offset=d.offset, _owned=True)

    @property
    def theta_lower(self) -> np.ndarray:
        return theta_lower(self.spec.terms)

    @property
    def theta_start(self) -> np.ndarray:
        return theta_start(self.spec.terms)

    @property
    def theta_names(self) -> list:
        out = []
        for k, t in enumerate(self.spec.terms):   # lme4 names θ by the grouping factor
            out += t.theta_names(t.name or f"g{k + 1}")
        return out

    def deviance(self, theta) -> float:
        """The profiled criterion at θ: the REML criterion or −2 log-likelihood, as lme4 defines them."""
        return self._objective.deviance(theta)

    def fit(self, start=None, maxeval: int = MAXEVAL, progress=None) -> FitResult:
        """Optimise θ (L-BFGS-B with the analytic gradient, or BOBYQA; see optimize_theta) and return the
        fitted model.  The model itself is not changed.

        start: None (starting values from single-term fits, falling back to T = I in the units of
        fastmme.optimize.theta_scale, lme4's T = I unless a covariate is badly scaled), "lme4" (lme4's T = I),
        or a θ vector.  progress: optional callable(n_evals, best_criterion), called after
        every evaluation."""
        with blas_threads(self._objective), lmm_kernel_threads(self.spec):
            opt = optimize_theta(self._objective, start=start, maxeval=maxeval, progress=progress)
            return self._finish(build_result(self.spec, self._objective, opt, self._kept_columns))

    def _set_response(self, y) -> None:
        """Make this the model of another response y (the same X, terms, weights and offset): only ZᵀWy,
        XᵀWy and yᵀWy are summed again; the pattern, the other blocks and the evaluator's analysis (the
        Schur layout, CHOLMOD's symbolic factor) are kept.  For a model of its own that refits simulated
        responses (MixedFit.bootstrap): results this model fitted before read its objective (variance
        components, profiles) and so change with it — which is why this is not public."""
        old = self.spec
        if old.row_free:
            raise FastmmeError("this model was assembled from partitioned data: its rows are not here, so "
                               "another response needs a new fit from the data")
        yv = _vector("the new response", y, old.y.shape[0])
        yv.setflags(write=False)
        b0 = working_response(yv, old.X, old.weights, old.offset)[1]
        b0.setflags(write=False)
        spec = dataclasses.replace(old, y=yv, shift=b0)
        self._objective.set_response(spec)
        self.spec = spec

    def _finish(self, result: FitResult) -> FitResult:
        """The result is complete: free the evaluator's workspace (made again if the model is used again)."""
        self._objective.release()
        return result

    def solve(self, variances, residual: float) -> FitResult:
        """BLUEs and BLUPs with given variance components, without estimating them (breeders' routine
        evaluation: Henderson's mixed-model equations at known σ²_a/σ²_e).

        variances: one entry per term, a variance (r_k = 1) or the r_k × r_k covariance matrix Σ_k;
        residual: the residual variance σ².  The result's σ, covariances, Var(β̂), PEVs and reliabilities
        use these values; its log-likelihood is the criterion at them."""
        terms = self.spec.terms
        if np.ndim(variances) == 0:
            variances = [variances]
        if len(variances) != len(terms):
            raise FastmmeError(f"variances has {len(variances)} entries for {len(terms)} random-effects terms; give one "
                               "variance (or covariance matrix) per term, in the order of the terms")
        s2 = float(residual)
        if not (np.isfinite(s2) and s2 > 0):
            raise FastmmeError(f"the residual variance must be positive and finite; got {residual!r} — give σ² > 0")
        th = np.concatenate([t.theta_from_covariance(np.asarray(v, dtype=float) / s2)
                             for t, v in zip(terms, variances)])
        opt = OptSummary(theta=th, fmin=self._objective.unprofiled_deviance(th, np.sqrt(s2)), n_evals=0,
                         converged=True, message="variances given, not estimated", theta_start=th)
        return self._finish(build_result(self.spec, self._objective, opt, self._kept_columns, sigma2=s2))

    def at(self, theta) -> FitResult:
        """The result at a given θ without optimising (BLUEs and BLUPs for known relative variances)."""
        th = self._objective.check_theta(theta)
        opt = OptSummary(theta=th, fmin=self.deviance(th), n_evals=0, converged=True,
                         message="theta given, not optimised", theta_start=th)
        return self._finish(build_result(self.spec, self._objective, opt, self._kept_columns))


def design_model(d, reml: bool) -> Model:
    """The Model of a formula Design (fastmme.formula.frame) or of a PartitionedDesign's summed blocks."""
    return Model.of_design(d, reml)
