"""Public array API: validate and orchestrate, no mathematics.

    model = fastmme.Model(y, X, terms, reml=True, weights=None)
    model.deviance(theta)        # the profiled criterion at θ (lme4's devfun)
    result = model.fit()         # an immutable FitResult
    result = fastmme.fit(y, X, terms)
"""
from __future__ import annotations

from .errors import FastmmeError
from .model import Model, blas_threads, design_model, optimize_theta  # noqa: F401  (public here too)
from .optimize import MAXEVAL
from .results import FitResult


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
    "verbose": "verbose= is not supported: pass progress=callable(n_evals, criterion) to follow the optimiser",
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
        maxeval: int = MAXEVAL, progress=None, **lme4_arguments):
    """Fit a linear mixed model given by an lme4 formula, e.g. ``"y ~ x + (1 + x | g)"``.

    The formula is read as R reads it (fastmme.rsyntax): ``I(x^2)``, ``factor(x)``, ``poly(x, 2)``,
    ``scale(x)``, ``log(x)``, ``offset(x)`` and the rest mean what they mean in R.
    data: pandas DataFrame (or polars / pyarrow table, or dict of columns), or a Dask DataFrame: then the
    rows are assembled partition by partition on the cluster and only the cross-product blocks reach
    this process (fastmme.partitioned; fitted values, residuals and predictions are Dask series).  weights: a column name
    or an array of prior weights.  relmat: grouping factor → Pedigree or relationship matrix K
    (Var(b) = Σ ⊗ K, the animal model; as lme4qtl / pedigreemm).  sparse_fixed: names of fixed factors
    with many levels to carry in the sparse factor (None: every categorical main effect with at least
    500 levels; False: none); their estimates are in ``fixed_levels(name)``.  start, maxeval, progress:
    as Model.fit (start may also be lme4's ``{"theta": …}``).  Rows with a missing value in a used
    column are dropped (counted in ``n_dropped``).  lme4's other arguments (REML=, control=, subset=,
    na.action=, contrasts=, offset=, …) raise a FastmmeError that says what to write instead.
    Returns a MixedFit with lme4's accessors, summary, predict, anova and confint.
    """
    from .mixedfit import MixedFit
    _refuse_arguments("lmm", lme4_arguments, "formula, data, reml, weights, relmat, sparse_fixed, start, "
                      "maxeval, progress")
    d, model = _formula_model(formula, data, reml, weights, relmat, sparse_fixed)
    core = model.fit(start=_lme4_start(start), maxeval=maxeval, progress=progress)
    return MixedFit(core=core, design=d, model=model, formula=formula)


def blup(formula: str, data, variances, residual: float, weights=None, relmat=None, sparse_fixed=None,
         **lme4_arguments):
    """BLUEs and BLUPs with given variance components (no estimation): ``Model.solve`` from a formula.

    variances: grouping factor → variance (or covariance matrix) in the formula's term order, or a
    list with one entry per term; residual: σ²."""
    from .mixedfit import MixedFit
    _refuse_arguments("blup", lme4_arguments, "formula, data, variances, residual, weights, relmat, sparse_fixed "
                      "(the variances are given, so there is no reml)")
    d, model = _formula_model(formula, data, True, weights, relmat, sparse_fixed)
    if isinstance(variances, dict):
        names = [t.group for t in d.parsed.random]
        missing = [g for g in names if g not in variances]
        if missing or len(variances) != len(names):
            raise FastmmeError(f"variances must give one entry per random term ({', '.join(names)})")
        variances = [variances[g] for g in names]
    return MixedFit(core=model.solve(variances, residual), design=d, model=model, formula=formula)


def _formula_model(formula, data, reml, weights, relmat, sparse_fixed=None):
    from .frame import build_design
    from .partitioned import is_dask
    if is_dask(data):            # a Dask DataFrame: assembled on the cluster (fastmme.partitioned)
        from .partitioned import build_design as build_partitioned
        d = build_partitioned(formula, data, weights=weights, relmat=relmat, sparse_fixed=sparse_fixed)
    else:
        d = build_design(formula, data, weights=weights, relmat=relmat, sparse_fixed=sparse_fixed)
    return d, design_model(d, reml)


def fit(y, X, terms, reml=True, weights=None, x_names=None, offset=None, **fit_options) -> FitResult:
    """One call: ``Model(y, X, terms, reml, weights, offset=offset).fit()``."""
    return Model(y, X, terms, reml=reml, weights=weights, x_names=x_names, offset=offset).fit(**fit_options)
