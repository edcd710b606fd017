"""Level pairs of two terms: the distinct (j_k, j_l) that occur in the rows, and each row's pair.

A counting sort of the rows by j_k, then the distinct j_l of each level j_k (a marker array over J_l
levels, reset per level; each group sorted on its own): O(n + J_k + J_l + Σ d log d) with d the
number of distinct partners of a level, against a global sort or hash of n 64-bit keys
(np.unique: 0.9 s on a million rows).  Keys are j_k · J_l + j_l, sorted; 32-bit while J_k · J_l allows
(fastmme.assembly.pattern.key_dtype).
Tests: tests/test_assembly.py (against np.unique / np.searchsorted).
"""
import numpy as np
from numba import njit

from ...config import JIT
from .small import find_sorted


@njit(**JIT)
def pair_keys_and_rows(ck, cl, Jk, Jl, row_pos, keys):
    """The number nk of distinct keys, written sorted to keys[:nk] (a buffer of n: its dtype is the
    keys'), and row_pos[i] = index of row i's key among them."""
    n = ck.shape[0]
    start = np.zeros(Jk + 1, dtype=np.int64)
    for i in range(n):
        start[ck[i] + 1] += 1
    for j in range(Jk):
        start[j + 1] += start[j]
    fill = start[:-1].copy()
    perm = np.empty(n, dtype=np.int64)
    for i in range(n):
        j = ck[i]
        perm[fill[j]] = i
        fill[j] += 1
    slot = np.full(Jl, -1, dtype=np.int64)      # position of j_l among the current level's partners
    buf = np.empty(Jl, dtype=np.int64)
    nk = 0
    for j in range(Jk):
        d = 0
        for t in range(start[j], start[j + 1]):
            jl = cl[perm[t]]
            if slot[jl] < 0:
                slot[jl] = 0
                buf[d] = jl
                d += 1
        part = np.sort(buf[:d])
        for a in range(d):
            slot[part[a]] = nk + a
            keys[nk + a] = j * Jl + part[a]
        for t in range(start[j], start[j + 1]):
            i = perm[t]
            row_pos[i] = slot[cl[i]]
        for a in range(d):
            slot[part[a]] = -1
        nk += d
    return nk


@njit(**JIT)
def locate_rows(ck, cl, Jk, Jl, keys, row_pos):
    """row_pos[i] = index of (ck[i], cl[i]) in the sorted `keys` (a binary search within level ck[i]'s
    own keys); returns the number of rows whose pair is not among them (their row_pos is −1)."""
    seg = np.zeros(Jk + 1, dtype=np.int64)
    for t in range(keys.shape[0]):
        seg[keys[t] // Jl + 1] += 1
    for j in range(Jk):
        seg[j + 1] += seg[j]
    missing = 0
    for i in range(ck.shape[0]):
        pos = find_sorted(keys, seg[ck[i]], seg[ck[i] + 1], ck[i] * Jl + cl[i])
        row_pos[i] = pos
        if pos < 0:
            missing += 1
    return missing


@njit(**JIT)
def union_size(ka, kb):
    """Number of distinct keys in two sorted key sets."""
    na, nb = ka.shape[0], kb.shape[0]
    n = 0
    i = j = 0
    while i < na or j < nb:
        if j >= nb or (i < na and ka[i] < kb[j]):
            i += 1
        elif i >= na or kb[j] < ka[i]:
            j += 1
        else:
            i += 1
            j += 1
        n += 1
    return n


@njit(**JIT)
def merge_sorted(ka, va, kb, vb, keys, vals):
    """Union of two sorted key sets with (m, w) values each into keys, vals (sized by union_size):
    values of a key present in both summed.  One linear pass (the partial blocks of row chunks add up)."""
    na, nb = ka.shape[0], kb.shape[0]
    w = va.shape[1]
    i = j = t = 0
    while i < na or j < nb:
        if j >= nb or (i < na and ka[i] < kb[j]):
            keys[t] = ka[i]
            vals[t] = va[i]
            i += 1
        elif i >= na or kb[j] < ka[i]:
            keys[t] = kb[j]
            vals[t] = vb[j]
            j += 1
        else:
            keys[t] = ka[i]
            for c in range(w):
                vals[t, c] = va[i, c] + vb[j, c]
            i += 1
            j += 1
        t += 1
