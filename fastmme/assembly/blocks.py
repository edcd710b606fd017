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

from ..linalg.kernels.assemble import assemble_response_rows, assemble_rows
from ..linalg.kernels.pairs import merge_sorted, union_size
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


def with_response(blocks: Blocks, pattern: ZtZPattern, codes, zcat, X, y, w) -> Blocks:
    """`blocks` for another response y over the same rows: ZᵀWy, XᵀWy and yᵀWy summed again (one compiled
    pass, the numbers `assemble` would give), the y-free blocks shared, not copied (a parametric
    bootstrap's replicate: only y changes)."""
    Zty, Xty, scalars = np.zeros(pattern.q), np.zeros(X.shape[1]), np.zeros(1)
    assemble_response_rows(codes, zcat, np.ascontiguousarray(X, dtype=np.float64), np.asarray(y, np.float64),
                           np.asarray(w, np.float64), pattern.r, pattern.z_offset, pattern.q_offset,
                           Zty, Xty, scalars)
    return Blocks(blocks.zz, blocks.ZtX, Zty, blocks.XtX, Xty, float(scalars[0]), blocks.sum_log_w, blocks.n)


@dataclass(frozen=True)
class PartialBlocks:
    """Blocks of a row chunk on the chunk's own pattern: per pair of terms the chunk's sorted level-pair
    keys, and zz in the pattern layout (the diagonal blocks of every level, then each pair's (m, r_k r_l)
    values), so that the sum of all chunks is the fit's zz without a copy."""
    r: np.ndarray
    J: np.ndarray
    keys: tuple
    zz: np.ndarray
    ZtX: np.ndarray
    Zty: np.ndarray
    XtX: np.ndarray
    Xty: np.ndarray
    yty: float
    sum_log_w: float
    n: int

    @property
    def diag_size(self) -> int:
        return int(np.sum(self.J * self.r * self.r))

    def values(self) -> list:
        """Per pair, its (m, r_k r_l) view of zz."""
        out, at = [], self.diag_size
        for (k, l), keys in zip(self._pairs(), self.keys):
            width = int(self.r[k] * self.r[l])
            out.append(self.zz[at:at + len(keys) * width].reshape(len(keys), width))
            at += len(keys) * width
        return out

    def _pairs(self):
        K = len(self.r)
        return [(k, l) for k in range(K) for l in range(k + 1, K)]

    @staticmethod
    def from_rows(r, J, codes, zcat, X, y, w) -> "PartialBlocks":
        pattern, rows = ZtZPattern.from_codes(codes, r, J, with_rows=True)
        b = assemble(pattern, codes, zcat, X, y, w, rows)
        return PartialBlocks(pattern.r, pattern.J, tuple(np.array(k) for k in pattern.pair_keys), b.zz, b.ZtX,
                             b.Zty, b.XtX, b.Xty, b.yty, b.sum_log_w, b.n)

    def __add__(self, other: "PartialBlocks") -> "PartialBlocks":
        d = self.diag_size
        sizes = [union_size(ka, kb) for ka, kb in zip(self.keys, other.keys)]
        widths = [int(self.r[k] * self.r[l]) for k, l in self._pairs()]
        zz = np.empty(d + sum(m * wd for m, wd in zip(sizes, widths)))
        np.add(self.zz[:d], other.zz[:d], out=zz[:d])
        keys, at = [], d
        for ka, va, kb, vb, m, wd in zip(self.keys, self.values(), other.keys, other.values(), sizes, widths):
            out = np.empty(m, dtype=ka.dtype)
            merge_sorted(ka, va, kb, vb, out, zz[at:at + m * wd].reshape(m, wd))
            keys.append(out)
            at += m * wd
        return PartialBlocks(self.r, self.J, tuple(keys), zz, self.ZtX + other.ZtX, self.Zty + other.Zty,
                             self.XtX + other.XtX, self.Xty + other.Xty, self.yty + other.yty,
                             self.sum_log_w + other.sum_log_w, self.n + other.n)

    def finish(self):
        """(pattern, Blocks) of all the rows added up (zz is shared, not copied)."""
        pattern = ZtZPattern.build(self.r, self.J, list(self.keys))
        return pattern, Blocks(self.zz, self.ZtX, self.Zty, self.XtX, self.Xty, self.yty, self.sum_log_w, self.n)
