"""Gradient of the profiled criterion with respect to the entries of the T_k blocks of Λ.

With M = DᵀGD + E the augmented system (G = [Z X y]ᵀW[Z X y], D = diag(Λ, I, 1), E = diag(I, 0, 0)),
every criterion is log|M| plus terms in M⁻¹'s (X, y) block, so its derivative is Σ_uv Q_uv ∂M_uv with

    Q = M⁻¹ + Y C Yᵀ,   Y = M⁻¹[:, (X, y)],   C: (p+1) × (p+1), set by the criterion (fastmme.evaluate.schur).

∂M/∂T_k is non-zero only on the blocks of M that touch term k, so only M⁻¹ on the pattern of M is
needed: the selected inverse.  For the dense Schur structure (term s eliminated level by level,
S = M_RR − Σ_j G_jᵀ A_j⁻¹ G_j factorised densely) it is

    M⁻¹_RR = S⁻¹,   M⁻¹_{j,R} = −L_j⁻ᵀ W_j S⁻¹,   M⁻¹_jj = L_j⁻ᵀ (I + W_j S⁻¹ W_jᵀ) L_j⁻¹

(A_j = L_j L_jᵀ, W_j = L_j⁻¹ G_j), read only where level j has entries.  For a block of M between
level j of term k and a column c, M = T_kᵀ (GD), so

    ∂/∂T_k[a, b] = 2 Σ_j Σ_c (GD)[(k, j, a), c] Q[c, (k, j, b)]

summed over every stored block touching (k, j) (both halves of a symmetric pair).  Two kernels: one
parallel pass over the levels of s (chunks with their own partial sums: the result does not depend
on the number of threads) and one pass over the other terms' blocks.
Tests: tests/test_gradient.py (finite differences, all structures, REML and ML, weights).
"""
import numpy as np
from numba import njit, prange

from ...config import JIT
from .schur import entry_block
from .layout import diag_base, level_row, pair_block

NCHUNK = 64


@njit(inline="always", **JIT)
def _sym(S, i, j):
    """S⁻¹[i, j] from the lower triangle of S (LAPACK's dpotri writes only that)."""
    return S[i, j] if i >= j else S[j, i]


@njit(inline="always", **JIT)
def level_workspace(lev_ptr, j0, j1, rs):
    """level_inverse's arrays for levels j0 ≤ j < j1: (Qe: r_s × the most entries of a level, Z, Linv, Mjj)."""
    mmax = 0
    for j in range(j0, j1):
        mmax = max(mmax, lev_ptr[j + 1] - lev_ptr[j])
    return np.empty((rs, mmax)), np.empty((rs, rs)), np.empty((rs, rs)), np.empty((rs, rs))


@njit(inline="always", **JIT)
def level_inverse(Lf, W, V, vbase, j, e0, mj, rs, Z, Qe, Linv, Mjj):
    """Level j of term s (entries e0 … e0 + mj, V = W S⁻¹ there from entry vbase): M⁻¹ between the level
    and its entries' columns, U = −L_j⁻ᵀ V_j (into Qe, rs × mj), and M⁻¹_jj = L_j⁻ᵀ (I + V_j W_jᵀ) L_j⁻¹
    (into Mjj); Z and Linv are workspace."""
    # Z = I + V W_jᵀ;  U = −L_j⁻ᵀ V (into Qe);  L_j⁻¹
    for a in range(rs):
        for b in range(rs):
            acc = 1.0 if a == b else 0.0
            for e in range(mj):
                acc += V[e0 + e - vbase, a] * W[e0 + e, b]
            Z[a, b] = acc
    for e in range(mj):
        for a in range(rs - 1, -1, -1):
            v = -V[e0 + e - vbase, a]
            for b in range(a + 1, rs):
                v -= Lf[j, b, a] * Qe[b, e]
            Qe[a, e] = v / Lf[j, a, a]
    for b in range(rs):
        for a in range(rs):
            if a < b:
                Linv[a, b] = 0.0
                continue
            v = 1.0 if a == b else 0.0
            for c in range(b, a):
                v -= Lf[j, a, c] * Linv[c, b]
            Linv[a, b] = v / Lf[j, a, a]
    for a in range(rs):               # M⁻¹_jj = L⁻ᵀ Z L⁻¹
        for b in range(rs):
            acc = 0.0
            for c in range(rs):
                for d in range(rs):
                    acc += Linv[c, a] * Z[c, d] * Linv[d, b]
            Mjj[a, b] = acc


