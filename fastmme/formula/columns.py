"""A translated right-hand side (fastmme.formula.rsyntax.RHS) encoded by formulaic into R's columns.

    cols, X, offset = encode(rhs, kept_rows, formula, all_rows)
    X_new, offset_new = cols.matrices(newdata)

formulaic evaluates the factors and codes them (treatment contrasts); this module makes the result
R's and refuses what would not be:

* a factor with fewer than two levels in the rows used is refused, as lme4 does ("contrasts can be
  applied only to factors with 2 or more levels");
* each term must be coded as R codes it (``terms.formula``/``model.matrix``: a factor of a term gets
  contrasts when the term without it is contained in an earlier term, dummy variables otherwise;
  without an intercept the first factor gets dummy variables).  formulaic agrees on hierarchical
  formulas and splits some others (``f:g`` without its margins) differently: those are refused;
* the columns are named as R names them (``factor(Days)1``, ``poly(x, 2)1``, ``cses:sectorPublic``);
* stateful transforms (scale, poly) learn their state from every row of the data where their own
  variables are present, before incomplete rows are dropped, as R's model.frame evaluates them;
  factor levels come from the rows used (lme4's drop.unused.levels);
* new data with a level a categorical factor did not have in the fit are refused, naming the level
  and the column (formulaic only warns and codes the row as the baseline).

Tests: tests/test_rsyntax.py, tests/test_formula_r.py.
"""
from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from formulaic import ModelSpec
from formulaic.errors import DataMismatchWarning, FactorEvaluationError, FormulaicError
from formulaic.formula import SimpleFormula
from formulaic.parser.types import Term as FTerm

from ..errors import FastmmeError
from .random_terms import point_at
from .rsyntax import RHS, r_level
from .rtransforms import CONTEXT, TransformError


@dataclass(frozen=True)
class Columns:
    """What turns a table into this right-hand side's columns, for the fit and for new data."""
    rhs: RHS
    spec: object            # formulaic ModelSpec, materialised on the fitted rows
    names: tuple            # R names of the model-matrix columns (offset columns excluded)
    categorical: tuple      # (R name, source column or "", levels) of each categorical factor
    assign: tuple = ()      # per column, R's assign: 0 for the intercept, j + 1 for a column of term j

    @property
    def n_columns(self) -> int:
        return len(self.names)

    def matrices(self, df: pd.DataFrame, what: str = "newdata"):
        """(X (n, p) float64, offset (n,) or None) of the rows of `df`, with the fit's levels and
        transform state; a categorical level the fit did not have raises a FastmmeError."""
        self.check_levels(df, what)
        with warnings.catch_warnings():
            warnings.simplefilter("error", DataMismatchWarning)
            try:
                mm = self.spec.get_model_matrix(df, context=CONTEXT)
            except DataMismatchWarning as w:      # a factor without a source column (I(f)): never the baseline
                names = ", ".join(n for n, column, _ in self.categorical if not column) or "a factor"
                raise FastmmeError(f"{what} has values of {names} that the fit did not have ({w}); a fixed effect "
                                   "has no estimate for them — drop those rows") from None
            except FactorEvaluationError as exc:
                cause = exc.__cause__ if isinstance(exc.__cause__, TransformError) else None
                raise FastmmeError(f"{what}: {cause}" if cause else
                                   f"cannot build the columns of {self.rhs.text!r} for {what}: {_r_message(exc, self.rhs)}"
                                   " — it needs every column the formula names, with the types it had in the fit") from None
            except FormulaicError as exc:
                raise FastmmeError(f"cannot build the columns of {self.rhs.text!r} for {what}: {_r_message(exc, self.rhs)}"
                                   " — it needs every column the formula names, with the types it had in the fit") from None
        A = np.asarray(mm, dtype=np.float64)
        p = self.n_columns
        off = A[:, p:].sum(axis=1) if A.shape[1] > p else None
        return np.ascontiguousarray(A[:, :p]), off

    def check_levels(self, df: pd.DataFrame, what: str = "newdata") -> None:
        for name, column, levels in self.categorical:
            if not column or column not in df.columns:
                continue
            values = df[column]
            present = values[values.notna()]
            idx = pd.Index(levels).get_indexer(pd.Index(present.unique()))
            if np.any(idx < 0):
                new = sorted({r_level(v) for v in np.asarray(present.unique(), dtype=object)[idx < 0]}, key=str)
                raise FastmmeError(f"{what} has level(s) {', '.join(new[:10])} of {name} (column '{column}') that the "
                                   f"fit did not have (it had {', '.join(r_level(v) for v in levels[:10])}"
                                   f"{', …' if len(levels) > 10 else ''}): a fixed effect has no estimate for them "
                                   "— drop those rows")


