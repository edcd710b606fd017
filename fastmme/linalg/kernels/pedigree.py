"""Pedigree kernels: ordering (parents before offspring), inbreeding, Henderson–Quaas A⁻¹ entries.

Index convention: animals 0..n−1, parents −1 when unknown.  After `order_by_generation` every known
parent has a smaller index than its offspring.
Tests: tests/test_pedigree.py (tabular A on random small pedigrees).
"""
import numpy as np
from numba import njit, prange

from ...config import JIT


@njit(**JIT)
def generations(sire, dam):
    """Generation number of every animal (founders 0, else 1 + the older parent's), by Kahn's
    algorithm over the child lists; −1 for animals that are, or descend from, their own ancestor."""
    n = sire.shape[0]
    nkids = np.zeros(n + 1, dtype=np.int64)
    indeg = np.zeros(n, dtype=np.int64)
    for i in range(n):
        for p in (sire[i], dam[i]):
            if p >= 0:
                nkids[p + 1] += 1
                indeg[i] += 1
    for i in range(n):
        nkids[i + 1] += nkids[i]
    fill = nkids[:-1].copy()
    kids = np.empty(nkids[n], dtype=np.int64)
    for i in range(n):
        for p in (sire[i], dam[i]):
            if p >= 0:
                kids[fill[p]] = i
                fill[p] += 1
    gen = np.full(n, -1, dtype=np.int64)
    queue = np.empty(n, dtype=np.int64)
    head = 0
    tail = 0
    for i in range(n):
        if indeg[i] == 0:
            gen[i] = 0
            queue[tail] = i
            tail += 1
    while head < tail:
        p = queue[head]
        head += 1
        for t in range(nkids[p], nkids[p + 1]):
            c = kids[t]
            if gen[p] + 1 > gen[c]:
                gen[c] = gen[p] + 1
            indeg[c] -= 1
            if indeg[c] == 0:
                queue[tail] = c
                tail += 1
    for i in range(n):              # not reached: on a cycle or below one
        if indeg[i] > 0:
            gen[i] = -1
    return gen


BATCH = 8          # sires whose relationship columns are swept together (one cache line per animal)


@njit(**JIT)
def _sweep_batch(sire, dam, d, sires, smax, hi, B, X):
    """Columns c of X = A[:, sires[c]] = T D Tᵀ e_s for up to BATCH sires at once (Colleau 2002):
    backward sweep b = Tᵀ e_s over the animals up to the oldest sire, forward sweep x = T D b up to
    the last dam needed.  B is zero on entry and left zero; X is valid on rows 0..hi."""
    K = B.shape[1]
    for c in range(K):
        if sires[c] >= 0:
            B[sires[c], c] = 1.0
    for k in range(smax, -1, -1):
        nz = False
        for c in range(K):
            if B[k, c] != 0.0:
                nz = True
                break
        if not nz:
            continue
        ps = sire[k]
        pd = dam[k]
        for c in range(K):
            v = 0.5 * B[k, c]
            if ps >= 0:
                B[ps, c] += v
            if pd >= 0:
                B[pd, c] += v
    top = max(smax, hi)
    for k in range(top + 1):
        dk = d[k]
        ps = sire[k]
        pd = dam[k]
        for c in range(K):
            v = dk * B[k, c]
            if ps >= 0:
                v += 0.5 * X[ps, c]
            if pd >= 0:
                v += 0.5 * X[pd, c]
            X[k, c] = v
            B[k, c] = 0.0


@njit(parallel=True, **JIT)
def generation_inbreeding(sire, dam, d, F, glo, ghi, gsire, work_B, work_X):
    """F of the offspring in the groups [glo[g], ghi[g]) (one generation, one known sire each, dams
    known), BATCH sires per sweep, the batches shared out among the workers (own B and X each)."""
    nw = work_B.shape[0]
    K = work_B.shape[2]
    ng = glo.shape[0]
    nb = (ng + K - 1) // K
    for w in prange(nw):
        B = work_B[w]
        X = work_X[w]
        sires = np.empty(K, dtype=np.int64)
        for bi in range(w, nb, nw):
            smax = -1
            hi = -1
            for c in range(K):
                g = bi * K + c
                sires[c] = gsire[g] if g < ng else -1
                if g < ng:
                    smax = max(smax, gsire[g])
                    for i in range(glo[g], ghi[g]):
                        hi = max(hi, dam[i])
            _sweep_batch(sire, dam, d, sires, smax, hi, B, X)
            for c in range(K):
                g = bi * K + c
                if g < ng:
                    for i in range(glo[g], ghi[g]):
                        F[i] = 0.5 * X[dam[i], c]


@njit(**JIT)
def mendelian_variances(sire, dam, F, d, i0, i1):
    """d_i for animals i0..i1−1 from their parents' F (see fastmme.pedigree)."""
    for i in range(i0, i1):
        ps = sire[i]
        pd = dam[i]
        if ps >= 0 and pd >= 0:
            d[i] = 0.5 - 0.25 * (F[ps] + F[pd])
        elif ps >= 0:
            d[i] = 0.75 - 0.25 * F[ps]
        elif pd >= 0:
            d[i] = 0.75 - 0.25 * F[pd]
        else:
            d[i] = 1.0


@njit(parallel=True, **JIT)
def ainv_triplets(sire, dam, d, rows, cols, vals):
    """Henderson's rules with inbreeding (Quaas 1976): each animal adds α = 1/d_i times
    [1, −½, −½; −½, ¼, ¼; −½, ¼, ¼] on (i, sire, dam); unknown parents drop out.  9 slots per animal
    (unused ones get value 0 at (i, i))."""
    n = sire.shape[0]
    coef = np.array([1.0, -0.5, -0.5])
    for i in prange(n):
        a = 1.0 / d[i]
        ids = np.empty(3, dtype=np.int64)
        ids[0] = i
        ids[1] = sire[i]
        ids[2] = dam[i]
        base = 9 * i
        t = 0
        for u in range(3):
            for v in range(3):
                iu = ids[u]
                iv = ids[v]
                if iu >= 0 and iv >= 0:
                    rows[base + t] = iu
                    cols[base + t] = iv
                    vals[base + t] = a * coef[u] * coef[v]
                else:
                    rows[base + t] = i
                    cols[base + t] = i
                    vals[base + t] = 0.0
                t += 1


@njit(parallel=True, **JIT)
def relationship_block(sire, dam, d, idx, work_B, work_X, out):
    """out = A[idx, idx] (the relationships among the animals idx, e.g. the genotyped A₂₂): columns
    A e_j = T D Tᵀ e_j by Colleau's sweeps, BATCH at a time, the batches shared out among the workers
    (own B and X each); A is never formed.  Cost O(n · len(idx))."""
    nw = work_B.shape[0]
    K = work_B.shape[2]
    m = idx.shape[0]
    hi = 0
    for a in range(m):
        hi = max(hi, idx[a])
    nb = (m + K - 1) // K
    for w in prange(nw):
        B = work_B[w]
        X = work_X[w]
        cols = np.empty(K, dtype=np.int64)
        for bi in range(w, nb, nw):
            smax = -1
            for c in range(K):
                g = bi * K + c
                cols[c] = idx[g] if g < m else -1
                if g < m:
                    smax = max(smax, idx[g])
            _sweep_batch(sire, dam, d, cols, smax, hi, B, X)
            for c in range(K):
                g = bi * K + c
                if g < m:
                    for a in range(m):
                        out[a, g] = X[idx[a], c]
