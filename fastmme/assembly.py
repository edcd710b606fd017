"""Assemble the cross-product blocks of the mixed-model equations in one pass over the rows.

`Blocks` holds every row-sum the fit needs; blocks of disjoint row chunks add up with `+`.  When
the chunks do not share a pattern (partitions of a Dask frame, each assembled on its own),
`PartialBlocks` carries each chunk's level pairs with their values and adds up by merging them, so
no chunk ever holds the whole ZᵀWZ pattern; `finish` gives the pattern and the Blocks.  After this
stage the rows are never read again.
Tests: tests/test_assembly.py.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .kernels.assemble import assemble_rows
from .kernels.pairs import merge_sorted
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


@dataclass(frozen=True)
class PartialBlocks:
    """Blocks of a row chunk on the chunk's own pattern: the diagonal blocks (every level, as in
    Blocks.zz), and per pair of terms the chunk's sorted level-pair keys with their (m, r_k r_l) values."""
    r: np.ndarray
    J: np.ndarray
    diag: np.ndarray
    keys: tuple
    values: tuple
    ZtX: np.ndarray
    Zty: np.ndarray
    XtX: np.ndarray
    Xty: np.ndarray
    yty: float
    sum_log_w: float
    n: int

    @staticmethod
    def from_rows(r, J, codes, zcat, X, y, w) -> "PartialBlocks":
        pattern, rows = ZtZPattern.from_codes(codes, r, J, with_rows=True)
        b = assemble(pattern, codes, zcat, X, y, w, rows)
        d = pattern.diag_size
        vals = tuple(b.zz[pattern.pair_offset[i]:pattern.pair_offset[i] + len(k) * int(r[pattern.pair_k[i]] * r[pattern.pair_l[i]])]
                     .reshape(len(k), -1) for i, k in enumerate(pattern.pair_keys))
        return PartialBlocks(pattern.r, pattern.J, b.zz[:d].copy(), tuple(np.array(k) for k in pattern.pair_keys),
                             tuple(v.copy() for v in vals), b.ZtX, b.Zty, b.XtX, b.Xty, b.yty, b.sum_log_w, b.n)

    def __add__(self, other: "PartialBlocks") -> "PartialBlocks":
        merged = [merge_sorted(ka, va, kb, vb) for ka, va, kb, vb in zip(self.keys, self.values, other.keys, other.values)]
        return PartialBlocks(self.r, self.J, self.diag + other.diag, tuple(m[0] for m in merged),
                             tuple(m[1] for m in merged), self.ZtX + other.ZtX, self.Zty + other.Zty,
                             self.XtX + other.XtX, self.Xty + other.Xty, self.yty + other.yty,
                             self.sum_log_w + other.sum_log_w, self.n + other.n)

    def finish(self):
        """(pattern, Blocks) of all the rows added up."""
        pattern = ZtZPattern.build(self.r, self.J, list(self.keys))
        zz = np.concatenate([self.diag] + [v.reshape(-1) for v in self.values])
        return pattern, Blocks(zz, self.ZtX, self.Zty, self.XtX, self.Xty, self.yty, self.sum_log_w, self.n)