def _r_message(exc: Exception, rhs: RHS) -> str:
    """formulaic's message with the internal expressions replaced by their R spelling."""
    text = str(exc)
    for v in sorted(rhs.variables.values(), key=lambda v: -len(v.key)):
        if v.function:
            text = text.replace(v.key, v.r_name)
    return text


def _materialise(spec: ModelSpec, df: pd.DataFrame, rhs: RHS, formula: str, what: str):
    try:
        return spec.get_model_matrix(df, context=CONTEXT)
    except FactorEvaluationError as exc:
        cause = exc.__cause__
        if isinstance(cause, TransformError):
            raise point_at(formula, *_span(formula, rhs), f"in the {what}: {cause}") from None
        raise point_at(formula, *_span(formula, rhs), f"cannot build the {what}: {_r_message(exc, rhs)}") from None
    except TransformError as exc:
        raise point_at(formula, *_span(formula, rhs), f"in the {what}: {exc}") from None
    except FormulaicError as exc:
        raise point_at(formula, *_span(formula, rhs), f"cannot build the {what}: {_r_message(exc, rhs)}") from None


def _span(formula: str, rhs: RHS, key: str | None = None):
    text = rhs.text if key is None else None
    if key is not None:
        v = rhs.variables[key]
        s = formula.find(rhs.text)
        if s >= 0:
            return s + v.position, s + v.position + max(len(v.r_name), 1)
        text = v.r_name
    s = formula.find(text)
    return (s, s + len(text)) if s >= 0 else (0, len(formula))


def _state_from_all_rows(rhs: RHS, full: pd.DataFrame, formula: str, what: str) -> dict:
    """The state of the stateful transforms, learnt from every row where their variables are present
    (R evaluates scale() and poly() in model.frame, before na.action drops incomplete rows)."""
    keys = [k for k, v in rhs.variables.items() if v.function == "poly" or "_r_scale(" in k]
    for k in keys:
        v = rhs.variables[k]
        if v.function == "poly" and full[list(v.columns)].isna().any().any():
            raise point_at(formula, *_span(formula, rhs, k), f"missing values are not allowed in {v.r_name} (as in R's "
                           f"poly): drop the rows with a missing {', '.join(v.columns)} before the fit")
    from formulaic.parser.types import Factor as FFactor
    f = SimpleFormula([FTerm([FFactor(k, eval_method="python")]) for k in keys], _ordering="none")
    cols = sorted({c for k in keys for c in rhs.variables[k].columns}, key=str)
    mm = _materialise(ModelSpec(formula=f, na_action="ignore"), full[cols], rhs, formula, what)
    return dict(mm.model_spec.transform_state)


def r_coding(rhs: RHS, categorical: set) -> list:
    """R's coding of each term: {categorical key: True for contrasts, False for dummy variables}
    (R's TermCode: contrasts when the term without the factor is contained in an earlier term or is
    empty; without an intercept the first factor of the first term that has one gets dummies)."""
    codes = []
    for j, t in enumerate(rhs.terms):
        c = {}
        for k in t:
            if k in categorical:
                rest = set(t) - {k}
                c[k] = (not rest) or any(rest <= set(p) for p in rhs.terms[:j])
        codes.append(c)
    if not rhs.intercept:
        for j, t in enumerate(rhs.terms):
            cats = [k for k in t if k in categorical]
            if cats:
                codes[j][cats[0]] = False
                break
    return codes


def _column_parts(name: str, keys) -> list:
    """Split formulaic's column name 'a[T.x]:b' into the suffix of each factor ('T.x', '')."""
    parts, pos = [], 0
    for i, key in enumerate(keys):
        if not name.startswith(key, pos):
            raise FastmmeError(f"internal: column {name!r} does not start with factor {key!r} at {pos}")
        pos += len(key)
        suffix = ""
        if pos < len(name) and name[pos] == "[":
            depth, end = 0, pos
            while end < len(name):
                depth += name[end] == "["
                depth -= name[end] == "]"
                if depth == 0:
                    break
                end += 1
            suffix, pos = name[pos + 1:end], end + 1
        parts.append(suffix)
        if i < len(keys) - 1:
            if name[pos:pos + 1] != ":":
                raise FastmmeError(f"internal: column {name!r} has no ':' after factor {key!r}")
            pos += 1
    return parts


