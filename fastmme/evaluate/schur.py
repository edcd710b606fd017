"""Evaluate the criterion through a dense Schur complement (an alternative to CHOLMOD per θ).

For crossed designs the part of the factor left after the term with most levels is eliminated is
dense (InstEval's lecturers, the 2,000-level factor of a million-row design).  There LAPACK's dense
Cholesky of S = M_RR − Σ_j G_jᵀ A_j⁻¹ G_j beats a general sparse factorisation.  The term with most
random effects (block diagonal in ZᵀWZ) is eliminated level by level in a Numba kernel
(kernels/schur.py); S holds the other terms, X and y, densely, in that order, so its pivots give
the rest of ldL2, then ldRX2 and r².  `fastmme.evaluate.objective` uses it for crossed designs and, when S is
likely sparse, keeps the evaluator whose estimated cost (from counts: level pairs, S's size, the
sparse factor's column counts) is lower.  Tests: tests/test_schur.py.
"""
from __future__ import annotations

import numba
import numpy as np
from scipy.linalg import lapack

from .. import config
from ..assembly.blocks import Blocks
from ..linalg.kernels.gradient import (NCHUNK, inverse_columns, level_gradient, level_inverses, rest_gradient,
                                      symmetrize)
from ..linalg.kernels.schur import (count_entries, downdate_panels, downdate_panels_serial, fill_entries, fill_rest,
                                    level_backward, level_factors, level_factors_serial, level_forward,
                                    pair_blocks_rest, panel_segments)
from ..assembly.pattern import ZtZPattern

MAX_DENSE = 8000          # largest S (m × m doubles: 512 MB) this evaluator will allocate
MAX_DENSE_P = 100         # most fixed effects: every level of s carries all of X (many: CHOLMOD's sparse X)
PANEL_BYTES = 512 << 10   # column panel of S owned by one thread (fits in a core's L2; measured)
KEEP_FACTOR_BYTES = 64 << 20   # the gradient keeps S's factor up to this size (InstEval, m = 1,145: 10 MB)
V_BYTES = 8 << 20         # the gradient's V (like W) is computed for ranges of levels of about this size


def dense_size(pattern: ZtZPattern, p: int) -> int:
    s = int(np.argmax(pattern.r * pattern.J))
    return int(pattern.q - pattern.r[s] * pattern.J[s] + p + 1)


