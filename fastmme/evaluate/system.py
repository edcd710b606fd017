"""The augmented mixed-model system and its fixed sparsity pattern.

With u = Λ⁻¹b the spherical random effects, the penalised least-squares problem of Bates et al.
(2015) has the symmetric (q + p + 1)-dimensional matrix

        ⎡ ΛᵀZᵀWZΛ + I   ΛᵀZᵀWX   ΛᵀZᵀWy ⎤
    M = ⎢ XᵀWZΛ         XᵀWX     XᵀWy   ⎥
        ⎣ yᵀWZΛ         yᵀWX     yᵀWy   ⎦

whose Cholesky factor, with the random effects eliminated first and y last, holds L_Z (the factor of
ΛᵀZᵀWZΛ + I), R_X and, in its last diagonal entry, √r² (the penalised weighted residual sum of
squares).  The random effects are put in a fill-reducing order once; X and y come after them, so
fixed-effect columns live inside the same sparse factor (room for fixed factors with many levels).
Only the lower triangle is stored, in CSC form, with a pattern fixed at construction:
per θ only `data` changes (kernels.lambda_.write_lambda).  Tests: tests/test_objective.py.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..assembly.blocks import Blocks
from ..assembly.pattern import ZtZPattern
from ..linalg.cholmod import fill_reducing_order
from ..linalg.kernels.lambda_ import write_lambda
from ..spec.covariance import Prior


def _z_order(pattern: ZtZPattern, prior: Prior, n_last: int = 0) -> np.ndarray:
    """Fill-reducing permutation of the random effects (new position i holds u-index perm[i]);
    n_last > 0 keeps the last n_last u-indices (sparse fixed levels, for ML) after the others."""
    q = pattern.q
    z1, z2, _ = pattern.entries()
    rows = np.concatenate([np.maximum(z1, z2), np.arange(q), prior.rows])
    cols = np.concatenate([np.minimum(z1, z2), np.arange(q), prior.cols])
    if n_last:
        m = q - n_last
        inside = rows < m
        A = sp.csc_matrix((np.ones(int(inside.sum())), (rows[inside], cols[inside])), shape=(m, m))
        A.sum_duplicates()
        return np.concatenate([fill_reducing_order(A), np.arange(m, q)])
    A = sp.csc_matrix((np.ones(rows.shape[0]), (rows, cols)), shape=(q, q))
    A.sum_duplicates()
    return fill_reducing_order(A)


class AugmentedSystem:
    """Pattern and value positions of M; `write(theta_blocks)` fills the θ-dependent values."""

    def __init__(self, pattern: ZtZPattern, blocks: Blocks, perm_z=None, knowns=None, fixed_diag=None,
                 fixed_last: bool = False):
        q, p = pattern.q, blocks.ZtX.shape[1]
        self.pattern, self.blocks, self.q, self.p = pattern, blocks, q, p
        N = q + p + 1
        self.N = N
        self.prior = prior = Prior(pattern, knowns, fixed_diag)
        if perm_z is None:
            perm_z = _z_order(pattern, prior, fixed_diag.shape[0] if fixed_last else 0)
        perm_z = np.asarray(perm_z, dtype=np.int64)
        iperm = np.empty(q, dtype=np.int64)
        iperm[perm_z] = np.arange(q)
        self.perm_z, self.iperm_z = perm_z, iperm

        it = np.int32 if q + p + 1 < 2**31 - 1 else np.int64     # index arrays: half the memory when they fit
        z1, z2, in_diag = pattern.entries()
        i1, i2 = iperm[z1].astype(it), iperm[z2].astype(it)
        del z1, z2
        keep = ~in_diag | (i1 >= i2)
        zz_rows, zz_cols = np.maximum(i1, i2)[keep], np.minimum(i1, i2)[keep]
        del i1, i2
        zeta = np.arange(q)
        zx_rows = np.repeat(q + np.arange(p)[None, :], q, axis=0).ravel()   # index ζ·p + c
        zx_cols = np.repeat(iperm, p)
        ia, ib = np.tril_indices(p)
        pr1, pr2 = iperm[prior.rows].astype(it), iperm[prior.cols].astype(it)
        parts = [
            (zz_rows, zz_cols),
            (np.maximum(pr1, pr2), np.minimum(pr1, pr2)),
            (zx_rows, zx_cols),
            (np.full(q, q + p), iperm[zeta]),
            (q + ia, q + ib),
            (np.full(p, q + p), q + np.arange(p)),
            (np.array([q + p]), np.array([q + p])),
        ]
        sizes = np.cumsum([0] + [a.shape[0] for a, _ in parts])
        rows = np.concatenate([np.asarray(a, it) for a, _ in parts])
        cols = np.concatenate([np.asarray(b, it) for _, b in parts])
        del parts, zz_rows, zz_cols, zx_rows, zx_cols
        order = np.lexsort((rows, cols))
        pos = np.empty(rows.shape[0], dtype=np.int64)
        pos[order] = np.arange(rows.shape[0])
        srt_r, srt_c = rows[order], cols[order]
        if rows.shape[0] > 1 and np.any((np.diff(srt_c) == 0) & (np.diff(srt_r) == 0)):
            raise AssertionError("duplicate entries in the augmented pattern")
        idx_dtype = np.int32 if rows.shape[0] < 2**31 - 1 else np.int64
        indptr = np.searchsorted(srt_c, np.arange(N + 1)).astype(idx_dtype)
        self.nnz = rows.shape[0]
        self._indices = srt_r.astype(idx_dtype)
        self._indptr = indptr

        self.pos_zz = np.full(pattern.size, -1, dtype=np.int64)
        self.pos_zz[keep] = pos[sizes[0]:sizes[1]]
        pos_prior = pos[sizes[1]:sizes[2]]
        self.pos_zx = pos[sizes[2]:sizes[3]]
        self.pos_zy = pos[sizes[3]:sizes[4]]
        self.pos_xx = pos[sizes[4]:sizes[5]]
        self.pos_xy = pos[sizes[5]:sizes[6]]
        self.pos_yy = pos[sizes[6]:sizes[7]]

        # constant part: XᵀWX, XᵀWy, yᵀWy and the off-diagonal of K⁻¹ never change with θ
        self.data = np.zeros(self.nnz)
        self.data[pos_prior] = prior.vals
        self.data[self.pos_xx] = blocks.XtX[ia, ib]
        self.data[self.pos_xy] = blocks.Xty
        self.data[self.pos_yy] = blocks.yty

    def set_response(self, blocks: Blocks) -> None:
        """Replace the blocks (same pattern and X columns): the y-dependent constant entries are rewritten."""
        self.blocks = blocks
        self.data[self.pos_xx] = blocks.XtX[np.tril_indices(self.p)]
        self.data[self.pos_xy] = blocks.Xty
        self.data[self.pos_yy] = blocks.yty

    def matrix(self) -> sp.csc_matrix:
        """A CSC matrix sharing the fixed pattern (its data is replaced per θ)."""
        A = sp.csc_matrix((self.data.copy(), self._indices, self._indptr), shape=(self.N, self.N))
        A.has_sorted_indices = True
        return A

    def write(self, T_flat, t_offset) -> np.ndarray:
        """Fill the θ-dependent entries of `data` for the relative factors T (flat, row-major)."""
        pt, b = self.pattern, self.blocks
        write_lambda(b.zz, b.ZtX, b.Zty, T_flat, t_offset, self.prior.diag, pt.r, pt.J, pt.q_offset,
                     pt.diag_offset,
                     pt.pair_k, pt.pair_l, pt.pair_offset, pt.pair_count,
                     self.pos_zz, self.pos_zx, self.pos_zy, self.data)
        return self.data
