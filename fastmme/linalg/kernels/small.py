"""Small dense helpers shared by the kernels (inlined by Numba)."""
from numba import njit

from ...config import JIT


@njit(inline="always", **JIT)
def congruence(zz, base, T, ta, ra, tb, rb, tmp, out):
    """out = T_aᵀ B T_b (ra × rb, row-major) for the block B = zz[base : base + ra·rb] (row-major),
    T_a = T[ta : ta + ra²] and T_b = T[tb : tb + rb²] (row-major).  tmp: a buffer of ra·rb."""
    for a in range(ra):
        for b in range(rb):
            acc = 0.0
            for c in range(rb):
                acc += zz[base + a * rb + c] * T[tb + c * rb + b]
            tmp[a * rb + b] = acc
    for a in range(ra):
        for b in range(rb):
            acc = 0.0
            for c in range(ra):
                acc += T[ta + c * ra + a] * tmp[c * rb + b]
            out[a * rb + b] = acc


@njit(inline="always", **JIT)
def find_sorted(a, lo, hi, key):
    """Position of `key` among the sorted a[lo:hi], or −1 if it is not there (binary search)."""
    end = hi
    while lo < hi:
        mid = (lo + hi) >> 1
        if a[mid] < key:
            lo = mid + 1
        else:
            hi = mid
    return lo if lo < end and a[lo] == key else -1
