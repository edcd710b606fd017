"""Data frames in, model arrays out: the bridge from a formula and a table to fastmme.Model.

Accepts pandas DataFrames, and polars / pyarrow tables (converted with the libraries' own
`to_pandas`) or a dict of columns.  Rows with a missing value in any column the model uses are
dropped, as lme4 does, and counted.  Tests: tests/test_formula.py.
"""
from __future__ import annotations

import gc
import re
from dataclasses import dataclass

import dataclasses

import numpy as np
import pandas as pd

from ..errors import FastmmeError
from ..spec.checks import no_complete_rows
from ..spec.terms import Term
from .columns import Columns, encode
from .random_terms import ParsedFormula, RandomTerm, parse, point_at
from .rsyntax import RHS, translate


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


def _locate(formula: str, name: str):
    m = re.search(rf"(?<![\w.]){re.escape(name)}(?![\w.])", formula)
    return (m.start(), m.end()) if m else (0, len(formula))


@dataclass(frozen=True)
class Formulas:
    """The parts of an lme4 formula in formulaic's terms (fastmme.formula.rsyntax): the response, the fixed
    part and each random term's left side (None for an intercept only)."""
    response: RHS
    fixed: RHS
    random: tuple


@dataclass(frozen=True)
class Design:
    """Everything the formula produced: arrays for fastmme.Model plus what predict() needs."""
    parsed: ParsedFormula
    y: np.ndarray
    X: np.ndarray
    x_names: list
    terms: list
    weights: np.ndarray | None
    fixed_columns: Columns         # the fixed part's columns (for new data: predict)
    random_columns: tuple          # per random term: its Columns (None: intercept)
    kept_index: pd.Index           # index labels of the rows used
    n_dropped: int
    sparse_fixed: dict = None      # fixed factors carried in the sparse factor: name → labels of the kept rows
    offset: np.ndarray | None = None   # (n,) sum of the formula's offset() terms, None without any
    source: pd.DataFrame | None = None  # the caller's pandas frame, by reference (no copy); None for other tables
    dropped_rows: np.ndarray | None = None   # positions in source of the rows dropped for missing values

    def kept_frame(self) -> pd.DataFrame:
        """The rows of the data the fit used, as model.frame holds them (Type III contrasts need the
        variables, not only X): from the caller's frame, checked against the fit's X, so a frame
        changed since the fit is refused rather than read."""
        if self.source is None:
            raise FastmmeError("this needs the fit's data frame, which was not a pandas DataFrame (or was "
                               "partitioned): refit from a pandas DataFrame")
        df = self.source
        kept = df
        if self.dropped_rows is not None and len(df) > int(self.dropped_rows.max(initial=-1)):
            keep = np.ones(len(df), dtype=bool)
            keep[self.dropped_rows] = False
            kept = df.iloc[keep]
        if len(kept) != self.X.shape[0]:
            raise FastmmeError("the data frame has changed since the fit (its number of rows): refit the model")
        kept = _drop_unused_categories(kept, sorted(self.fixed_columns.rhs.columns, key=str))
        X, _ = self.fixed_columns.matrices(kept, "the fit's data")
        if X.shape != self.X.shape or not np.array_equal(X, self.X):
            raise FastmmeError("the data frame has changed since the fit (its fixed-effect columns differ): "
                               "refit the model on the data as they are now")
        return kept


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
    return _interaction_labels(cols)


def _interaction_labels(cols) -> pd.Categorical:
    """The labels "a:b" of an interaction grouping factor (lme4's `(1 | a:b)`), as a Categorical whose
    categories are the combinations present, sorted as their text: the same levels, in the same order,
    as joining the columns' text row by row, without making n strings (InstEval's dept:service:
    13 ms of a 0.6 s fit)."""
    key = np.zeros(len(cols[0]), dtype=np.int64)
    uniques = []
    for c in cols:
        codes, lv = pd.factorize(c)
        key = key * max(len(lv), 1) + codes
        uniques.append(lv)
    ukey, inv = np.unique(key, return_inverse=True)
    parts, rest = [], ukey
    for lv in reversed(uniques):                    # the mixed-radix digits, last column first
        n = max(len(lv), 1)
        parts.append(pd.Index(lv).astype(str).to_numpy(dtype=object)[rest % n])
        rest = rest // n
    text = parts[-1]
    for p in reversed(parts[:-1]):
        text = text + ":" + p
    order = np.argsort(text.astype(str), kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.shape[0])
    return pd.Categorical.from_codes(rank[inv.ravel()], categories=pd.Index(text[order].astype(str), dtype=object))


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
    from ..spec.relationship import KnownCovariance, known_covariance
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


def check_response(formula: str, response, Y) -> None:
    """The encoded response is one numeric column (in-memory and Dask input)."""
    if Y.shape[1] != 1 or response.categorical:
        raise point_at(formula, 0, formula.index("~"), "the response must be a single numeric column")


