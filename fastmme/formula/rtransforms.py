"""R's functions inside a formula, with R's semantics, as formulaic's evaluation context.

fastmme.formula.rsyntax translates an R call such as ``log(x, 2)`` or ``poly(x, 2)`` into a call of the
function registered here under an internal name (``_r_log``, ``_r_poly``), so that a data column
called ``log`` or ``scale`` cannot shadow it and NumPy's different signatures (``np.log(x, out)``)
are never reached.  Stateful transforms (``scale``, ``poly``) keep the state learnt from the fitted
data (R's ``makepredictcall``): new data are centred by the fit's centre and expanded in the fit's
orthogonal polynomials.  ``poly`` is formulaic's (its recurrence equals R's poly to 1e-16, signs
included) behind R's checks; ``scale`` is fastmme's own, because R takes the mean and sd of the
values present (formulaic's would be NaN with a missing value among the rows it learns from).  Tests: tests/test_rsyntax.py, tests/test_formula_r.py.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from formulaic.materializers.types import FactorValues
from formulaic.transforms import C as _formulaic_C, identity as _identity, poly as _formulaic_poly
from formulaic.utils.stateful_transforms import stateful_transform

from ..errors import FastmmeError


class TransformError(FastmmeError):
    """Raised inside a transform; the formula layer re-raises it with the R expression named."""


def _numeric(x, what: str) -> np.ndarray:
    """x as float64: numbers and logicals (as R's as.numeric); text and categories refused."""
    if isinstance(x, FactorValues):
        x = x.__wrapped__
    if isinstance(x, pd.Series) and not (pd.api.types.is_numeric_dtype(x.dtype) or pd.api.types.is_bool_dtype(x.dtype)):
        raise TransformError(f"{what} needs a numeric or logical column; got values of type {x.dtype} — R's as.numeric "
                             "of a factor gives its level codes, rarely what is meant: recode the column yourself")
    a = np.asarray(x)
    if a.dtype.kind not in "biuf":
        raise TransformError(f"{what} needs a numeric or logical column; got values of type {a.dtype}")
    return a.astype(np.float64) if a.ndim else float(a)      # a constant: formulaic repeats it per row


def r_as_numeric(x):
    return _numeric(x, "as.numeric()")


def r_offset(x):
    return _numeric(x, "offset()")


def r_log(x, base=None):
    with np.errstate(divide="ignore", invalid="ignore"):     # NaN/inf are refused, naming the column
        v = np.log(_numeric(x, "log()"))
        return v if base is None else v / np.log(float(base))


def _unary(fn, name):
    def f(x):
        with np.errstate(all="ignore"):                       # NaN/inf are refused, naming the column
            return fn(_numeric(x, f"{name}()"))
    f.__name__ = f"r_{name}"
    return f


def r_factor(x):
    """R's factor(x): a categorical with the sorted unique values as levels (treatment contrasts)."""
    return _formulaic_C(x)


@stateful_transform
def r_scale(x, center=True, scale=True, _state={}):  # noqa: B006  (replaced by the stateful wrapper)
    """R's scale(x, center, scale): subtract the mean of the non-missing values (or `center`), then
    divide by the root mean square of the centred non-missing values with n − 1 (the sd), or `scale`.
    The fit's centre and scale are kept for new data."""
    v = _numeric(x, "scale()")
    if "center" not in _state:
        ok = v[~np.isnan(v)]
        c = float(np.mean(ok)) if center is True else (0.0 if center is False else float(center))
        if scale is True:
            d = ok - c
            s = float(np.sqrt(np.sum(d * d) / max(1, len(d) - 1)))
        else:
            s = 1.0 if scale is False else float(scale)
        _state["center"], _state["scale"] = c, s
    return (v - _state["center"]) / _state["scale"]


@stateful_transform
def r_poly(x, degree=1, raw=False, _state={}):  # noqa: B006
    """R's poly(x, degree, raw): orthonormal polynomials of x by the three-term recurrence (formulaic's
    poly, equal to R's to rounding, signs included), or raw powers x, x², …; the fit's recurrence
    coefficients are kept for new data (R's predict.poly)."""
    v = _numeric(x, "poly()")
    if raw:
        cols = np.stack([v ** k for k in range(1, degree + 1)], axis=1)
        return FactorValues(cols, column_names=tuple(str(k) for k in range(1, degree + 1)))
    if not _state:
        if np.isnan(v).any():
            raise TransformError("missing values are not allowed in poly() (as in R): drop those rows first")
        if degree >= len(np.unique(v)):
            raise TransformError(f"poly(): degree {degree} needs more than {degree} distinct values; the data have "
                                 f"{len(np.unique(v))} (R: 'degree' must be less than number of unique points)")
    return _formulaic_poly(v, degree=degree, raw=False, _state=_state)


CONTEXT = {
    "_r_I": _identity,
    "_r_factor": r_factor,
    "_r_as_numeric": r_as_numeric,
    "_r_offset": r_offset,
    "_r_log": r_log,
    "_r_log2": _unary(np.log2, "log2"),
    "_r_log10": _unary(np.log10, "log10"),
    "_r_log1p": _unary(np.log1p, "log1p"),
    "_r_exp": _unary(np.exp, "exp"),
    "_r_expm1": _unary(np.expm1, "expm1"),
    "_r_sqrt": _unary(np.sqrt, "sqrt"),
    "_r_abs": _unary(np.abs, "abs"),
    "_r_scale": r_scale,
    "_r_poly": r_poly,
}
