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
from .kernels.schur import downdate_panels, fill_rest, level_factors, pair_blocks_rest
from .pattern import ZtZPattern

MAX_DENSE = 8000          # largest S (m × m doubles: 512 MB) this evaluator will allocate
PANEL_BYTES = 2 << 20     # column panel of S updated by one thread (fits in cache)


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
        z1, z2, in_diag = pt.entries()
        rest_zz_pos = np.full(pt.size, -1, dtype=np.int32 if m * m < 2**31 else np.int64)
        sel = in_diag & (rest_pos[z1] >= 0) & (rest_pos[z1] >= rest_pos[z2])
        rest_zz_pos[sel] = rest_pos[z1[sel]] + rest_pos[z2[sel]] * m
        self.rest_zz_pos = rest_zz_pos
        self.rest_diag_zz = (z1 == z2).astype(np.int8)
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
        self.key_offset = np.concatenate([[0], np.cumsum([len(k) for k in pt.pair_keys])]).astype(np.int64)
        self.keys_flat = cat(list(pt.pair_keys), np.int64)
        self.S = np.zeros((m, m), order="F")
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
        self.ent_xcol = take(np.zeros(len(rep)), np.tile(np.r_[np.arange(p), 0], J_s), i32)
        width = max(16, PANEL_BYTES // (8 * self.m))       # columns per panel: ~2 MB of S
        self.panels = np.unique(np.r_[np.arange(0, self.m, width), self.m]).astype(np.int64)
        self.W = np.empty((int(pt.r[s]), len(self.ent_col)))
        self.ld = np.empty(J_s)

    def set_blocks(self, blocks: Blocks) -> None:
        self.blocks = blocks

    def evaluate(self, T_flat, t_offset):
        """(ldL2, ldRX2, pwrss), or None when S is not numerically positive definite."""
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
                      self.ent_term, self.ent_xcol, self.W, self.ld)
        ld_s = float(np.sum(self.ld))
        downdate_panels(self.W, self.ent_col, self.lev_ptr, self.panels, S)
        c, info = lapack.dpotrf(S, lower=1, clean=0, overwrite_a=1)
        if info != 0:
            return None
        d = np.diag(c) ** 2
        if not np.all(d > 0) or not np.isfinite(ld_s):
            return None
        return (ld_s + float(np.sum(np.log(d[:qR]))), float(np.sum(np.log(d[qR:qR + p]))), float(d[-1]))