def _split_sparse_fixed(formula: str, fixed: RHS, df: pd.DataFrame, sparse_fixed):
    """(fixed part without the sparse factors, their column names)."""
    if sparse_fixed is False:
        return fixed, []
    column_of = {}
    for t in fixed.terms:
        v = fixed.variables[t[0]]
        if len(t) == 1 and (v.categorical_of or (not v.function and v.key in df.columns)):
            column_of[v.key] = v.categorical_of or v.key
    if sparse_fixed is None:
        chosen = [k for k, c in column_of.items() if not pd.api.types.is_numeric_dtype(df[c])
                  and df[c].nunique() >= SPARSE_FIXED_LEVELS]
    else:
        names = [sparse_fixed] if isinstance(sparse_fixed, str) else list(sparse_fixed)
        chosen = []
        for nm in names:
            hit = [k for k, c in column_of.items() if c == nm]
            if not hit:
                terms = " + ".join(fixed.label(t) for t in fixed.terms)
                raise point_at(formula, *_locate(formula, str(nm)),
                               f"sparse_fixed names {nm!r}, which is not a main effect of the fixed part "
                               f"({terms or '1'}); add it there (e.g. y ~ x + {nm} + (1 | g))")
            chosen += hit
    if not chosen:
        return fixed, []
    return fixed.without(chosen), [column_of[k] for k in chosen]


def translate_formula(formula: str, pf: ParsedFormula) -> Formulas:
    """The response, fixed part and random terms' left sides read as R (fastmme.formula.rsyntax)."""
    response = dataclasses.replace(translate(pf.response, formula), intercept=False)
    if len(response.terms) != 1 or len(response.terms[0]) != 1 or response.offsets:
        raise point_at(formula, 0, formula.index("~"), "the response must be a single numeric column or "
                       "expression, e.g. Reaction or log(Reaction)")
    fixed = translate(pf.fixed, formula)
    random = []
    for t in pf.random:
        if t.lhs.strip() == "1":
            random.append(None)
            continue
        rhs = translate(t.lhs, formula, max(formula.find(t.lhs, t.span[0]), 0))
        if rhs.offsets:
            raise point_at(formula, *t.span, f"offset() belongs in the fixed part, not in {t.label}")
        random.append(rhs)
    return Formulas(response=response, fixed=fixed, random=tuple(random))


def model_variables(formula: str, pf: ParsedFormula, df):
    """(the translated parts, every column used), after checking that each column the formula names
    is a column of `df` (a pandas frame, or a Dask frame's meta)."""
    tr = translate_formula(formula, pf)
    _check_columns(formula, df, sorted(tr.response.columns | tr.fixed.columns, key=str), "fixed part")
    for t, rhs in zip(pf.random, tr.random):
        if rhs is not None:
            _check_columns(formula, df, sorted(rhs.columns, key=str), f"random term {t.label}")
        _check_columns(formula, df, t.group_vars, f"grouping factor of {t.label}")
    used = set(tr.response.columns | tr.fixed.columns).union(*[r.columns for r in tr.random if r is not None],
                                                              *[t.group_vars for t in pf.random])
    return tr, used


def _drop_unused_categories(kept: pd.DataFrame, columns) -> pd.DataFrame:
    """Categorical columns without the categories no row uses (lme4's drop.unused.levels)."""
    fix = {}
    for c in columns:
        col = kept[c]
        if isinstance(col.dtype, pd.CategoricalDtype) and len(col.cat.categories) > col.nunique(dropna=True):
            fix[c] = col.cat.remove_unused_categories()
    return kept.assign(**fix) if fix else kept


def _build_design(formula: str, data, weights, relmat=None, sparse_fixed=None) -> Design:
    pf = parse(formula)
    knowns = _relmats(pf, relmat)
    df = to_pandas(data)
    tr, used = model_variables(formula, pf, df)
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
        raise no_complete_rows()
    if isinstance(weights, str):
        w = kept[weights].to_numpy(float)
    elif w is not None:
        w = w[~incomplete]
    modelled = set(tr.fixed.columns).union(*[r.columns for r in tr.random if r is not None])
    kept = _drop_unused_categories(kept, sorted(modelled, key=str))
    full = df if n_dropped else None        # stateful transforms learn from every row (R's model.frame)
    fixed, sparse_names = _split_sparse_fixed(formula, tr.fixed, kept, sparse_fixed)
    response, Y, _ = encode(tr.response, kept, formula, full, "response")
    check_response(formula, response, Y)
    y = Y[:, 0]
    fixed_columns, X, offset = encode(fixed, kept, formula, full, "fixed part")
    terms, columns = [], []
    for t, rhs in zip(pf.random, tr.random):
        labels = _group_labels(formula, t, kept)
        if rhs is None:
            z, zn, cols = None, None, None
        else:
            cols, z, _ = encode(rhs, kept, formula, full, f"columns of {t.label}")
            if z.shape[1] == 0:
                raise point_at(formula, *t.span, f"{t.label} has no columns")
            zn = list(cols.names)
        terms.append(Term(labels, z=z, structure="diagonal" if t.diagonal else "unstructured",
                          name=t.group, z_names=zn, relationship=knowns.get(t.group)))
        columns.append(cols)
    return Design(parsed=pf, y=y, X=X, x_names=list(fixed_columns.names), terms=terms, weights=w,
                  fixed_columns=fixed_columns, random_columns=tuple(columns), kept_index=kept.index,
                  n_dropped=n_dropped, sparse_fixed={c: kept[c] for c in sparse_names}, offset=offset,
                  source=df if df is data else None, dropped_rows=np.flatnonzero(incomplete) if n_dropped else None)


def _release_arrow_memory() -> None:
    """Return to the system what Arrow's allocator kept after factorising string columns (49 MB after
    a million-row frame with two string grouping columns, otherwise held through the fit)."""
    import sys
    if "pyarrow" in sys.modules:
        sys.modules["pyarrow"].default_memory_pool().release_unused()
