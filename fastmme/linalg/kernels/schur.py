"""Dense Schur complement of the augmented system after eliminating one term's block-diagonal part.

Term s (the one with most random effects) has ZₛᵀWZₛ block diagonal (one r×r block per level), so
its part of M = ΛᵀZᵀWZΛ + I (augmented with X and y) is eliminated level by level:
    S = M_RR − Σ_j G_jᵀ A_j⁻¹ G_j,   A_j = T_sᵀ B_jj T_s + I,   G_j = level j's coupling to the rest R
and S (the other terms, X and y; dense) is factorised by LAPACK.  log|M| = Σ_j log|A_j| + log|S|.
Reference: tests/test_schur.py (equal to the CHOLMOD evaluation).
"""
import numpy as np
from numba import njit, prange

from ...config import JIT
from .layout import diag_base, level_row, pair_block
from .small import congruence


@njit(**JIT)
def fill_rest(zz, ZtX, Zty, T, t_offset, r, J, q_offset, diag_offset, s, rest_pos, rest_zz_pos, rest_diag_zz, S):
    """Zero S (m × m, Fortran order) and write the other terms' diagonal blocks T_kᵀ B T_k (+ I) and
    their rows of ΛᵀZᵀWX, ΛᵀZᵀWy into its lower triangle.  rest_pos: u-index → column of S (−1 for
    term s); rest_zz_pos: for each zz entry, its flat position i + j·m in S (−1: not stored)."""
    m = S.shape[0]
    p = ZtX.shape[1]
    K = r.shape[0]
    qR = m - p - 1
    for j in range(m):
        for i in range(j, m):
            S[i, j] = 0.0
    rmax = r.max()       # largest block: buffers for the small dense products
    tmp = np.empty(rmax * rmax)
    out = np.empty(rmax * rmax)
    for k in range(K):
        if k == s:
            continue
        rk = r[k]
        to = t_offset[k]
        for j in range(J[k]):
            base = diag_base(diag_offset, k, j, rk)
            congruence(zz, base, T, to, rk, to, rk, tmp, out)
            for e in range(rk * rk):
                pos = rest_zz_pos[base + e]
                if pos >= 0:
                    S[pos % m, pos // m] = out[e] + (1.0 if rest_diag_zz[base + e] else 0.0)
            row0 = level_row(q_offset, k, j, rk)
            for a in range(rk):
                col = rest_pos[row0 + a]
                for c in range(p):
                    acc = 0.0
                    for d in range(rk):
                        acc += T[to + d * rk + a] * ZtX[row0 + d, c]
                    S[qR + c, col] = acc
                acc = 0.0
                for d in range(rk):
                    acc += T[to + d * rk + a] * Zty[row0 + d]
                S[qR + p, col] = acc


@njit(**JIT)
def pair_blocks_rest(zz, T, t_offset, r, pair_k, pair_l, pair_offset, pair_keys, key_offset, J, q_offset,
                     rest_pos, s, S):
    """T_kᵀ B T_l for the pair blocks among the other terms, written to the lower triangle of S."""
    rmax = r.max()       # largest block: buffers for the small dense products
    tmp = np.empty(rmax * rmax)
    out = np.empty(rmax * rmax)
    for pr in range(pair_k.shape[0]):
        k = pair_k[pr]
        l = pair_l[pr]
        if k == s or l == s:
            continue
        rk = r[k]
        rl = r[l]
        tk = t_offset[k]
        tl = t_offset[l]
        npr = key_offset[pr + 1] - key_offset[pr]
        for mm in range(npr):
            jk, jl, base = pair_block(pair_keys, key_offset, pair_offset, J[l], rk, rl, pr, mm)
            congruence(zz, base, T, tk, rk, tl, rl, tmp, out)
            for a in range(rk):
                ca = rest_pos[level_row(q_offset, k, jk, rk) + a]
                for b in range(rl):
                    cb = rest_pos[level_row(q_offset, l, jl, rl) + b]
                    acc = out[a * rl + b]
                    if ca >= cb:
                        S[ca, cb] = acc
                    else:
                        S[cb, ca] = acc


@njit(inline="always", **JIT)
def entry_block(e, e0, j, ce, rs, r, t_offset, ent_off, lev_off, col_term, col_b, term_trans):
    """Entry e (level j's entries start at e0; column ce of S, another term's) as (term l, r_l, start
    of T_l, offset of its block in zz, column of the block, stored transposed?).  The offset is stored
    per entry, or, when term s meets a single other term as the first of the pair (lev_off), follows
    from the key order: level j's blocks are consecutive there, one per r_l entries."""
    l = col_term[ce]
    rl = r[l]
    if ent_off.shape[0] > 0:
        off = ent_off[e]
    else:
        off = lev_off[j] + ((e - e0) // rl) * rs * rl
    return l, rl, t_offset[l], off, col_b[ce], term_trans[l]


@njit(**JIT)
def _level_range(zz, ZtX, Zty, T, t_offset, r, q_offset, diag_offset, s, lev_ptr, ent_col, ent_off, lev_off,
                 col_term, col_b, term_trans, W, j0, j1, ld, Lf):
    rs = r[s]
    ts = t_offset[s]
    qR = col_term.shape[0]
    p = ZtX.shape[1]
    A = np.empty((rs, rs))
    tmp = np.empty((rs, rs))
    buf = np.empty(rs * rs)
    out = np.empty(rs * rs)
    g = np.empty(rs)
    for j in range(j0, j1):
        logdet = 0.0
        base = diag_base(diag_offset, s, j, rs)
        congruence(zz, base, T, ts, rs, ts, rs, buf, out)          # A_j = T_sᵀ B_jj T_s + I
        for a in range(rs):
            for b in range(rs):
                A[a, b] = out[a * rs + b] + (1.0 if a == b else 0.0)
        for a in range(rs):
            d = A[a, a]
            for c in range(a):
                d -= A[a, c] * A[a, c]
            if not d > 0.0:
                logdet = -np.inf
                d = 1.0
            d = np.sqrt(d)
            A[a, a] = d
            logdet += 2.0 * np.log(d)
            for b in range(a + 1, rs):
                v = A[b, a]
                for c in range(a):
                    v -= A[b, c] * A[a, c]
                A[b, a] = v / d
        for a in range(rs):
            for b in range(rs):
                Lf[j, a, b] = A[a, b] if b <= a else 0.0
        row0 = level_row(q_offset, s, j, rs)
        e0 = lev_ptr[j]
        for e in range(e0, lev_ptr[j + 1]):
            ce = ent_col[e]
            if ce < qR:                        # column bcol of another term's level
                l, rl, tl, off, bcol, trans = entry_block(e, e0, j, ce, rs, r, t_offset, ent_off, lev_off, col_term,
                                                          col_b, term_trans)
                for a in range(rs):
                    acc = 0.0
                    for c in range(rl):
                        if trans:
                            bv = zz[off + c * rs + a]
                        else:
                            bv = zz[off + a * rl + c]
                        acc += bv * T[tl + c * rl + bcol]
                    tmp[a, 0] = acc
                for a in range(rs):
                    acc = 0.0
                    for c in range(rs):
                        acc += T[ts + c * rs + a] * tmp[c, 0]
                    g[a] = acc
            elif ce - qR < p:                  # a column of X
                xc = ce - qR
                for a in range(rs):
                    acc = 0.0
                    for d in range(rs):
                        acc += T[ts + d * rs + a] * ZtX[row0 + d, xc]
                    g[a] = acc
            else:                              # y
                for a in range(rs):
                    acc = 0.0
                    for d in range(rs):
                        acc += T[ts + d * rs + a] * Zty[row0 + d]
                    g[a] = acc
            for a in range(rs):                # forward substitution with L_j
                v = g[a]
                for b in range(a):
                    v -= A[a, b] * W[e, b]
                W[e, a] = v / A[a, a]
        ld[j] = logdet


@njit(parallel=True, **JIT)
def level_factors(zz, ZtX, Zty, T, t_offset, r, q_offset, diag_offset, s, lev_ptr, ent_col, ent_off, lev_off,
                  col_term, col_b, term_trans, W, ld, Lf):
    """Pass 1: for every level j of term s, A_j = T_sᵀ B_jj T_s + I = L_j L_jᵀ (L_j to Lf[j]) and
    W_j = L_j⁻¹ G_j, written to W (entries × r_s; level j's entries are lev_ptr[j]:lev_ptr[j+1], sorted
    by column of S), and ld[j] = log|A_j| (−inf if A_j is not positive definite).  An entry is known by
    its column alone: the other terms' columns (< qR) give the term (col_term), the column within its
    block (col_b) and whether the pair block is stored transposed (term_trans); X and y follow.  Chunks
    of levels run in parallel; each writes only its own levels, so the result does not depend on the
    number of threads."""
    J_s = lev_ptr.shape[0] - 1
    nchunk = 64
    for c in prange(nchunk):
        _level_range(zz, ZtX, Zty, T, t_offset, r, q_offset, diag_offset, s, lev_ptr, ent_col, ent_off, lev_off,
                     col_term, col_b, term_trans, W, c * J_s // nchunk, (c + 1) * J_s // nchunk, ld, Lf)


@njit(**JIT)
def level_factors_serial(zz, ZtX, Zty, T, t_offset, r, q_offset, diag_offset, s, lev_ptr, ent_col, ent_off,
                         lev_off, col_term, col_b, term_trans, W, ld, Lf):
    """level_factors on the calling thread, the same chunks in order (the same numbers): for the small
    systems a GLMM solves thousands of times, where starting a parallel region costs more than the work."""
    J_s = lev_ptr.shape[0] - 1
    nchunk = 64
    for c in range(nchunk):
        _level_range(zz, ZtX, Zty, T, t_offset, r, q_offset, diag_offset, s, lev_ptr, ent_col, ent_off, lev_off,
                     col_term, col_b, term_trans, W, c * J_s // nchunk, (c + 1) * J_s // nchunk, ld, Lf)


@njit(**JIT)
def count_entries(keys, Jl, s_first, r_other, counts):
    """counts[j] += r_other for every level pair (key j_k·J_l + j_l) of term s's level j."""
    for t in range(keys.shape[0]):
        j = keys[t] // Jl if s_first else keys[t] % Jl
        counts[j] += r_other


@njit(**JIT)
def fill_entries(keys, Jl, s_first, r_other, col0, pair_offset, width, cursor, ent_col, ent_off):
    """Append each key's r_other entries to its level of s (cursor: next free entry per level): the
    column of S (col0: the other term's first column) and, if ent_off is not empty, the block's offset
    in zz.  Keys come sorted, so each level's entries of one term come in column order."""
    store = ent_off.shape[0] > 0
    for t in range(keys.shape[0]):
        if s_first:
            j = keys[t] // Jl
            o = keys[t] % Jl
        else:
            o = keys[t] // Jl
            j = keys[t] % Jl
        for b in range(r_other):
            c = cursor[j]
            ent_col[c] = col0 + o * r_other + b
            if store:
                ent_off[c] = pair_offset + t * width
            cursor[j] = c + 1


@njit(**JIT)
def panel_segments(ent_col, lev_ptr, width, npanel, seg_ptr, seg_level, seg_start):
    """The column panels of S as lists of segments: for panel k, seg_ptr[k]:seg_ptr[k+1] are the levels
    with entries in its columns (seg_level, in level order) and the first such entry (seg_start; the
    segment runs while the column stays in the panel).  Call with seg_level empty to count (seg_ptr
    then holds each panel's count at k + 1)."""
    fill = seg_level.shape[0] > 0
    cursor = seg_ptr[:-1].copy()
    for j in range(lev_ptr.shape[0] - 1):
        prev = -1
        for e in range(lev_ptr[j], lev_ptr[j + 1]):
            k = ent_col[e] // width
            if k != prev:
                if fill:
                    seg_level[cursor[k]] = j
                    seg_start[cursor[k]] = e
                    cursor[k] += 1
                else:
                    seg_ptr[k + 1] += 1
                prev = k


@njit(parallel=True, **JIT)
def downdate_panels(W, ent_col, lev_ptr, width, seg_ptr, seg_level, seg_start, S):
    """Pass 2 by column panels of `width` columns: each panel of S (sized to stay in a core's cache, owned
    by one thread) takes its segments (kernels.schur.panel_segments: the levels with entries in its
    columns, in level order) and, for each such entry e of level j, applies S[col_x, col_e] −=
    W_j[:, x]ᵀ W_j[:, e] for the entries x ≥ e of level j.  W is read level after level (streaming);
    writes stay inside the panel."""
    for pnl in prange(seg_ptr.shape[0] - 1):
        _downdate_panel(W, ent_col, lev_ptr, width, seg_ptr, seg_level, seg_start, S, pnl)


@njit(**JIT)
def downdate_panels_serial(W, ent_col, lev_ptr, width, seg_ptr, seg_level, seg_start, S):
    """downdate_panels on the calling thread, panel after panel (the same numbers: panels write apart)."""
    for pnl in range(seg_ptr.shape[0] - 1):
        _downdate_panel(W, ent_col, lev_ptr, width, seg_ptr, seg_level, seg_start, S, pnl)


@njit(**JIT)
def _downdate_panel(W, ent_col, lev_ptr, width, seg_ptr, seg_level, seg_start, S, pnl):
    rs = W.shape[1]
    top = (pnl + 1) * width
    for t in range(seg_ptr[pnl], seg_ptr[pnl + 1]):
        end = lev_ptr[seg_level[t] + 1]
        e = seg_start[t]
        while e < end and ent_col[e] < top:
            ce = ent_col[e]
            if rs == 1:
                we = W[e, 0]
                for x in range(e, end):
                    S[ent_col[x], ce] -= W[x, 0] * we
            elif rs == 2:
                w0 = W[e, 0]
                w1 = W[e, 1]
                for x in range(e, end):
                    S[ent_col[x], ce] -= W[x, 0] * w0 + W[x, 1] * w1
            else:
                for x in range(e, end):
                    acc = 0.0
                    for a in range(rs):
                        acc += W[x, a] * W[e, a]
                    S[ent_col[x], ce] -= acc
            e += 1


@njit(**JIT)
def level_forward(Lf, W, ent_col, lev_ptr, Bs, BR):
    """Forward half of a solve with M: Bs[j] ← L_j⁻¹ Bs[j] for every level j of term s (Bs: J_s × r_s ×
    k right-hand sides) and BR[col_e] −= W_j[:, e]ᵀ Bs[j] for its entries (BR: m × k, the rest)."""
    J_s, rs, k = Bs.shape
    for j in range(J_s):
        for c in range(k):
            for a in range(rs):
                v = Bs[j, a, c]
                for b in range(a):
                    v -= Lf[j, a, b] * Bs[j, b, c]
                Bs[j, a, c] = v / Lf[j, a, a]
        for e in range(lev_ptr[j], lev_ptr[j + 1]):
            ce = ent_col[e]
            for c in range(k):
                acc = 0.0
                for a in range(rs):
                    acc += W[e, a] * Bs[j, a, c]
                BR[ce, c] -= acc


@njit(**JIT)
def level_backward(Lf, W, ent_col, lev_ptr, Bs, XR):
    """Backward half, given the rest's solution XR: Bs[j] ← L_j⁻ᵀ (Bs[j] − W_j XR[level j's columns])."""
    J_s, rs, k = Bs.shape
    for j in range(J_s):
        for e in range(lev_ptr[j], lev_ptr[j + 1]):
            ce = ent_col[e]
            for c in range(k):
                xv = XR[ce, c]
                for a in range(rs):
                    Bs[j, a, c] -= W[e, a] * xv
        for c in range(k):
            for a in range(rs - 1, -1, -1):
                v = Bs[j, a, c]
                for b in range(a + 1, rs):
                    v -= Lf[j, b, a] * Bs[j, b, c]
                Bs[j, a, c] = v / Lf[j, a, a]