@njit(**JIT)
def _levels(zz, ZtX, Zty, T, t_offset, r, q_offset, diag_offset, s, lev_ptr, ent_col, ent_off, lev_off,
            col_term, col_b, term_trans, W, V, vbase, Lf, Y, C, j0, j1, g):
    rs = r[s]
    qR = col_term.shape[0]
    ts = t_offset[s]
    p1 = Y.shape[1]
    Qe, Z, Linv, Mjj = level_workspace(lev_ptr, j0, j1, rs)
    Yj = np.empty((rs, p1))
    YCj = np.empty((rs, p1))
    BT = np.empty((rs, rs))
    col = np.empty(r.max())
    for j in range(j0, j1):
        e0 = lev_ptr[j]
        mj = lev_ptr[j + 1] - e0
        level_inverse(Lf, W, V, vbase, j, e0, mj, rs, Z, Qe, Linv, Mjj)
        # Y_j: level j's rows of M⁻¹[:, (X, y)];  Q = M⁻¹ + Y C Yᵀ on level j's row
        for e in range(mj):
            c = ent_col[e0 + e] - qR      # X's columns, then y (p1 − 1)
            if c >= 0:
                for a in range(rs):
                    Yj[a, c] = Qe[a, e]
        for a in range(rs):
            for d in range(p1):
                acc = 0.0
                for c in range(p1):
                    acc += Yj[a, c] * C[c, d]
                YCj[a, d] = acc
        for a in range(rs):
            for b in range(rs):
                acc = Mjj[a, b]
                for d in range(p1):
                    acc += YCj[a, d] * Yj[b, d]
                Mjj[a, b] = acc
        for e in range(mj):
            ce = ent_col[e0 + e]
            for a in range(rs):
                acc = Qe[a, e]
                for d in range(p1):
                    acc += YCj[a, d] * Y[ce, d]
                Qe[a, e] = acc
        # the diagonal block: ∂/∂T_s[a, b] += 2 Σ_c Q_jj[b, c] (B_jj T_s)[a, c]
        base = diag_base(diag_offset, s, j, rs)
        for a in range(rs):
            for c in range(rs):
                acc = 0.0
                for d in range(rs):
                    acc += zz[base + a * rs + d] * T[ts + d * rs + c]
                BT[a, c] = acc
        for a in range(rs):
            for b in range(rs):
                acc = 0.0
                for c in range(rs):
                    acc += Mjj[b, c] * BT[a, c]
                g[ts + a * rs + b] += 2.0 * acc
        row0 = level_row(q_offset, s, j, rs)
        for e in range(mj):
            ee = e0 + e
            ce = ent_col[ee]
            if ce < qR:                   # column bcol of level j' of term l (block B: r_s × r_l)
                l, rl, tl, off, bcol, trans = entry_block(ee, e0, j, ce, rs, r, t_offset, ent_off, lev_off, col_term,
                                                          col_b, term_trans)
                for a in range(rs):       # (B T_l)[a, bcol]
                    acc = 0.0
                    for c in range(rl):
                        bv = zz[off + c * rs + a] if trans else zz[off + a * rl + c]
                        acc += bv * T[tl + c * rl + bcol]
                    col[a] = acc
                for a in range(rs):
                    for b in range(rs):
                        g[ts + a * rs + b] += 2.0 * Qe[b, e] * col[a]
                for a2 in range(rl):      # ∂/∂T_l[a2, bcol] += 2 Σ_a Q[a, e] (Bᵀ T_s)[a2, a]
                    acc = 0.0
                    for a in range(rs):
                        bt = 0.0
                        for d in range(rs):
                            bv = zz[off + a2 * rs + d] if trans else zz[off + d * rl + a2]
                            bt += bv * T[ts + d * rs + a]
                        acc += Qe[a, e] * bt
                    g[tl + a2 * rl + bcol] += 2.0 * acc
            else:                         # a column of X, or y
                for a in range(rs):
                    v = ZtX[row0 + a, ce - qR] if ce - qR < p1 - 1 else Zty[row0 + a]
                    for b in range(rs):
                        g[ts + a * rs + b] += 2.0 * Qe[b, e] * v


