"""Predictions from a fitted formula model: offset + x'β̂ (+ z'b̂) for the rows of a table.

`Predictor` holds only what a prediction needs (the Columns of the fixed part and of the random
terms, β̂, the levels and BLUPs), not the fitted model's factor, so it pickles small and runs on Dask
workers partition by partition (the BLUPs broadcast) as well as in memory.

What it cannot know it refuses, as lme4's predict does: a level of a fixed factor the fit did not
have (fastmme.formula.columns), and a level of a grouping factor the fit did not have unless
new_levels="population" (lme4's allow.new.levels = TRUE), which predicts such rows from the fixed
effects.  A row with a missing value in a column of the fixed part (or of a random term's columns)
is predicted as NaN (lme4's na.pass).  Tests: tests/test_fit.py, tests/test_formula_r.py,
tests/test_partitioned.py.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import FastmmeError
from ..formula.frame import _group_labels
from .fit import _map_levels

NEW_LEVELS = ("error", "population")


def check_new_levels(new_levels: str) -> None:
    if new_levels not in NEW_LEVELS:
        raise FastmmeError(f"new_levels must be 'error' (lme4's default, allow.new.levels = FALSE) or 'population' "
                           f"(allow.new.levels = TRUE); got {new_levels!r}")


@dataclass(frozen=True)
class Predictor:
    formula: str
    parsed: object              # ParsedFormula
    fixed: object               # fastmme.formula.columns.Columns of the fixed part
    random: tuple               # per random term: its Columns (None: intercept)
    kept_columns: np.ndarray    # columns of the fixed model matrix kept in the fit
    beta: np.ndarray
    levels: tuple               # per random term: level labels
    blups: tuple                # per random term: (J_k, r_k) BLUPs
    sparse_fixed: tuple         # (name, labels, estimates) of the fixed factors in the sparse factor
    categories: dict = None     # column → CategoricalDtype the fit's columns had (partitioned fits)

    def fixed_part(self, df: pd.DataFrame) -> np.ndarray:
        """offset + x'β̂ (+ the sparse fixed factors' estimates) of each row."""
        X, offset = self.fixed.matrices(df)
        pred = X[:, self.kept_columns] @ self.beta
        if offset is not None:
            pred = pred + offset
        if self.sparse_fixed:
            missing = [nm for nm, _, _ in self.sparse_fixed if nm not in df.columns]
            if missing:
                raise FastmmeError(f"newdata lacks the fixed factor column(s) {missing}: add them (one label per row)")
            pred = pred + self.sparse_fixed_part({nm: df[nm] for nm, _, _ in self.sparse_fixed})
        return pred

    def sparse_fixed_part(self, columns: dict) -> np.ndarray:
        """Σ over the sparse fixed factors of the estimate of each row's level (an unseen level raises)."""
        out = 0.0
        for name, labels, est in self.sparse_fixed:
            codes = _map_levels(np.asarray(labels), np.asarray(columns[name]))
            if np.any(codes < 0):
                new = sorted({str(v) for v in np.asarray(columns[name])[codes < 0]})
                raise FastmmeError(f"levels of the fixed factor {name} not in the fit: {', '.join(new[:10])}; "
                                   "a fixed effect has no estimate for them")
            out = out + np.asarray(est)[codes]
        return out

    def _columns_used(self, re: bool) -> list:
        cols = set(self.fixed.rhs.columns)
        if re:
            cols = cols.union(*[c.rhs.columns for c in self.random if c is not None])
        return sorted(cols, key=str)

    def __call__(self, df: pd.DataFrame, re: bool = True, new_levels: str = "error") -> np.ndarray:
        check_new_levels(new_levels)
        if self.categories:
            df = df.astype({c: t for c, t in self.categories.items() if c in df.columns})
        used = self._columns_used(re)
        absent = [c for c in used if c not in df.columns]
        if absent:
            raise FastmmeError(f"newdata lacks the column(s) {', '.join(map(str, absent))} of the formula: add them")
        incomplete = df[used].isna().any(axis=1).to_numpy() if used else np.zeros(len(df), bool)
        if incomplete.any():                     # lme4's na.pass: NaN for those rows, the others predicted
            out = np.full(len(df), np.nan)
            out[~incomplete] = self(df.loc[~incomplete], re, new_levels)
            return out
        pred = self.fixed_part(df)
        if not re:
            return pred
        for k, t in enumerate(self.parsed.random):
            missing = [v for v in t.group_vars if v not in df.columns]
            if missing:
                raise FastmmeError(f"newdata lacks the grouping column(s) {missing} of {t.label}; "
                                   "pass re=False for population predictions")
            labels = _group_labels(self.formula, t, df)
            codes = _map_levels(np.asarray(self.levels[k]), np.asarray(labels))
            if new_levels == "error" and np.any(codes < 0):
                new = sorted({str(v) for v in np.asarray(labels)[codes < 0]})
                raise FastmmeError(f"newdata has level(s) of {t.group} that are not in the fit (or are missing): "
                                   f"{', '.join(new[:10])}{', …' if len(new) > 10 else ''} (lme4: new levels "
                                   "detected in newdata); pass new_levels='population' to predict them from the "
                                   "fixed effects (lme4's allow.new.levels = TRUE), or re=False for every row")
            cols = self.random[k]
            z = np.ones((len(df), 1)) if cols is None else cols.matrices(df)[0]
            seen = codes >= 0
            pred[seen] += np.sum(z[seen] * np.asarray(self.blups[k])[codes[seen]], axis=1)
        return pred


def predict_partition(part: pd.DataFrame, predictor: Predictor, re: bool, new_levels: str) -> pd.Series:
    """Predictions for one pandas partition of a Dask frame, indexed like it."""
    if len(part) == 0:
        return pd.Series(np.zeros(0), index=part.index, name="predict")
    return pd.Series(predictor(part, re, new_levels), index=part.index, name="predict")
