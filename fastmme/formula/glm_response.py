"""lme4's response forms of a GLMM, turned into a numeric response and prior weights before the formula
is read (fastmme.formula.frame):

    cbind(successes, failures) ~ …      y = successes / trials, weights = trials (binomial)
    p ~ …, weights = trials             a proportion with the numbers of trials (binomial); the left
                                        side may be arithmetic of columns (k / n ~ …), as R evaluates it
    r ~ …   with r 0/1, logical, or a factor / strings: the first level (sorted, or the categorical's
            order) is 0 and every other level 1, as glmer reads a factor response
    count ~ …                           the Poisson's counts

The caller's data are not changed: new columns go into a shallow copy."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ..errors import FastmmeError
from .random_terms import FormulaError

RESPONSE = "fastmme_glmm_response__"
ARITHMETIC = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*(\s*[-+*/]\s*([A-Za-z_][A-Za-z0-9_.]*|[0-9.]+))+")
TRIALS = "fastmme_glmm_trials__"


def _split_lhs(formula: str):
    if not isinstance(formula, str) or formula.count("~") != 1:
        raise FormulaError(f"formula must be a string like 'y ~ x + (1 | g)' with one '~'; got {formula!r}")
    lhs, rhs = formula.split("~")
    return lhs.strip(), rhs


def _top_level_comma(text: str):
    depth = 0
    for i, ch in enumerate(text):
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            return i
    return -1


def _evaluate(expr: str, df: pd.DataFrame, formula: str) -> np.ndarray:
    expr = expr.strip()
    if expr in df.columns:
        col = df[expr]
    else:
        try:
            col = df.eval(expr, engine="python")
        except (SyntaxError, NameError, KeyError, TypeError, ValueError) as exc:   # what pandas raises for
            #                                                   an expression it cannot read
            raise FormulaError(f"in {formula!r}: cannot evaluate {expr!r} on the data ({type(exc).__name__}: "
                               f"{exc}); write a column name or arithmetic of columns") from None
    try:
        return np.asarray(col, dtype=np.float64)
    except (TypeError, ValueError):
        raise FormulaError(f"in {formula!r}: {expr!r} is not numeric") from None


def glm_response(formula: str, data: pd.DataFrame, weights, family) -> tuple:
    """(formula, data, weights) with the response numeric: see the module docstring."""
    lhs, rhs = _split_lhs(formula)
    m = re.fullmatch(r"cbind\s*\((.*)\)", lhs, flags=re.S)
    if m:
        if family.name != "binomial":
            raise FormulaError(f"cbind(successes, failures) is a binomial response; the family is {family.name}")
        inner = m.group(1)
        c = _top_level_comma(inner)
        if c < 0:
            raise FormulaError(f"cbind() needs two arguments, successes and failures; got cbind({inner})")
        if weights is not None:
            raise FastmmeError("weights= with a cbind() response is not supported: the trials are successes + "
                               "failures (give a proportion with weights= the trials instead, or no weights)")
        s, f = _evaluate(inner[:c], data, formula), _evaluate(inner[c + 1:], data, formula)
        if np.any((s < 0) | (f < 0)):
            raise FastmmeError("cbind(successes, failures): negative successes or failures found")
        trials = s + f
        if np.any(trials == 0):
            raise FastmmeError(f"cbind(successes, failures): {int(np.sum(trials == 0))} row(s) have no trials "
                               "(successes + failures = 0); drop them")
        out = data.copy(deep=False)
        out[RESPONSE] = s / trials
        out[TRIALS] = trials
        return f"{RESPONSE} ~{rhs}", out, TRIALS
    if lhs in data.columns:
        col = data[lhs]
        if family.name == "binomial" and (not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
            out = data.copy(deep=False)
            out[RESPONSE] = _binary(col, lhs)
            return f"{RESPONSE} ~{rhs}", out, weights
        return formula, data, weights
    if ARITHMETIC.fullmatch(lhs):         # R evaluates the left side: incidence / size
        out = data.copy(deep=False)
        out[RESPONSE] = _evaluate(lhs, data, formula)
        return f"{RESPONSE} ~{rhs}", out, weights
    return formula, data, weights


def _binary(col: pd.Series, name: str) -> np.ndarray:
    """A logical, factor or string response as 0/1 (the first level 0), missing values kept missing."""
    if pd.api.types.is_bool_dtype(col):
        return col.astype(float).to_numpy()
    missing = col.isna().to_numpy()
    if isinstance(col.dtype, pd.CategoricalDtype):
        levels = list(col.cat.categories)
    else:
        levels = sorted(pd.unique(col[~missing]), key=str)
    if len(levels) < 2:
        raise FastmmeError(f"the response {name!r} has {len(levels)} level(s): a binomial response needs two")
    out = (col.to_numpy() != levels[0]).astype(float)
    out[missing] = np.nan
    return out