@njit(parallel=True, **JIT)
def symmetrize(S):
    """Copy the lower triangle of S to its upper triangle (column blocks in parallel)."""
    m = S.shape[0]
    nb = (m + 63) // 64
    for bj in prange(nb):
        for bi in range(bj + 1):
            for j in range(bj * 64, min(m, bj * 64 + 64)):
                for i in range(bi * 64, min(j, bi * 64 + 64)):
                    S[i, j] = S[j, i]


@njit(parallel=True, **JIT)
def inverse_columns(W, ent_col, lev_ptr, width, seg_ptr, seg_level, seg_start, Sinv, V, j0, j1):
    """V[e − lev_ptr[j0]] = Σ_x W[x] S⁻¹[col_x, col_e] over the entries x of e's level, for the levels
    j0 ≤ j < j1 (S⁻¹ full), by the column panels of the downdate (kernels/schur.py): each thread reads
    its panel of S⁻¹ from cache and writes only its own entries.  V holds one range of levels at a
    time (a fraction of the entries: at 10⁸ rows W alone is 0.6 GB)."""
    rs = W.shape[1]
    npanel = seg_ptr.shape[0] - 1
    vbase = lev_ptr[j0]
    for pnl in prange(npanel):
        acc = np.empty(rs)
        top = (pnl + 1) * width
        t0 = seg_ptr[pnl] + np.searchsorted(seg_level[seg_ptr[pnl]:seg_ptr[pnl + 1]], j0)
        t1 = seg_ptr[pnl] + np.searchsorted(seg_level[seg_ptr[pnl]:seg_ptr[pnl + 1]], j1)
        for t in range(t0, t1):
            j = seg_level[t]
            x0 = lev_ptr[j]
            x1 = lev_ptr[j + 1]
            e = seg_start[t]
            while e < x1 and ent_col[e] < top:
                c = ent_col[e]
                if rs == 1:
                    a0 = 0.0
                    for x in range(x0, x1):
                        a0 += W[x, 0] * Sinv[ent_col[x], c]
                    V[e - vbase, 0] = a0
                elif rs == 2:             # random slopes: scalar accumulators stay in registers
                    a0 = 0.0
                    a1 = 0.0
                    for x in range(x0, x1):
                        sv = Sinv[ent_col[x], c]
                        a0 += W[x, 0] * sv
                        a1 += W[x, 1] * sv
                    V[e - vbase, 0] = a0
                    V[e - vbase, 1] = a1
                else:
                    acc[:] = 0.0
                    for x in range(x0, x1):
                        sv = Sinv[ent_col[x], c]
                        for a in range(rs):
                            acc[a] += W[x, a] * sv
                    for a in range(rs):
                        V[e - vbase, a] = acc[a]
                e += 1