class DenseSchur:
    def __init__(self, pattern: ZtZPattern, blocks: Blocks):
        pt = pattern
        self.pattern, self.blocks = pt, blocks
        s = int(np.argmax(pt.r * pt.J))
        self.s = s
        p = blocks.ZtX.shape[1]
        q = pt.q
        rest_pos = np.full(q, -1, dtype=np.int64)
        col = 0
        for k in range(pt.K):
            if k == s:
                continue
            qk = int(pt.r[k] * pt.J[k])
            rest_pos[pt.q_offset[k]:pt.q_offset[k] + qk] = np.arange(col, col + qk)
            col += qk
        self.qR, self.p = col, p
        m = col + p + 1
        self.m = m
        z1, z2, in_diag = pt.entries(diag_only=True)         # fill_rest reads only diagonal blocks
        rest_zz_pos = np.full(pt.diag_size, -1, dtype=config.index_dtype(m * m))
        sel = in_diag & (rest_pos[z1] >= 0) & (rest_pos[z1] >= rest_pos[z2])
        rest_zz_pos[sel] = rest_pos[z1[sel]] + rest_pos[z2[sel]] * m
        self.rest_zz_pos = rest_zz_pos
        self.rest_diag_zz = (z1 == z2).astype(np.int8)
        del z1, z2, in_diag
        self.rest_pos = rest_pos
        self._build_entries(rest_pos)
        self.key_offset = pt.key_offset
        self.keys_flat = pt.keys_flat
        self.S = np.zeros((m, m), order="F")
        self._factored = self._factored_T = None      # S's Cholesky factor (in S) and its T
        ia, ib = np.tril_indices(p)
        self._xx = (col + ia, col + ib)
        self._xx_src = (ia, ib)                       # the lower triangle of XᵀX, read per evaluation

    def _build_entries(self, rest_pos) -> None:
        """Per level of s, its coupling entries sorted by column of S: the other terms' columns (one
        per (level pair, column of the other term's block)), then X's and y.  Kept per entry: the column
        (int32) and, unless term s meets a single other term as the first of the pair (the usual crossed
        design: then each level's blocks are consecutive in zz, lev_off), the block's offset in zz.
        Everything else follows from the column (col_term, col_b, term_trans).  Filled straight from the
        pattern's sorted keys, term after term, by two compiled passes: no sort and no per-entry
        temporaries (at 10⁸ rows a crossed design has about 8 × 10⁷ entries)."""
        pt, s, p = self.pattern, self.s, self.p
        J_s, rs = int(pt.J[s]), int(pt.r[s])
        qR, m = self.qR, self.m
        pairs = []                                    # (other term, pair, s first?), by other term
        for i in range(len(pt.pair_keys)):
            k, l = int(pt.pair_k[i]), int(pt.pair_l[i])
            if s in (k, l):
                pairs.append((l if k == s else k, i, k == s))
        pairs.sort()
        counts = np.zeros(J_s, dtype=np.int64)
        for other, i, s_first in pairs:
            count_entries(pt.pair_keys[i], int(pt.J[pt.pair_l[i]]), s_first, int(pt.r[other]), counts)
        self.lev_ptr = np.concatenate([[0], np.cumsum(counts + p + 1)]).astype(np.int64)
        total = int(self.lev_ptr[-1])
        contiguous = len(pairs) == 1 and pairs[0][2]
        ent_col = np.empty(total, dtype=np.int32)
        ent_off = np.empty(0 if contiguous else total, dtype=config.index_dtype(pt.size))
        cursor = self.lev_ptr[:-1].copy()
        for other, i, s_first in pairs:
            fill_entries(pt.pair_keys[i], int(pt.J[pt.pair_l[i]]), s_first, int(pt.r[other]),
                         int(rest_pos[pt.q_offset[other]]), int(pt.pair_offset[i]), rs * int(pt.r[other]),
                         cursor, ent_col, ent_off)
        xy = self.lev_ptr[1:] - (p + 1)
        for c in range(p + 1):
            ent_col[xy + c] = qR + c
        del cursor, xy
        if contiguous:
            other, i, _ = pairs[0]
            keys = pt.pair_keys[i]                      # values in the keys' dtype: no 64-bit copy of them
            first = np.searchsorted(keys, (np.arange(J_s, dtype=np.int64) * int(pt.J[other])).astype(keys.dtype))
            self.lev_off = int(pt.pair_offset[i]) + first * (rs * int(pt.r[other]))
        else:
            self.lev_off = np.zeros(0, dtype=np.int64)
        self.ent_col, self.ent_off = ent_col, ent_off
        col_term = np.full(qR, -1, dtype=np.int64)     # column of S → its term and column in the block
        col_b = np.zeros(qR, dtype=np.int64)
        for k in range(pt.K):
            if k == s:
                continue
            rk, qk = int(pt.r[k]), int(pt.r[k] * pt.J[k])
            cols = rest_pos[pt.q_offset[k]:pt.q_offset[k] + qk]
            col_term[cols] = k
            col_b[cols] = np.arange(qk) % rk
        self.col_term, self.col_b = col_term, col_b
        self.term_trans = np.zeros(pt.K, dtype=np.int64)    # 1: the pair block is stored as (other, s)
        for other, _, s_first in pairs:
            self.term_trans[other] = 0 if s_first else 1
        self.panel_width = width = max(8, PANEL_BYTES // (8 * m))      # columns per panel
        npanel = -(-m // width)
        seg_ptr = np.zeros(npanel + 1, dtype=np.int64)
        empty = np.zeros(0, dtype=np.int32)
        panel_segments(ent_col, self.lev_ptr, width, npanel, seg_ptr, empty, np.zeros(0, dtype=ent_off.dtype))
        np.cumsum(seg_ptr, out=seg_ptr)
        self.seg_ptr = seg_ptr
        self.seg_level = np.empty(int(seg_ptr[-1]), dtype=np.int32)
        self.seg_start = np.empty(int(seg_ptr[-1]), dtype=config.index_dtype(total))
        panel_segments(ent_col, self.lev_ptr, width, npanel, seg_ptr, self.seg_level, self.seg_start)
        # level pairs against S's size: ≥ 1 means S is almost surely dense (a crossed design)
        self.pair_fraction = float(np.sum(np.diff(self.lev_ptr).astype(np.float64) ** 2) / (m * m))
        self.W = None                                  # workspace (entries × r_s): made by evaluate
        self.ld = np.empty(J_s)
        self.Lf = np.empty((J_s, rs, rs))

    def _entries(self):
        """The entry description the level kernels take."""
        return (self.lev_ptr, self.ent_col, self.ent_off, self.lev_off, self.col_term, self.col_b, self.term_trans)

    def _panels(self):
        """The column panels the downdate and inverse_columns take."""
        return (self.ent_col, self.lev_ptr, self.panel_width, self.seg_ptr, self.seg_level, self.seg_start)

    def release(self) -> None:
        """Free the workspace (W: 8 bytes per entry and column of s; at 10⁸ rows of a crossed design
        0.6 GB) and the factor of S; the next evaluation makes them again."""
        self.W = None
        self._factored = None

    def set_blocks(self, blocks: Blocks) -> None:
        self.blocks = blocks
        self._factored = None

    def solve(self, T_flat, t_offset, B: np.ndarray) -> np.ndarray:
        """M_aug⁻¹ B at T, for B with rows in the model's order (u by term and level, then X, then y)."""
        if self._factored is None or not np.array_equal(T_flat, self._factored_T):
            if self.evaluate(T_flat, t_offset) is None:
                raise np.linalg.LinAlgError("not positive definite")
        pt, s = self.pattern, self.s
        rs, J_s = int(pt.r[s]), int(pt.J[s])
        B = np.asarray(B, dtype=np.float64).reshape(B.shape[0], -1)
        q, k = pt.q, B.shape[1]
        s_rows = slice(int(pt.q_offset[s]), int(pt.q_offset[s]) + rs * J_s)
        rest = np.flatnonzero(self.rest_pos >= 0)
        Bs = np.array(B[s_rows].reshape(J_s, rs, k), order="C")     # a copy: the caller keeps B
        BR = np.empty((self.m, k))
        BR[self.rest_pos[rest]] = B[rest]
        BR[self.qR:] = B[q:]
        level_forward(self.Lf, self.W, self.ent_col, self.lev_ptr, Bs, BR)
        XR, info = lapack.dpotrs(self._factored, BR, lower=1)
        level_backward(self.Lf, self.W, self.ent_col, self.lev_ptr, Bs, XR)
        out = np.empty_like(B)
        out[s_rows] = Bs.reshape(rs * J_s, k)
        out[rest] = XR[self.rest_pos[rest]]
        out[q:] = XR[self.qR:]
        return out

    def inverse_parts(self, T_flat, t_offset):
        """M⁻¹ at T where the levels of a row meet (the Laplace gradient, conditional variances), without
        CHOLMOD: (S⁻¹ (m × m, full), M⁻¹_jj (J_s, r_s, r_s) at term s's levels, U (entries × r_s): M⁻¹ between
        each level of s and the columns of S at its entries, in W's layout), from the formulas of
        kernels/gradient.py.  S's factor is kept (dpotri into a new array)."""
        if self._factored is None or not np.array_equal(T_flat, self._factored_T):
            if self.evaluate(T_flat, t_offset) is None:
                raise np.linalg.LinAlgError("not positive definite")
        Sinv, info = lapack.dpotri(self._factored, lower=1, overwrite_c=0)
        if info != 0:
            raise np.linalg.LinAlgError("dpotri failed")
        symmetrize(Sinv)
        J_s, rs = self.lev_ptr.shape[0] - 1, self.W.shape[1]
        V = np.empty_like(self.W)
        inverse_columns(self.W, *self._panels(), Sinv, V, 0, J_s)
        U = np.empty_like(self.W)
        Mjj = np.empty((J_s, rs, rs))
        level_inverses(self.Lf, self.W, V, self.lev_ptr, U, Mjj)
        return Sinv, Mjj, U

    def gradient(self, T_flat, t_offset, reml: bool) -> np.ndarray:
        """∂(criterion)/∂T (flat, T's layout) at the T of the last successful `evaluate` (which this
        uses, and invalidates for an S above KEEP_FACTOR_BYTES): the selected inverse of M from S⁻¹ (LAPACK dpotri) and the level
        factors, then kernels/gradient.py.  The criterion's constant terms do not matter."""
        pt, b = self.pattern, self.blocks
        qR, p = self.qR, self.p
        # S⁻¹ in S's own storage (the factor is lost), or, for an S of at most KEEP_FACTOR_BYTES, in a new
        # array, so that the solves after the last gradient (the result's, at θ̂) need no refactorisation
        keep = self._factored.nbytes <= KEEP_FACTOR_BYTES
        Sinv, info = lapack.dpotri(self._factored, lower=1, overwrite_c=0 if keep else 1)
        if not keep:
            self._factored = None
        if info != 0:
            raise np.linalg.LinAlgError("dpotri failed")
        Y = np.empty((self.m, p + 1))
        Y[:qR] = Sinv[qR:, :qR].T
        H = np.tril(Sinv[qR:, qR:])
        H = H + np.tril(H, -1).T
        Y[qR:] = H
        C = np.zeros((p + 1, p + 1))
        if reml:                       # log|M| + (n − p − 1) log r²,  r² = 1 / H[y, y]
            C[p, p] = (b.n - p - 1) / H[p, p]
        else:                          # log|M| + log|H| + n log r²
            C = -np.linalg.inv(H)
            C[p, p] += b.n / H[p, p]
        symmetrize(Sinv)
        G = np.empty((NCHUNK, T_flat.shape[0]))
        # V = W S⁻¹ on each level's columns, for one range of levels at a time (ranges of whole chunks
        # of level_gradient: the sums, and so the result, are the same for any number of ranges)
        J_s, lev = self.lev_ptr.shape[0] - 1, self.lev_ptr
        nrange = 1                     # ... keeping 2 chunks per thread in each range (level_gradient's prange)
        most = max(1, NCHUNK // (2 * numba.get_num_threads()))
        while nrange < most and self.W.nbytes > nrange * V_BYTES:
            nrange *= 2
        bounds = [(i * NCHUNK // nrange, (i + 1) * NCHUNK // nrange) for i in range(nrange)]
        longest = max(int(lev[c1 * J_s // NCHUNK] - lev[c0 * J_s // NCHUNK]) for c0, c1 in bounds)
        V = np.empty((longest, self.W.shape[1]))
        for c0, c1 in bounds:
            j0, j1 = c0 * J_s // NCHUNK, c1 * J_s // NCHUNK
            inverse_columns(self.W, *self._panels(), Sinv, V, j0, j1)
            level_gradient(b.zz, b.ZtX, b.Zty, T_flat, t_offset, pt.r, pt.q_offset, pt.diag_offset, self.s,
                           *self._entries(), self.W, V, self.Lf, Y, C, G, c0, c1)
        del V
        g = G.sum(axis=0)
        rest_gradient(b.zz, b.ZtX, b.Zty, T_flat, t_offset, pt.r, pt.J, pt.q_offset, pt.diag_offset, self.s,
                      self.rest_pos, pt.pair_k, pt.pair_l, pt.pair_offset, self.keys_flat, self.key_offset,
                      Sinv, Y, Y @ C, g)
        return g

    def evaluate(self, T_flat, t_offset):
        """(ldL2, ldRX2, pwrss), or None when S is not numerically positive definite."""
        self._factored = None
        pt, b, S = self.pattern, self.blocks, self.S
        fill_rest(b.zz, b.ZtX, b.Zty, T_flat, t_offset, pt.r, pt.J, pt.q_offset, pt.diag_offset, self.s,
                  self.rest_pos, self.rest_zz_pos, self.rest_diag_zz, S)
        pair_blocks_rest(b.zz, T_flat, t_offset, pt.r, pt.pair_k, pt.pair_l, pt.pair_offset, self.keys_flat,
                         self.key_offset, pt.J, pt.q_offset, self.rest_pos, self.s, S)
        qR, p = self.qR, self.p
        S[self._xx] = b.XtX[self._xx_src]
        S[qR + p, qR:qR + p] = b.Xty
        S[qR + p, qR + p] = b.yty
        if self.W is None:                              # entry-major: an entry's r_s values together
            self.W = np.empty((int(self.lev_ptr[-1]), int(pt.r[self.s])))
        # on one Numba thread (a GLMM's small systems: fastmme.optimize.glmm.kernel_threads) the serial
        # kernels, which skip starting a parallel region (cbpp: 17 % of a PIRLS step); the same numbers
        serial = numba.get_num_threads() == 1
        (level_factors_serial if serial else level_factors)(
            b.zz, b.ZtX, b.Zty, T_flat, t_offset, pt.r, pt.q_offset, pt.diag_offset, self.s, *self._entries(),
            self.W, self.ld, self.Lf)
        ld_s = float(np.sum(self.ld))
        (downdate_panels_serial if serial else downdate_panels)(self.W, *self._panels(), S)
        c, info = lapack.dpotrf(S, lower=1, clean=0, overwrite_a=1)
        if info != 0:
            return None
        d = np.diag(c) ** 2
        if not np.all(d > 0) or not np.isfinite(ld_s):
            return None
        self._factored, self._factored_T = c, np.array(T_flat, copy=True)
        return (ld_s + float(np.sum(np.log(d[:qR]))), float(np.sum(np.log(d[qR:qR + p]))), float(d[-1]))
