"""Symbolic Cholesky: the elimination tree and the column counts of L, before any numeric work.

What the memory guard needs (`fastmme.linalg.cholmod.factor_entries`): the number of entries of the factor
L of a symmetric matrix in its given order, from its lower triangle alone.  The elimination tree by
Liu's algorithm with path compression; the pattern of row k of L is the union of the tree paths
from the columns i < k of row k of A up to k (the row subtree), so walking them with a marker
counts every entry of L once: O(nnz(L)) time, O(n) memory.
Tests: tests/test_memory_guard.py (against CHOLMOD's own factor).
"""
import numpy as np
from numba import njit

from ...config import JIT


@njit(**JIT)
def column_counts(indptr, indices, n):
    """(parent, counts) of the lower-triangular pattern given row by row (CSR of the lower triangle:
    row k lists its columns j ≤ k): the elimination tree and the entries of each column of L."""
    parent = np.full(n, -1, dtype=np.int64)
    ancestor = np.full(n, -1, dtype=np.int64)
    for k in range(n):
        for p in range(indptr[k], indptr[k + 1]):
            i = indices[p]
            while i != -1 and i < k:
                nxt = ancestor[i]
                ancestor[i] = k
                if nxt == -1:
                    parent[i] = k
                i = nxt
    counts = np.ones(n, dtype=np.int64)            # the diagonal
    mark = np.full(n, -1, dtype=np.int64)
    for k in range(n):
        mark[k] = k
        for p in range(indptr[k], indptr[k + 1]):
            i = indices[p]
            while i < k and mark[i] != k:          # up the tree until a node of this row's subtree
                counts[i] += 1
                mark[i] = k
                i = parent[i]
    return parent, counts