@njit(parallel=True, **JIT)
def level_inverses(Lf, W, V, lev_ptr, U, Mjj_out):
    """For every level j of term s: M⁻¹ between j and its entries' columns of S into U (entry-major, as W)
    and M⁻¹_jj into Mjj_out[j] (level_inverse), with V = W S⁻¹ at all levels (inverse_columns)."""
    J_s = lev_ptr.shape[0] - 1
    rs = W.shape[1]
    for c in prange(NCHUNK):
        j0 = c * J_s // NCHUNK
        j1 = (c + 1) * J_s // NCHUNK
        Qe, Z, Linv, Mjj = level_workspace(lev_ptr, j0, j1, rs)
        for j in range(j0, j1):
            e0 = lev_ptr[j]
            mj = lev_ptr[j + 1] - e0
            level_inverse(Lf, W, V, 0, j, e0, mj, rs, Z, Qe, Linv, Mjj)
            Mjj_out[j] = Mjj
            for e in range(mj):
                for a in range(rs):
                    U[e0 + e, a] = Qe[a, e]


@njit(parallel=True, **JIT)
def rows_inverse(s_codes, s_col, rest_cols, Mjj, U, lev_ptr, ent_col, Sinv, P):
    """P[i] = A⁻¹ at row i's levels, A⁻¹ = M⁻¹ − x xᵀ / x_y (x = M⁻¹ e_y: the augmented system of the random
    effects alone, y the last column of S), from the pieces of `level_inverses`: the row's R stacked
    columns are term s's r_s at s_col … (level s_codes[i]) and the others' at S's columns rest_cols[i, a]
    (−1 at term s's).  The entry of level j at S's column c is found by bisection in ent_col (sorted per
    level).  Returns the number of level pairs not among the entries (0: every row's pairs are there)."""
    n, R = rest_cols.shape
    yc = Sinv.shape[0] - 1
    xy = Sinv[yc, yc]
    missing = 0
    for i in prange(n):
        j = s_codes[i]
        e0 = lev_ptr[j]
        e1 = lev_ptr[j + 1]
        ey = e1 - 1                       # y: the last entry of every level
        for a in range(R):
            ca = rest_cols[i, a]
            xa = U[ey, a - s_col] if ca < 0 else Sinv[ca, yc]
            for b in range(a, R):
                cb = rest_cols[i, b]
                xb = U[ey, b - s_col] if cb < 0 else Sinv[cb, yc]
                if ca < 0 and cb < 0:
                    v = Mjj[j, a - s_col, b - s_col]
                elif ca < 0 or cb < 0:
                    c = cb if ca < 0 else ca
                    e = e0 + np.searchsorted(ent_col[e0:e1], c)
                    if e >= e1 or ent_col[e] != c:
                        missing += 1
                        v = np.nan
                    else:
                        v = U[e, (a if ca < 0 else b) - s_col]
                else:
                    v = Sinv[ca, cb]
                v -= xa * xb / xy
                P[i, a, b] = v
                P[i, b, a] = v
    return missing


