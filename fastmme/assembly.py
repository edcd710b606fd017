"""Assemble the cross-product blocks of the mixed-model equations in one pass over the rows.

`Blocks` holds every row-sum the fit needs; blocks of disjoint row chunks add up with `+`, which is
how distributed assembly combines partitions.  After this stage the rows are never read again.
Tests: tests/test_assembly.py.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .kernels.assemble import assemble_rows
from .pattern import ZtZPattern


@dataclass(frozen=True)
class Blocks:
    zz: np.ndarray     # ZᵀWZ values in the pattern layout
    ZtX: np.ndarray    # (q, p)
    Zty: np.ndarray    # (q,)
    XtX: np.ndarray    # (p, p) symmetric
    Xty: np.ndarray    # (p,)
    yty: float
    sum_log_w: float
    n: int

    def __add__(self, other: "Blocks") -> "Blocks":
        return Blocks(self.zz + other.zz, self.ZtX + other.ZtX, self.Zty + other.Zty,
                      self.XtX + other.XtX, self.Xty + other.Xty, self.yty + other.yty,
                      self.sum_log_w + other.sum_log_w, self.n + other.n)


def stack_terms(terms):
    """(codes (K, n) int32, zcat (n, R) float64): the terms' level codes and model columns."""
    codes = np.ascontiguousarray(np.vstack([t.codes for t in terms]).astype(np.int32))
    zcat = np.ascontiguousarray(np.hstack([t.zmatrix() for t in terms]))
    return codes, zcat


def assemble(pattern: ZtZPattern, codes, zcat, X, y, w, pair_rows=None) -> Blocks:
    """Cross-products of the given rows laid out on `pattern` (which must cover them).  pair_rows: the
    rows' pair indices if known (ZtZPattern.from_codes(..., with_rows=True)), else located here."""
    p = X.shape[1]
    q = pattern.q
    zz = np.zeros(pattern.size)
    ZtX = np.zeros((q, p))
    Zty = np.zeros(q)
    XtX = np.zeros((p, p))
    Xty = np.zeros(p)
    scalars = np.zeros(3)
    if pair_rows is None:
        pair_rows = pattern.locate(codes)
    assemble_rows(codes, zcat, np.ascontiguousarray(X, dtype=np.float64), np.asarray(y, np.float64),
                  np.asarray(w, np.float64), pattern.r, pattern.z_offset, pattern.q_offset,
                  pattern.diag_offset, pattern.pair_k, pattern.pair_l, pattern.pair_offset, pair_rows,
                  zz, ZtX, Zty, XtX, Xty, scalars)
    XtX = np.tril(XtX) + np.tril(XtX, -1).T
    return Blocks(zz, ZtX, Zty, XtX, Xty, float(scalars[0]), float(scalars[1]), int(scalars[2]))
