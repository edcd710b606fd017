"""ranova(fit): lmerTest's likelihood-ratio tests of the random-effect terms, one deletion at a time.

As lmerTest 3.1's ranova (reduce.terms = TRUE): the random terms are lme4's findbars (nesting expanded,
``(x || g)`` as ``(1 | g) + (0 + x | g)``); a term with an intercept only is deleted; otherwise each
term of its left side that no other contains (R's drop.scope) is dropped from it, the last one
leaving ``(1 | g)``.  Each reduced model is refitted to the same rows with the fit's criterion (REML
or ML) — a model left without random terms is lm's, with lm's (REML) log-likelihood — and compared
with the fit: LRT = 2 (ℓ − ℓ_reduced) on the difference in parameters.

Tests: tests/test_ranova.py (against lmerTest, tests/fixtures/ranova.json).
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ..errors import FastmmeError
from ..lazy import scipy_stats

HEADING = "ANOVA-like table for random-effects: Single term deletions"


def _spaced(text: str) -> str:
    return re.sub(r"\s*\+\s*", " + ", " ".join(text.split()))


def _bars(fit) -> list:
    """lme4's findbars of the fit: (left side as written, its terms' labels, has an intercept, group)."""
    out = []
    for t, cols in zip(fit.design.parsed.random, fit.design.random_columns):
        labels = [] if cols is None else [cols.rhs.label(k) for k in cols.rhs.terms]
        intercept = True if cols is None else cols.rhs.intercept
        if t.diagonal:                                   # (x || g) = (1 | g) + (0 + x | g) + …
            if intercept:
                out.append(("1", [], True, t.group))
            out += [(f"0 + {lab}", [lab], False, t.group) for lab in labels]
        else:
            out.append((_spaced(t.lhs), labels, intercept, t.group))
    return out


def _text(bar) -> str:
    return f"({bar[0]} | {bar[3]})"


def _drop_scope(bar) -> list:
    """R's drop.scope of a left side: the terms no other term of it contains."""
    sets = [frozenset(lab.split(":")) for lab in bar[1]]
    return [lab for lab, s in zip(bar[1], sets) if not any(s < o for o in sets)]


def _reductions(fit) -> list:
    """(row name, the random terms of the reduced model) per single-term deletion."""
    bars = _bars(fit)
    out = []
    for i, bar in enumerate(bars):
        rest = bars[:i] + bars[i + 1:]
        scope = _drop_scope(bar) if bar[1] else []
        if not scope:
            out.append((_text(bar), rest))
            continue
        for scp in scope:
            if set(bar[1]) == {scp}:
                lhs = "1"
            else:
                kept = [lab for lab in bar[1] if lab != scp]
                lhs = ("" if bar[2] else "0 + ") + " + ".join(kept)
            new = (lhs, [], True, bar[3])
            terms = rest if any(_text(b) == _text(new) for b in rest) else rest[:i] + [new] + rest[i:]
            out.append((f"{scp} in ({bar[0]} | {bar[3]})", terms))
    return out


def _lm_loglik(fit, reml: bool) -> tuple:
    """(df, log-likelihood) of the linear model of the fixed part alone, as R's logLik.lm."""
    d = fit.design
    X = fit._x_used[0]
    y = d.y - (d.offset if d.offset is not None else 0.0)
    w = np.ones_like(y) if d.weights is None else np.asarray(d.weights, dtype=float)
    sw = np.sqrt(w)
    Q, R = np.linalg.qr(X * sw[:, None])
    r = sw * y - Q @ (Q.T @ (sw * y))
    n, p = X.shape
    N = n - p if reml else n
    val = 0.5 * (np.sum(np.log(w)) - N * (np.log(2 * np.pi) + 1 - np.log(N) + np.log(np.sum(r * r))))
    if reml:
        val -= np.sum(np.log(np.abs(np.diag(R))))
    return p + 1, float(val)


def ranova(fit):
    """The table (an AnovaTable: npar, logLik, AIC, LRT, Df, Pr(>Chisq); rows "<none>" then one per
    deletion; `formulas` maps rows to the reduced models' formulas)."""
    from ..formula.frame import build_design
    from .anova_table import AnovaTable
    d = fit.design
    if d.source is None:
        raise FastmmeError("ranova refits the model, which needs the fit's data as a pandas DataFrame (the data "
                           "given were another kind of table, or partitioned): refit from a pandas DataFrame")
    weights = None
    if d.weights is not None:
        weights = np.ones(len(d.source))
        keep = np.ones(len(d.source), dtype=bool)
        if d.dropped_rows is not None:
            keep[d.dropped_rows] = False
        weights[keep] = d.weights
    head = f"{d.parsed.response} ~ {_spaced(d.parsed.fixed)}"
    rows = [("<none>", head + "".join(f" + {_text(b)}" for b in _bars(fit)), fit.core.n_params, fit.loglik)]
    for name, terms in _reductions(fit):
        formula = head + "".join(f" + {_text(b)}" for b in terms)
        if not terms:
            npar, ll = _lm_loglik(fit, fit.reml)
        else:
            relmat = {b[3]: t.known for b in terms for t in d.terms if t.known is not None and t.name == b[3]}
            sparse = list(d.sparse_fixed) if d.sparse_fixed else False
            rd = build_design(formula, d.source, weights=weights, relmat=relmat or None, sparse_fixed=sparse)
            model = type(fit.model).of_design(rd, reml=fit.reml)
            r = type(fit)(core=model.fit(), design=rd, model=model, formula=formula)
            if r.nobs != fit.nobs:
                raise FastmmeError(f"the reduced model {formula!r} uses {r.nobs} rows and the fit {fit.nobs}: remove the "
                                   "rows with missing values first (lmerTest: number of rows in use has changed)")
            npar, ll = r.core.n_params, r.loglik
        rows.append((name, formula, npar, ll))
    npar = np.array([r[2] for r in rows], dtype=float)
    ll = np.array([r[3] for r in rows])
    lrt = np.concatenate([[np.nan], 2 * (ll[0] - ll[1:])])
    df = np.concatenate([[np.nan], npar[0] - npar[1:]])
    with np.errstate(invalid="ignore"):
        p = np.where(df > 0, scipy_stats().chi2.sf(lrt, np.where(df > 0, df, 1)), np.nan)
    table = AnovaTable({"npar": npar, "logLik": ll, "AIC": -2 * ll + 2 * npar, "LRT": lrt, "Df": df, "Pr(>Chisq)": p},
                       index=pd.Index([r[0] for r in rows]))
    table.heading = "\n".join([HEADING, "", "Model:", rows[0][1]])
    table.formulas = {r[0]: r[1] for r in rows}
    return table
