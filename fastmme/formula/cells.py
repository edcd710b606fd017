"""The fixed part's terms as lmerTest's Type III contrasts need them: each term's cell design (R's
``model.matrix(~ 0 + term)``: every level of every factor by dummy variables, times the term's
numeric variables; lmerTest's "rank-deficient" X, get_rdX) and which terms contain which (lmerTest's
containment: the variables R's terms() codes by contrasts, a factors entry of 1, and the same numeric
variables).

    cells = cell_design(columns, kept)        # CellDesign: sparse (n × m) matrix, R's names, term of each column
    contains = containment(columns)          # term label → labels of the terms that contain it

Tests: tests/test_anova_type3.py (against lmerTest's anova, tests/fixtures/anova_type3.json).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from formulaic import ModelSpec
from formulaic.formula import SimpleFormula
from formulaic.parser.types import Term as FTerm

from .columns import Columns, r_column_names
from .rsyntax import _factor
from .rtransforms import CONTEXT

MATRIX_VALUED = ("poly", "scale")      # R's dataClasses calls them "nmatrix.k", not "numeric"


@dataclass(frozen=True)
class CellDesign:
    matrix: sp.csc_matrix    # n × m, the intercept's column of ones first when the model has one
    names: tuple             # R's column names: "(Intercept)", "recipeA", "recipeA:temperature175", "Days:grpg0"
    term: tuple              # per column, the index of its term in columns.rhs.terms (−1: the intercept)


def term_labels(columns: Columns) -> list:
    """R's term labels of the fixed part ("recipe", "recipe:temperature"), in R's order."""
    return [columns.rhs.label(t) for t in columns.rhs.terms]


def _categorical(columns: Columns) -> set:
    return {k for k, (kind, _) in columns.spec.encoder_state.items() if kind.value == "categorical"}


def cell_design(columns: Columns, kept: pd.DataFrame) -> CellDesign:
    """lmerTest's get_rdX on the rows the fit used, with the fit's levels and transform state."""
    rhs, enc = columns.rhs, columns.spec.encoder_state
    categorical = _categorical(columns)
    blocks, names, term = [], [], []
    if rhs.intercept:
        blocks.append(sp.csc_matrix(np.ones((len(kept), 1))))
        names.append("(Intercept)")
        term.append(-1)
    for j, t in enumerate(rhs.terms):
        f = SimpleFormula([FTerm([_factor(rhs.variables[k]) for k in t])], _ordering="none")
        spec = ModelSpec(formula=f, na_action="ignore", ensure_full_rank=False, output="sparse",
                         transform_state=copy.deepcopy(columns.spec.transform_state),
                         encoder_state={k: v for k, v in enc.items() if k in t})
        mm = spec.get_model_matrix(kept, context=CONTEXT)
        entry = [e for e in mm.model_spec.structure if str(e.term) != "1"]
        levels = {k: list(enc[k][1].get("categories", [])) for k in t if k in categorical}
        names += r_column_names(rhs, t, entry[0].columns, {k: False for k in levels}, levels)
        blocks.append(sp.csc_matrix(mm, dtype=np.float64))
        term += [j] * blocks[-1].shape[1]
    return CellDesign(matrix=sp.hstack(blocks, format="csc"), names=tuple(names), term=tuple(term))


def containment(columns: Columns) -> dict:
    """lmerTest's containment: for each term, the terms that contain it — their contrast-coded
    variables (R's terms() factors entry 1: the term without the variable is empty or within an
    earlier term) a strict superset of its own, with the same numeric variables."""
    rhs = columns.rhs
    categorical = _categorical(columns)
    coded = []
    for j, t in enumerate(rhs.terms):
        coded.append({k for k in t if len(t) == 1 or any(set(t) - {k} <= set(p) for p in rhs.terms[:j])})

    def numeric(vs):
        return {k for k in vs if k not in categorical and rhs.variables[k].function not in MATRIX_VALUED}

    labels = term_labels(columns)
    out = {}
    for a, va in zip(labels, coded):
        out[a] = [b for b, vb in zip(labels, coded) if va <= vb and vb - va and numeric(va) == numeric(vb)]
    return out