@njit(parallel=True, **JIT)
def level_gradient(zz, ZtX, Zty, T, t_offset, r, q_offset, diag_offset, s, lev_ptr, ent_col, ent_off, lev_off,
                   col_term, col_b, term_trans, W, V, Lf, Y, C, G, c0, c1):
    """The blocks in the rows of term s's levels, chunks c0 ≤ c < c1 of NCHUNK (chunk c: levels
    c·J_s/NCHUNK to (c+1)·J_s/NCHUNK), into G[c] (NCHUNK × len(T)): add the rows.  V = W S⁻¹ on each
    level's columns (from `inverse_columns`, for these levels, from entry lev_ptr[first level])."""
    J_s = lev_ptr.shape[0] - 1
    vbase = lev_ptr[c0 * J_s // NCHUNK]
    for c in prange(c0, c1):
        G[c, :] = 0.0
        _levels(zz, ZtX, Zty, T, t_offset, r, q_offset, diag_offset, s, lev_ptr, ent_col, ent_off, lev_off,
                col_term, col_b, term_trans, W, V, vbase, Lf, Y, C,
                c * J_s // NCHUNK, (c + 1) * J_s // NCHUNK, G[c])


@njit(**JIT)
def rest_gradient(zz, ZtX, Zty, T, t_offset, r, J, q_offset, diag_offset, s, rest_pos, pair_k, pair_l,
                  pair_offset, pair_keys, key_offset, Sinv, Y, YC, g):
    """The blocks among the other terms (diagonal blocks, their X and y rows, pair blocks), where
    Q[u, v] = S⁻¹[u, v] + Σ_d (YC)[u, d] Y[v, d] in the columns of S."""
    K = r.shape[0]
    m = Sinv.shape[0]
    p1 = Y.shape[1]
    qR = m - p1
    rmax = r.max()
    BT = np.empty((rmax, rmax))
    pos = np.empty(rmax, dtype=np.int64)
    pos2 = np.empty(rmax, dtype=np.int64)
    for k in range(K):
        if k == s:
            continue
        rk = r[k]
        tk = t_offset[k]
        for j in range(J[k]):
            row0 = level_row(q_offset, k, j, rk)
            for a in range(rk):
                pos[a] = rest_pos[row0 + a]
            base = diag_base(diag_offset, k, j, rk)
            for a in range(rk):
                for c in range(rk):
                    acc = 0.0
                    for d in range(rk):
                        acc += zz[base + a * rk + d] * T[tk + d * rk + c]
                    BT[a, c] = acc
            for b in range(rk):
                ub = pos[b]
                for a in range(rk):
                    acc = 0.0
                    for c in range(rk):
                        uc = pos[c]
                        q = _sym(Sinv, ub, uc)
                        for d in range(p1):
                            q += YC[ub, d] * Y[uc, d]
                        acc += q * BT[a, c]
                    for c in range(p1):        # X columns, then y
                        q = _sym(Sinv, ub, qR + c)
                        for d in range(p1):
                            q += YC[ub, d] * Y[qR + c, d]
                        acc += q * (ZtX[row0 + a, c] if c < p1 - 1 else Zty[row0 + a])
                    g[tk + a * rk + b] += 2.0 * acc
    for pr in range(pair_k.shape[0]):
        k = pair_k[pr]
        l = pair_l[pr]
        if k == s or l == s:
            continue
        rk = r[k]
        rl = r[l]
        tk = t_offset[k]
        tl = t_offset[l]
        for mm in range(key_offset[pr + 1] - key_offset[pr]):
            jk, jl, base = pair_block(pair_keys, key_offset, pair_offset, J[l], rk, rl, pr, mm)
            for a in range(rk):
                pos[a] = rest_pos[level_row(q_offset, k, jk, rk) + a]
            for b in range(rl):
                pos2[b] = rest_pos[level_row(q_offset, l, jl, rl) + b]
            for a in range(rk):            # ∂/∂T_k[a, b] += 2 Σ_c Q[(k, b), (l, c)] (B T_l)[a, c]
                for b in range(rk):
                    acc = 0.0
                    for c in range(rl):
                        btl = 0.0
                        for d in range(rl):
                            btl += zz[base + a * rl + d] * T[tl + d * rl + c]
                        q = _sym(Sinv, pos[b], pos2[c])
                        for d in range(p1):
                            q += YC[pos[b], d] * Y[pos2[c], d]
                        acc += q * btl
                    g[tk + a * rk + b] += 2.0 * acc
            for a in range(rl):            # ∂/∂T_l[a, b] += 2 Σ_c Q[(k, c), (l, b)] (Bᵀ T_k)[a, c]
                for b in range(rl):
                    acc = 0.0
                    for c in range(rk):
                        btk = 0.0
                        for d in range(rk):
                            btk += zz[base + d * rl + a] * T[tk + d * rk + c]
                        q = _sym(Sinv, pos[c], pos2[b])
                        for d in range(p1):
                            q += YC[pos[c], d] * Y[pos2[b], d]
                        acc += q * btk
                    g[tl + a * rl + b] += 2.0 * acc
