"""The ZᵀWZ block layout in kernel form: where a block of `zz` starts and which rows of u it covers.

The one statement of the layout of fastmme.assembly.pattern (ZtZPattern) that the Numba kernels use;
every kernel that reads or writes zz, ZᵀWX or ZᵀWy by blocks locates them here (inlined: no cost):

    diagonal block of term k, level j:   zz[diag_base(...) + a·r_k + b],   rows of u from level_row(...)
    m-th stored block of pair pr:        zz[pair_base(...) + a·r_l + b]    (pair_block: also (j_k, j_l))
"""
from numba import njit

from ...config import JIT


@njit(inline="always", **JIT)
def diag_base(diag_offset, k, j, rk):
    """Start in zz of the r_k × r_k diagonal block of level j of term k."""
    return diag_offset[k] + j * rk * rk


@njit(inline="always", **JIT)
def level_row(q_offset, k, j, rk):
    """First u-index (row of ZᵀWX, ZᵀWy, ZᵀWZ) of level j of term k."""
    return q_offset[k] + j * rk


@njit(inline="always", **JIT)
def pair_base(pair_offset, pr, m, rk, rl):
    """Start in zz of the m-th stored r_k × r_l block of pair pr."""
    return pair_offset[pr] + m * rk * rl


@njit(inline="always", **JIT)
def pair_block(pair_keys, key_offset, pair_offset, Jl, rk, rl, pr, m):
    """(j_k, j_l, start in zz) of the m-th stored block of pair pr (its key is j_k·J_l + j_l)."""
    key = pair_keys[key_offset[pr] + m]
    jk = key // Jl
    return jk, key - jk * Jl, pair_base(pair_offset, pr, m, rk, rl)
