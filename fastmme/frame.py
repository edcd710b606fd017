"""Data frames in, model arrays out: the bridge from a formula and a table to fastmme.Model.

Accepts pandas DataFrames, and polars / pyarrow tables (converted with the libraries' own
`to_pandas`) or a dict of columns.  Rows with a missing value in any column the model uses are
dropped, as lme4 does, and counted.  Tests: tests/test_formula.py.
"""
from __future__ import annotations

import gc
import re
from dataclasses import dataclass

import formulaic
import numpy as np
import pandas as pd

from .errors import FastmmeError
from .formula import FormulaError, ParsedFormula, RandomTerm, parse, point_at, r_name
from .terms import Term


def to_pandas(data) -> pd.DataFrame:
    """A pandas DataFrame view of `data` (pandas, polars, pyarrow, or a dict of columns)."""
    if isinstance(data, pd.DataFrame):
        return data
    if hasattr(data, "to_pandas"):          # polars DataFrame, pyarrow Table
        return data.to_pandas()
    if isinstance(data, dict):
        return pd.DataFrame(data)
    if type(data).__module__.startswith("dask"):
        raise FastmmeError("this function takes in-memory data; fastmme.lmm and fastmme.blup accept a Dask DataFrame "
                           "directly (and predict() a Dask newdata), otherwise call .compute() first")
    raise FastmmeError(f"data must be a pandas, polars or pyarrow table (or a dict of columns); "
                       f"got {type(data).__name__}")


def _variables(expr: str) -> set:
    """Data columns an expression of formulaic's grammar refers to."""
    return {str(v) for v in formulaic.Formula(expr).required_variables}


def _locate(formula: str, name: str):
    m = re.search(rf"(?<![\w.]){re.escape(name)}(?![\w.])", formula)
    return (m.start(), m.end()) if m else (0, len(formula))


@dataclass(frozen=True)
class Design:
    """Everything the formula produced: arrays for fastmme.Model plus what predict() needs."""
    parsed: ParsedFormula
    y: np.ndarray
    X: np.ndarray
    x_names: list
    terms: list
    weights: np.ndarray | None
    fixed_spec: object             # formulaic ModelSpec of the fixed right-hand side
    random_specs: tuple            # per random term: formulaic ModelSpec of its columns (None: intercept)
    kept_index: pd.Index           # index labels of the rows used
    n_dropped: int
    sparse_fixed: dict = None      # fixed factors carried in the sparse factor: name → labels of the kept rows


def _check_columns(formula: str, df: pd.DataFrame, names, what: str):
    for v in names:
        if v not in df.columns:
            raise point_at(formula, *_locate(formula, v),
                           f"unknown column '{v}' in the {what}; the data have: {', '.join(map(str, df.columns))}")


def _group_labels(formula: str, term: RandomTerm, df: pd.DataFrame) -> np.ndarray:
    cols = []
    for v in term.group_vars:
        col = df[v]
        if pd.api.types.is_float_dtype(col) and not np.all(np.mod(col.to_numpy(float), 1) == 0):
            raise point_at(formula, *term.span, f"grouping variable '{v}' is continuous (non-integer values): "
                           "a grouping factor needs discrete labels — use a categorical or integer column, "
                           "or put the variable left of '|' as a random slope")
        cols.append(col)
    if len(cols) == 1:
        return cols[0]                  # a Series: Term factorises it without an object copy
    out = cols[0].astype(str)
    for c in cols[1:]:
        out = out + ":" + c.astype(str)
    return out


def build_design(formula: str, data, weights=None, relmat=None, sparse_fixed=None) -> Design:
    """Parse, drop incomplete rows, and build y, X and the Terms.  relmat: grouping factor name →
    relationship (a Pedigree, a DataFrame K indexed by the labels, or a KnownCovariance).
    sparse_fixed: names of fixed factors to carry in the sparse factor; None: every categorical main
    effect with at least SPARSE_FIXED_LEVELS levels; () or False: none."""
    design = _build_design(formula, data, weights, relmat, sparse_fixed)
    _release_arrow_memory()
    gc.collect(1)   # formulaic's materialiser leaves reference cycles holding evaluated columns (16 MB per
    #                 million rows) until the next automatic collection; the youngest generation takes 0.2 ms
    return design


def _relmats(pf: ParsedFormula, relmat) -> dict:
    from .relationship import KnownCovariance, known_covariance
    if relmat is None:
        return {}
    if not isinstance(relmat, dict):
        raise FastmmeError("relmat must be a dict: grouping factor name → Pedigree or relationship matrix")
    groups = {t.group for t in pf.random}
    unknown = [g for g in relmat if g not in groups]
    if unknown:
        raise FastmmeError(f"relmat names {', '.join(map(repr, unknown))}, not a grouping factor of the formula "
                           f"({', '.join(map(repr, sorted(groups)))})")
    return {g: (v if isinstance(v, KnownCovariance) else known_covariance(relationship=v))
            for g, v in relmat.items()}


SPARSE_FIXED_LEVELS = 500   # a categorical fixed effect with this many levels goes into the sparse factor