def r_column_names(rhs: RHS, term, columns, code: dict, levels: dict) -> list:
    """R's names of formulaic's columns of one term ('a[T.x]:b' → 'ax:b'): code (categorical key →
    True for contrasts) says how each factor was coded, levels its levels in the fit."""
    parts = [_column_parts(col, term) for col in columns]
    single = [len({p[i] for p in parts}) == 1 for i in range(len(term))]   # a one-column matrix: no suffix
    names = []
    for col in parts:
        name = []
        for i, (k, suffix) in enumerate(zip(term, col)):
            v = rhs.variables[k]
            if k in code:
                label = suffix[2:] if code[k] and suffix.startswith("T.") else suffix
                by_str = {str(x): r_level(x) for x in levels[k]}
                name.append(v.r_name + by_str.get(label, label))
            else:
                name.append(v.r_name + ("" if single[i] else suffix))
        names.append(":".join(name))
    return names


def encode(rhs: RHS, kept: pd.DataFrame, formula: str, full: pd.DataFrame | None = None,
           what: str = "fixed part"):
    """(Columns, X, offset) of `rhs` on the rows `kept`; `full`: all rows of the data (for the state
    of stateful transforms) when rows were dropped."""
    rhs = rhs.with_logicals({c for c in rhs.columns if c in kept.columns and pd.api.types.is_bool_dtype(kept[c])})
    state = _state_from_all_rows(rhs, full, formula, what) if (rhs.stateful and full is not None) else {}
    spec = ModelSpec(formula=rhs.formulaic(), na_action="ignore", transform_state=copy.deepcopy(state))
    mm = _materialise(spec, kept, rhs, formula, what)
    spec = mm.model_spec
    enc = spec.encoder_state
    categorical = {k for k, (kind, _) in enc.items() if kind.value == "categorical"}
    levels = {k: list(enc[k][1].get("categories", [])) for k in categorical}
    for k in sorted(categorical, key=lambda k: rhs.variables[k].position):
        v = rhs.variables[k]
        if len(levels[k]) < 2:
            lv = ", ".join(r_level(x) for x in levels[k]) or "none"
            raise point_at(formula, *_span(formula, rhs, k),
                           f"{v.r_name} has a single level ({lv}) in the rows used, so it has no effect to estimate "
                           "(lme4: 'contrasts can be applied only to factors with 2 or more levels'): remove it from "
                           "the formula, or check which rows were dropped for missing values")
    structure = [e for e in spec.structure if str(e.term) != "1"]
    codes = r_coding(rhs, categorical)
    names, assign = [], []
    for j, (term, entry, code) in enumerate(zip(rhs.terms, structure, codes)):
        scoped = entry.scoped_terms
        ok = len(scoped) == 1 and [sf.factor.expr for sf in scoped[0].factors] == list(term) and all(
            sf.reduced == code[sf.factor.expr] for sf in scoped[0].factors if sf.factor.expr in code)
        if not ok:
            label = rhs.label(term)
            how = "; ".join(f"{rhs.variables[k].r_name} by {'contrasts' if c else 'dummy variables'}"
                            for k, c in code.items())
            raise point_at(formula, *_span(formula, rhs), f"the term {label} is not coded as R codes it ({how}), "
                           "because its margins are not all in the formula; write them too (e.g. "
                           f"{'*'.join(rhs.variables[k].r_name for k in term)}), which gives the same fit with R's columns")
        names += r_column_names(rhs, term, entry.columns, code, levels)
        assign += [j + 1] * len(entry.columns)
    if rhs.intercept:
        names.insert(0, "(Intercept)")
        assign.insert(0, 0)
    n_off = len(rhs.offsets)
    A = np.asarray(mm, dtype=np.float64)
    if A.shape[1] != len(names) + n_off:
        raise FastmmeError(f"internal: {A.shape[1]} columns for {len(names)} names and {n_off} offsets")
    finite = np.isfinite(A.sum(axis=0))          # a column sum is finite when every entry is (no n × p temporary)
    if not finite.all():
        finite = np.isfinite(A).all(axis=0)
    if not finite.all():
        labels = names + [rhs.variables[k].r_name for k in rhs.offsets]
        bad = [f"{labels[j]} ({int(np.sum(~np.isfinite(A[:, j])))} row(s))" for j in np.flatnonzero(~finite)]
        raise point_at(formula, *_span(formula, rhs), f"NaN or infinite values in the {what} after the formula's "
                       f"transformations: {', '.join(bad)} — e.g. log(0) or the log of a negative number; change the "
                       "transformation or drop those rows (lme4 refuses them too)")
    cat = tuple((rhs.variables[k].r_name, rhs.variables[k].categorical_of or
                 (k if not rhs.variables[k].function else ""), tuple(levels[k]))
                for k in sorted(categorical, key=lambda k: rhs.variables[k].position))
    cols = Columns(rhs=rhs, spec=spec, names=tuple(names), categorical=cat, assign=tuple(assign))
    off = A[:, len(names):].sum(axis=1) if n_off else None
    return cols, np.ascontiguousarray(A[:, :len(names)]), off
