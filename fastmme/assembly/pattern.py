"""The block sparsity pattern of ZᵀWZ, computed once from the group codes.

Z is never formed.  Term k contributes an r_k × r_k block per level (the diagonal blocks; a row has
one level per term, so ZₖᵀZₖ is block diagonal), and each pair of terms k < l an r_k × r_l block for
every pair of levels (j, j') that occur together in some row.  All values of ZᵀWZ live in one flat
array `zz`:

    diagonal block (k, j):         zz[diag_offset[k] + j·r_k² + a·r_k + b]   (kernels: linalg/kernels/layout.py)
    off-diagonal block (pair, m):  zz[pair_offset[pair] + m·r_k·r_l + a·r_l + b]

where m indexes the sorted co-occurring level pairs of that pair of terms (key = j·J_l + j').
The pattern is a union over rows, so the patterns of row chunks merge by `union` (distributed
assembly); `locate` maps rows onto it.  Tests: tests/test_assembly.py.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import config
from ..errors import FastmmeError
from ..linalg.kernels.pairs import locate_rows, pair_keys_and_rows


def key_dtype(J) -> type:
    """dtype of the level-pair keys j·J_l + j' of terms with J levels: 32-bit while every J_k·J_l
    allows (half the memory of the largest arrays of a crossed design: 8 × 10⁷ pairs at 10⁸ rows)."""
    J = np.sort(np.asarray(J, dtype=np.int64))
    return config.index_dtype(int(J[-1]) * int(J[-2]) if J.shape[0] > 1 else 0)


@dataclass(frozen=True)
class ZtZPattern:
    r: np.ndarray             # (K,) int64 columns per term
    J: np.ndarray             # (K,) int64 levels per term
    q_offset: np.ndarray      # (K,) start of each term in u
    z_offset: np.ndarray      # (K,) start of each term's columns in the stacked z
    diag_offset: np.ndarray   # (K,) start of each term's diagonal blocks in zz
    pair_k: np.ndarray        # (npairs,) first term of each pair (k < l)
    pair_l: np.ndarray        # (npairs,) second term
    pair_keys: tuple          # per pair: sorted unique keys j·J_l + j' (views into keys_flat; key_dtype)
    pair_offset: np.ndarray   # (npairs,) start of each pair's blocks in zz
    size: int                 # len(zz)
    keys_flat: np.ndarray     # all pairs' keys, pair after pair (what the kernels read)
    key_offset: np.ndarray    # (npairs + 1,) start of each pair's keys in keys_flat

    @property
    def diag_size(self) -> int:
        """Length of the diagonal blocks' part of zz (it comes first, the pair blocks after it)."""
        return int(np.sum(self.J * self.r * self.r))

    @property
    def K(self) -> int:
        return self.r.shape[0]

    @property
    def q(self) -> int:
        return int(np.sum(self.r * self.J))

    @property
    def pair_count(self) -> np.ndarray:
        return np.array([len(k) for k in self.pair_keys], dtype=np.int64)

    @staticmethod
    def build(r, J, pair_keys) -> "ZtZPattern":
        r = np.asarray(r, dtype=np.int64)
        J = np.asarray(J, dtype=np.int64)
        K = r.shape[0]
        q_offset = np.concatenate([[0], np.cumsum(r * J)[:-1]]).astype(np.int64)
        z_offset = np.concatenate([[0], np.cumsum(r)[:-1]]).astype(np.int64)
        diag_sizes = J * r * r
        diag_offset = np.concatenate([[0], np.cumsum(diag_sizes)[:-1]]).astype(np.int64)
        pk, pl = [], []
        for k in range(K):
            for l in range(k + 1, K):
                pk.append(k)
                pl.append(l)
        pair_k = np.array(pk, dtype=np.int64)
        pair_l = np.array(pl, dtype=np.int64)
        start = int(diag_sizes.sum())
        offs = []
        for i, keys in enumerate(pair_keys):
            offs.append(start)
            start += len(keys) * int(r[pair_k[i]] * r[pair_l[i]])
        key_offset = np.concatenate([[0], np.cumsum([len(k) for k in pair_keys])]).astype(np.int64)
        dt = key_dtype(J)
        if len(pair_keys) == 1:           # one pair (two terms): no copy of a million keys
            keys_flat = np.asarray(pair_keys[0], dtype=dt)
        else:
            keys_flat = (np.concatenate([np.asarray(k, dtype=dt) for k in pair_keys]) if pair_keys
                         else np.zeros(0, dtype=dt))
        views = tuple(keys_flat[key_offset[i]:key_offset[i + 1]] for i in range(len(pair_keys)))
        return ZtZPattern(r=r, J=J, q_offset=q_offset, z_offset=z_offset, diag_offset=diag_offset,
                          pair_k=pair_k, pair_l=pair_l, pair_keys=views,
                          pair_offset=np.array(offs, dtype=np.int64), size=start,
                          keys_flat=keys_flat, key_offset=key_offset)

    @staticmethod
    def from_codes(codes, r, J, with_rows: bool = False):
        """Pattern of the rows whose level codes are `codes` ((K, n) int array); with_rows: also each
        row's index within each pair's blocks (what `locate` gives), found in the same pass."""
        K = len(r)
        n = codes.shape[1]
        keys, rows = [], []
        buf = np.empty(n if K > 1 else 0, dtype=key_dtype(J))
        for k in range(K):
            for l in range(k + 1, K):
                pos = np.empty(n, dtype=config.index_dtype(n))
                nk = pair_keys_and_rows(codes[k], codes[l], int(J[k]), int(J[l]), pos, buf)
                keys.append(buf[:nk].copy())
                rows.append(pos)
        del buf
        pattern = ZtZPattern.build(r, J, keys)
        if not with_rows:
            return pattern
        return pattern, (np.vstack(rows) if rows else np.empty((0, n), dtype=np.int32))

    def union(self, other: "ZtZPattern") -> "ZtZPattern":
        """Pattern of the union of two row sets (same terms and level coding)."""
        if not (np.array_equal(self.r, other.r) and np.array_equal(self.J, other.J)):
            raise FastmmeError("cannot merge patterns of different term structures")
        keys = [np.union1d(a, b) for a, b in zip(self.pair_keys, other.pair_keys)]
        return ZtZPattern.build(self.r, self.J, keys)

    def locate(self, codes) -> np.ndarray:
        """(npairs, n) index m of each row's level pair within each pair's blocks."""
        n = codes.shape[1]
        out = np.empty((len(self.pair_keys), n), dtype=config.index_dtype(max((len(k) for k in self.pair_keys), default=0)))
        for i, keys in enumerate(self.pair_keys):
            k, l = self.pair_k[i], self.pair_l[i]
            if locate_rows(codes[k], codes[l], int(self.J[k]), int(self.J[l]), keys, out[i]):
                raise FastmmeError("rows contain level pairs outside the assembled pattern; build the "
                                   "pattern from all rows (ZtZPattern.union) before assembling")
        return out

    def entries(self, diag_only: bool = False):
        """For every value of zz: (u-index of its row, u-index of its column, is_diagonal_block);
        diag_only: for the diagonal blocks' part of zz only (the first diag_size values)."""
        r, J = self.r, self.J
        size = self.diag_size if diag_only else self.size
        zeta1 = np.empty(size, dtype=np.int64)
        zeta2 = np.empty(size, dtype=np.int64)
        in_diag = np.zeros(size, dtype=bool)
        for k in range(self.K):
            rk, Jk = int(r[k]), int(J[k])
            j = np.repeat(np.arange(Jk), rk * rk)
            a = np.tile(np.repeat(np.arange(rk), rk), Jk)
            b = np.tile(np.tile(np.arange(rk), rk), Jk)
            s = slice(int(self.diag_offset[k]), int(self.diag_offset[k]) + Jk * rk * rk)
            zeta1[s] = self.q_offset[k] + j * rk + a
            zeta2[s] = self.q_offset[k] + j * rk + b
            in_diag[s] = True
        for i, keys in enumerate(() if diag_only else self.pair_keys):
            k, l = int(self.pair_k[i]), int(self.pair_l[i])
            rk, rl = int(r[k]), int(r[l])
            jk, jl = np.divmod(keys, J[l])
            m = len(keys)
            a = np.tile(np.repeat(np.arange(rk), rl), m)
            b = np.tile(np.tile(np.arange(rl), rk), m)
            s = slice(int(self.pair_offset[i]), int(self.pair_offset[i]) + m * rk * rl)
            zeta1[s] = self.q_offset[k] + np.repeat(jk, rk * rl) * rk + a
            zeta2[s] = self.q_offset[l] + np.repeat(jl, rk * rl) * rl + b
        return zeta1, zeta2, in_diag