def _split_sparse_fixed(formula: str, fixed_formula: str, df: pd.DataFrame, sparse_fixed):
    """(fixed formula without the sparse factors, their column names)."""
    if sparse_fixed is False:
        return fixed_formula, []
    f = formulaic.Formula(fixed_formula)
    rhs = [str(t) for t in f.rhs]
    column_of = {}
    for t in rhs:
        inner = t[2:-1] if t.startswith("C(") and t.endswith(")") else t
        if inner in df.columns:
            column_of[t] = inner
    if sparse_fixed is None:
        chosen = [t for t, c in column_of.items() if not pd.api.types.is_numeric_dtype(df[c])
                  and df[c].nunique() >= SPARSE_FIXED_LEVELS]
    else:
        names = [sparse_fixed] if isinstance(sparse_fixed, str) else list(sparse_fixed)
        chosen = []
        for nm in names:
            hit = [t for t, c in column_of.items() if c == nm]
            if not hit:
                raise point_at(formula, *_locate(formula, str(nm)),
                               f"sparse_fixed names {nm!r}, which is not a main effect of the fixed part "
                               f"({' + '.join(rhs)}); add it there (e.g. y ~ x + {nm} + (1 | g))")
            chosen += hit
    if not chosen:
        return fixed_formula, []
    rest = [t for t in rhs if t not in chosen and t != "1"]
    lhs = fixed_formula.split("~", 1)[0].strip()
    new = f"{lhs} ~ {'1' if '1' in rhs else '0'}" + "".join(f" + {t}" for t in rest)
    return new, [column_of[t] for t in chosen]


def model_variables(formula: str, pf: ParsedFormula, df):
    """(fixed-part variables, each random term's column variables, every column used), after checking
    that each is a column of `df` (a pandas frame, or a Dask frame's meta)."""
    try:
        fixed_vars = _variables(pf.fixed_formula)
        random_vars = [(_variables(t.lhs) if t.lhs not in ("1", "0", "-1") else set()) for t in pf.random]
    except FastmmeError:
        raise
    except Exception as exc:
        raise FormulaError(f"cannot parse the formula {formula!r}: {exc}") from exc
    _check_columns(formula, df, sorted(fixed_vars), "fixed part")
    for t, vs in zip(pf.random, random_vars):
        _check_columns(formula, df, sorted(vs), f"random term {t.label}")
        _check_columns(formula, df, t.group_vars, f"grouping factor of {t.label}")
    used = set(fixed_vars).union(*random_vars, *[t.group_vars for t in pf.random])
    return fixed_vars, random_vars, used


def _build_design(formula: str, data, weights, relmat=None, sparse_fixed=None) -> Design:
    pf = parse(formula)
    knowns = _relmats(pf, relmat)
    df = to_pandas(data)
    fixed_vars, random_vars, used = model_variables(formula, pf, df)
    w = None
    if isinstance(weights, str):
        _check_columns(weights, df, [weights], "weights")
        used.add(weights)
    elif weights is not None:
        w = np.asarray(weights, dtype=float)
        if w.shape != (len(df),):
            raise FastmmeError(f"weights has {w.size} values for {len(df)} rows of data: give one weight per row, or the "
                               "name of a column of data")
    incomplete = np.array(df[sorted(used, key=str)].isna().any(axis=1).to_numpy(), dtype=bool)
    if w is not None:
        incomplete |= np.isnan(w)
    kept = df.loc[~incomplete] if incomplete.any() else df     # no copy when nothing is dropped
    n_dropped = int(incomplete.sum())
    if len(kept) == 0:
        raise FastmmeError("every row has a missing value in a column the model uses: check how missing values are "
                           "coded and which columns the formula names")
    if isinstance(weights, str):
        w = kept[weights].to_numpy(float)
    elif w is not None:
        w = w[~incomplete]
    fixed_formula, sparse_names = _split_sparse_fixed(formula, pf.fixed_formula, kept, sparse_fixed)
    try:
        mm = formulaic.model_matrix(fixed_formula, kept, na_action="ignore")
    except Exception as exc:
        raise FormulaError(f"cannot build the fixed part '{pf.fixed_formula}': {exc}") from exc
    if mm.lhs.shape[1] != 1:
        raise point_at(formula, 0, formula.index("~"), "the response must be a single numeric column")
    y = np.asarray(mm.lhs, dtype=float)[:, 0]
    X = np.ascontiguousarray(np.asarray(mm.rhs, dtype=float))   # row-major: the layout the kernels read
    x_names = [r_name(c) for c in mm.rhs.columns]
    terms, specs = [], []
    for t in pf.random:
        labels = _group_labels(formula, t, kept)
        if t.lhs.strip() == "1":
            z, zn, spec = None, None, None
        else:
            try:
                zm = formulaic.model_matrix(t.lhs, kept, na_action="ignore")
            except Exception as exc:
                raise point_at(formula, *t.span, f"cannot build the columns of {t.label}: {exc}") from exc
            if zm.shape[1] == 0:
                raise point_at(formula, *t.span, f"{t.label} has no columns")
            z, zn, spec = np.asarray(zm, dtype=float), [r_name(c) for c in zm.columns], zm.model_spec
        terms.append(Term(labels, z=z, structure="diagonal" if t.diagonal else "unstructured",
                          name=t.group, z_names=zn, relationship=knowns.get(t.group)))
        specs.append(spec)
    return Design(parsed=pf, y=y, X=X, x_names=x_names, terms=terms, weights=w,
                  fixed_spec=mm.rhs.model_spec, random_specs=tuple(specs), kept_index=kept.index,
                  n_dropped=n_dropped, sparse_fixed={c: kept[c] for c in sparse_names})


def _release_arrow_memory() -> None:
    """Return to the system what Arrow's allocator kept after factorising string columns (49 MB after
    a million-row frame with two string grouping columns, otherwise held through the fit)."""
    import sys
    if "pyarrow" in sys.modules:
        sys.modules["pyarrow"].default_memory_pool().release_unused()
