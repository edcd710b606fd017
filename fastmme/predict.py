"""Predictions from a fitted formula model: x'β̂ (+ z'b̂) for the rows of a table.

`Predictor` holds only what a prediction needs (the formulaic specs, β̂, the levels and BLUPs), not
the fitted model's factor, so it pickles small and runs on Dask workers partition by partition (the
BLUPs broadcast) as well as in memory.  Tests: tests/test_fit.py, tests/test_partitioned.py.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import FastmmeError
from .frame import _group_labels
from .results import _map_levels


@dataclass(frozen=True)
class Predictor:
    formula: str
    parsed: object              # ParsedFormula
    fixed_spec: object          # formulaic ModelSpec of the fixed right-hand side
    random_specs: tuple         # per random term: formulaic ModelSpec of its columns (None: intercept)
    kept_columns: np.ndarray    # columns of the fixed model matrix kept in the fit
    beta: np.ndarray
    levels: tuple               # per random term: level labels
    blups: tuple                # per random term: (J_k, r_k) BLUPs
    sparse_fixed: tuple         # (name, labels, estimates) of the fixed factors in the sparse factor
    categories: dict = None     # column → CategoricalDtype the fit's columns had (partitioned fits)

    def fixed_part(self, df: pd.DataFrame) -> np.ndarray:
        try:
            X = np.asarray(self.fixed_spec.get_model_matrix(df, na_action="ignore"), dtype=float)
        except Exception as exc:
            raise FastmmeError(f"cannot build the fixed effects for newdata: {exc} — newdata needs every column of the "
                               "fixed part, with the types and levels it had in the fit") from exc
        pred = X[:, self.kept_columns] @ self.beta if X.shape[1] != len(self.beta) else X @ self.beta
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

    def __call__(self, df: pd.DataFrame, re: bool = True, new_levels: str = "population") -> np.ndarray:
        if self.categories:
            df = df.astype({c: t for c, t in self.categories.items() if c in df.columns})
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
                raise FastmmeError(f"newdata has levels of {t.group} not in the fit: {', '.join(new[:10])}; "
                                   "use new_levels='population' to predict them at the population level")
            spec = self.random_specs[k]
            z = np.ones((len(df), 1)) if spec is None else \
                np.asarray(spec.get_model_matrix(df, na_action="ignore"), float)
            seen = codes >= 0
            pred[seen] += np.sum(z[seen] * np.asarray(self.blups[k])[codes[seen]], axis=1)
        return pred


def predict_partition(part: pd.DataFrame, predictor: Predictor, re: bool, new_levels: str) -> pd.Series:
    """Predictions for one pandas partition of a Dask frame, indexed like it."""
    if len(part) == 0:
        return pd.Series(np.zeros(0), index=part.index, name="predict")
    return pd.Series(predictor(part, re, new_levels), index=part.index, name="predict")
