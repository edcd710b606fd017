"""Evaluate the criterion through a dense Schur complement (an alternative to CHOLMOD per θ).

For crossed designs the part of the factor left after the term with most levels is eliminated is
dense (InstEval's lecturers, the 2,000-level factor of a million-row design).  There LAPACK's dense
Cholesky of S = M_RR − Σ_j G_jᵀ A_j⁻¹ G_j beats a general sparse factorisation.  The term with most
random effects (block diagonal in ZᵀWZ) is eliminated level by level in a Numba kernel
(kernels/schur.py); S holds the other terms, X and y, densely, in that order, so its pivots give
the rest of ldL2, then ldRX2 and r².  `fastmme.objective` times both evaluators at the start and
keeps the faster.  Tests: tests/test_schur.py.
"""
from __future__ import annotations

import numpy as np
from scipy.linalg import lapack

from .assembly import Blocks
from .kernels.gradient import NCHUNK, inverse_columns, level_gradient, rest_gradient, symmetrize
from .kernels.schur import (downdate_panels, fill_rest, level_backward, level_factors, level_forward,
                            pair_blocks_rest)
from .pattern import ZtZPattern

MAX_DENSE = 8000          # largest S (m × m doubles: 512 MB) this evaluator will allocate
MAX_DENSE_P = 100         # most fixed effects: every level of s carries all of X (many: CHOLMOD's sparse X)
PANEL_BYTES = 512 << 10   # column panel of S owned by one thread (fits in a core's L2; measured)


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
        rest_zz_pos = np.full(pt.diag_size, -1, dtype=np.int32 if m * m < 2**31 else np.int64)
        sel = in_diag & (rest_pos[z1] >= 0) & (rest_pos[z1] >= rest_pos[z2])
        rest_zz_pos[sel] = rest_pos[z1[sel]] + rest_pos[z2[sel]] * m
        self.rest_zz_pos = rest_zz_pos
        self.rest_diag_zz = (z1 == z2).astype(np.int8)
        del z1, z2, in_diag
        self.rest_pos = rest_pos
        # neighbours of each level of s among the other terms' levels (from the pair blocks)
        lv, cols, rr, offs, trans, terms = [], [], [], [], [], []
        for i, keys in enumerate(pt.pair_keys):
            k, l = int(pt.pair_k[i]), int(pt.pair_l[i])
            if s not in (k, l):
                continue
            jk, jl = np.divmod(keys, pt.J[l])
            other, other_level, level = (l, jl, jk) if k == s else (k, jk, jl)
            lv.append(level)
            cols.append(rest_pos[pt.q_offset[other] + other_level * pt.r[other]])
            rr.append(np.full(len(keys), pt.r[other]))
            offs.append(pt.pair_offset[i] + np.arange(len(keys)) * pt.r[k] * pt.r[l])
            trans.append(np.full(len(keys), k != s, dtype=np.int8))
            terms.append(np.full(len(keys), other))
        cat = (lambda a, dt: np.concatenate(a).astype(dt) if a else np.zeros(0, dt))
        level = cat(lv, np.int64)
        order = np.argsort(level, kind="stable")
        nb = dict(ptr=np.searchsorted(level[order], np.arange(pt.J[s] + 1)).astype(np.int64),
                  col=cat(cols, np.int64)[order], r=cat(rr, np.int64)[order], off=cat(offs, np.int64)[order],
                  trans=cat(trans, np.int8)[order], term=cat(terms, np.int64)[order])
        del level, order, lv, cols, rr, offs, trans, terms
        self._build_entries(nb)
        self.key_offset = pt.key_offset
        self.keys_flat = pt.keys_flat
        self.S = np.zeros((m, m), order="F")
        self._factored = self._factored_T = None      # S's Cholesky factor (in S) and its T
        ia, ib = np.tril_indices(p)
        self._xx = (col + ia, col + ib)

    def _build_entries(self, nb) -> None:
        """Per level of s, its expanded coupling entries (other terms' columns, X, y) sorted by column of S.
        Stored compactly (int32 / int8; int64 only for offsets into zz)."""
        pt, s, p = self.pattern, self.s, self.p
        J_s = int(pt.J[s])
        qR = self.qR
        level_of_nb = np.repeat(np.arange(J_s), np.diff(nb["ptr"]))
        rl = nb["r"]
        rep = np.repeat(np.arange(len(rl)), rl)                       # nb entry of each expanded entry
        bcol = np.arange(len(rep)) - np.repeat(np.cumsum(rl) - rl, rl)
        level = np.concatenate([level_of_nb[rep], np.repeat(np.arange(J_s), p + 1)])
        column = np.concatenate([nb["col"][rep] + bcol, np.tile(qR + np.arange(p + 1), J_s)])
        order = np.lexsort((column, level))
        i32, extra = np.int32, J_s * (p + 1)

        def take(a, b, dt):
            return np.concatenate([np.asarray(a, dt), np.asarray(b, dt)])[order]

        self.ent_col = column[order].astype(i32)
        self.lev_ptr = np.searchsorted(level[order], np.arange(J_s + 1)).astype(np.int64)
        del level, column
        self.ent_kind = take(np.zeros(len(rep)), np.tile(np.r_[np.ones(p), 2], J_s), np.int8)
        self.ent_off = take(nb["off"][rep], np.zeros(extra), np.int64 if pt.size >= 2**31 else i32)
        self.ent_rl = take(rl[rep], np.zeros(extra), np.int8)
        self.ent_b = take(bcol, np.zeros(extra), np.int8)
        self.ent_trans = take(nb["trans"][rep], np.zeros(extra), np.int8)
        self.ent_term = take(nb["term"][rep], np.zeros(extra), np.int16)
        self.ent_xcol = take(np.zeros(len(rep)), np.tile(np.r_[np.arange(p), 0], J_s), np.int8)  # p ≤ 100
        width = max(8, PANEL_BYTES // (8 * self.m))        # columns per panel
        panel = self.ent_col // width                      # entries are in level order: keep it
        by_panel = np.argsort(panel, kind="stable")
        self.panel_ptr = np.searchsorted(panel[by_panel], np.arange(-(-self.m // width) + 1)).astype(np.int64)
        self.panel_ent = by_panel.astype(np.int32 if len(by_panel) < 2**31 else np.int64)
        del panel, by_panel
        self.ent_level = np.repeat(np.arange(J_s, dtype=np.int32), np.diff(self.lev_ptr))
        # level pairs against S's size: ≥ 1 means S is almost surely dense (a crossed design)
        self.pair_fraction = float(np.sum(np.diff(self.lev_ptr).astype(np.float64) ** 2) / (self.m * self.m))
        self.W = np.empty((len(self.ent_col), int(pt.r[s])))     # entry-major: an entry's r_s values together
        self.ld = np.empty(J_s)
        self.Lf = np.empty((J_s, int(pt.r[s]), int(pt.r[s])))

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

    def gradient(self, T_flat, t_offset, reml: bool) -> np.ndarray:
        """∂(criterion)/∂T (flat, T's layout) at the T of the last successful `evaluate` (which this
        uses and then invalidates): the selected inverse of M from S⁻¹ (LAPACK dpotri) and the level
        factors, then kernels/gradient.py.  The criterion's constant terms do not matter."""
        pt, b = self.pattern, self.blocks
        qR, p = self.qR, self.p
        Sinv, info = lapack.dpotri(self._factored, lower=1, overwrite_c=1)
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
        V = np.empty_like(self.W)
        inverse_columns(self.W, self.ent_col, self.ent_level, self.lev_ptr, self.panel_ptr, self.panel_ent,
                        Sinv, V)
        G = np.empty((NCHUNK, T_flat.shape[0]))
        level_gradient(b.zz, b.ZtX, b.Zty, T_flat, t_offset, pt.r, pt.q_offset, pt.diag_offset, self.s,
                       self.lev_ptr, self.ent_col, self.ent_kind, self.ent_off, self.ent_rl, self.ent_b,
                       self.ent_trans, self.ent_term, self.ent_xcol, self.W, V, self.Lf, Y, C, G)
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
        S[self._xx] = b.XtX[np.tril_indices(p)]
        S[qR + p, qR:qR + p] = b.Xty
        S[qR + p, qR + p] = b.yty
        level_factors(b.zz, b.ZtX, b.Zty, T_flat, t_offset, pt.r, pt.q_offset, pt.diag_offset, self.s,
                      self.lev_ptr, self.ent_kind, self.ent_off, self.ent_rl, self.ent_b, self.ent_trans,
                      self.ent_term, self.ent_xcol, self.W, self.ld, self.Lf)
        ld_s = float(np.sum(self.ld))
        downdate_panels(self.W, self.ent_col, self.ent_level, self.lev_ptr, self.panel_ptr, self.panel_ent, S)
        c, info = lapack.dpotrf(S, lower=1, clean=0, overwrite_a=1)
        if info != 0:
            return None
        d = np.diag(c) ** 2
        if not np.all(d > 0) or not np.isfinite(ld_s):
            return None
        self._factored, self._factored_T = c, np.array(T_flat, copy=True)
        return (ld_s + float(np.sum(np.log(d[:qR]))), float(np.sum(np.log(d[qR:qR + p]))), float(d[-1]))
