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

from . import config
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
        rest_zz_pos = np.full(pt.diag_size, -1, dtype=config.index_dtype(m * m))
        sel = in_diag & (rest_pos[z1] >= 0) & (rest_pos[z1] >= rest_pos[z2])
        rest_zz_pos[sel] = rest_pos[z1[sel]] + rest_pos[z2[sel]] * m
        self.rest_zz_pos = rest_zz_pos
        self.rest_diag_zz = (z1 == z2).astype(np.int8)
        del z1, z2, in_diag
        self.rest_pos = rest_pos
        self._build_entries(*self._neighbours(rest_pos))
        self.key_offset = pt.key_offset
        self.keys_flat = pt.keys_flat
        self.S = np.zeros((m, m), order="F")
        self._factored = self._factored_T = None      # S's Cholesky factor (in S) and its T
        ia, ib = np.tril_indices(p)
        self._xx = (col + ia, col + ib)

    def _neighbours(self, rest_pos):
        """The pair-block entries that touch s, sorted by level of s (stable): (level of s, column of the
        other level's first effect in S, its r, offset in zz, transposed block?, other term).  Compact
        dtypes, filled in chunks: at 10⁸ rows a crossed design has about 8 × 10⁷ such entries."""
        pt, s = self.pattern, self.s
        sel = [i for i in range(len(pt.pair_keys)) if s in (int(pt.pair_k[i]), int(pt.pair_l[i]))]
        n = int(sum(len(pt.pair_keys[i]) for i in sel))
        level = np.empty(n, dtype=np.int32)
        col = np.empty(n, dtype=np.int32)
        off = np.empty(n, dtype=config.index_dtype(pt.size))
        rr = np.empty(n, dtype=np.int8)
        trans = np.empty(n, dtype=np.int8)
        term = np.empty(n, dtype=np.int16)
        at, chunk = 0, 1 << 22
        for i in sel:
            keys = pt.pair_keys[i]
            k, l = int(pt.pair_k[i]), int(pt.pair_l[i])
            other = l if k == s else k
            width = int(pt.r[k] * pt.r[l])
            for c0 in range(0, len(keys), chunk):
                kc = keys[c0:c0 + chunk]
                jk, jl = np.divmod(kc, pt.J[l])
                other_level, lev = (jl, jk) if k == s else (jk, jl)
                dst = slice(at + c0, at + c0 + len(kc))
                level[dst] = lev
                col[dst] = rest_pos[pt.q_offset[other] + other_level * pt.r[other]]
                off[dst] = pt.pair_offset[i] + np.arange(c0, c0 + len(kc), dtype=np.int64) * width
            rr[at:at + len(keys)] = pt.r[other]
            trans[at:at + len(keys)] = k != s
            term[at:at + len(keys)] = other
            at += len(keys)
        if n > 1 and np.any(level[1:] < level[:-1]):
            order = np.argsort(level, kind="stable")
            level, col, off, rr, trans, term = (a[order] for a in (level, col, off, rr, trans, term))
            del order
        return level, col, off, rr, trans, term

    def _build_entries(self, level, col, off, rr, trans, term) -> None:
        """Per level of s, its expanded coupling entries (other terms' columns, then X and y) sorted by
        column of S.  Stored compactly (int32 / int8; int64 only for offsets into zz); no sort when
        the neighbours already come in (level, column) order (one other term: the usual crossed design)."""
        pt, s, p = self.pattern, self.s, self.p
        J_s = int(pt.J[s])
        qR = self.qR
        if rr.shape[0] and np.any(rr != 1):                           # expand r_l > 1 into r_l entries
            rep = np.repeat(np.arange(len(rr)), rr)
            bcol = (np.arange(len(rep)) - np.repeat(np.cumsum(rr, dtype=np.int64) - rr, rr)).astype(np.int8)
            level, col, off, rl_e, trans, term = level[rep], col[rep] + bcol, off[rep], rr[rep], trans[rep], term[rep]
            del rep
        else:
            bcol = np.zeros(len(rr), dtype=np.int8)
            rl_e = rr
        npair = len(level)
        if npair > 1:
            same = level[1:] == level[:-1]
            if np.any(same & (col[1:] <= col[:-1])):                  # several other terms: sort by column
                order = np.lexsort((col, level))
                level, col, off, rl_e, bcol, trans, term = (a[order] for a in (level, col, off, rl_e, bcol, trans, term))
                del order
            del same
        per_level = np.bincount(level, minlength=J_s).astype(np.int64)
        self.lev_ptr = np.concatenate([[0], np.cumsum(per_level + p + 1)]).astype(np.int64)
        first = np.concatenate([[0], np.cumsum(per_level)])            # first neighbour of each level
        total = int(self.lev_ptr[-1])
        pos = self.lev_ptr[level] + (np.arange(npair) - first[level])  # neighbours, then X and y, per level
        xy = (self.lev_ptr[1:] - (p + 1))[:, None] + np.arange(p + 1)
        xy = xy.reshape(-1)
        del first

        def fill(dtype, pair_values, xy_values, pos=pos, xy=xy):
            out = np.empty(total, dtype=dtype)
            out[pos] = pair_values
            out[xy] = xy_values
            return out

        self.ent_col = fill(np.int32, col, np.tile(qR + np.arange(p + 1), J_s))
        del col
        self.ent_kind = fill(np.int8, 0, np.tile(np.r_[np.ones(p), 2], J_s))
        self.ent_off = fill(off.dtype, off, 0)
        self.ent_rl = fill(np.int8, rl_e, 0)
        self.ent_b = fill(np.int8, bcol, 0)
        self.ent_trans = fill(np.int8, trans, 0)
        self.ent_term = fill(np.int16, term, 0)
        self.ent_xcol = fill(np.int8, 0, np.tile(np.r_[np.arange(p), 0], J_s))
        del pos, xy, level, off, rl_e, bcol, trans, term
        width = max(8, PANEL_BYTES // (8 * self.m))        # columns per panel
        panel = self.ent_col // width                      # entries are in level order: keep it
        by_panel = np.argsort(panel, kind="stable")
        self.panel_ptr = np.searchsorted(panel[by_panel], np.arange(-(-self.m // width) + 1)).astype(np.int64)
        self.panel_ent = by_panel.astype(config.index_dtype(len(by_panel)))
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
