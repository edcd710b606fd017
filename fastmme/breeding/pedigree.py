"""Pedigrees: reading and checking, inbreeding coefficients, A⁻¹ and log|A| without forming A.

    ped = fastmme.pedigree.read(animal, sire, dam)          # labels; unknown parents 0, "0", "", NA
    ped.inbreeding                                          # F, one per animal (in ped.labels order)
    ped.ainv()                                              # scipy.sparse CSC, Henderson's rules with F
    ped.logdet_A()                                          # Σ log d_i (A = T D Tᵀ)

Animals are re-ordered so that parents precede offspring (by generation, then sire, then dam); the
labels travel with them (`ped.labels`, `ped.index(labels)`).  Parents that have no record of their
own become founders.  A pedigree that cannot be right fails with a FastmmeError naming the animals:
an animal that is its own ancestor, one animal with two records giving different parents, one animal
used both as a sire and as a dam (which includes selfing), an animal that is its own parent.
Tests: tests/test_pedigree.py.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import FastmmeError
from ..linalg.kernels.pedigree import BATCH, ainv_triplets, generation_inbreeding, generations, mendelian_variances

UNKNOWN = (0, "0", "", "NA", "-", ".")


@dataclass(frozen=True, eq=False)
class Pedigree:
    """A checked pedigree, parents before offspring (made by `read`).

    labels: the animals' labels in that order; sire, dam: parents' positions (−1 unknown);
    generation: 0 for founders, else one more than the older parent's."""
    labels: np.ndarray      # the animals' labels, parents before offspring
    sire: np.ndarray        # index of the sire in `labels`, −1 unknown (int64)
    dam: np.ndarray         # index of the dam, −1 unknown
    generation: np.ndarray  # 0 for founders, else 1 + the older parent's

    def __len__(self) -> int:
        return self.labels.shape[0]

    @functools.cached_property
    def _inbreeding(self):
        F, d = _inbreeding(self.sire, self.dam, self.generation)
        F.setflags(write=False)
        d.setflags(write=False)
        return F, d

    @property
    def inbreeding(self) -> np.ndarray:
        """Inbreeding coefficient F of every animal (unknown parents: unrelated, not inbred)."""
        return self._inbreeding[0]

    @property
    def mendelian_variance(self) -> np.ndarray:
        """d_i of A = T D Tᵀ: ½ − ¼(F_s + F_d), ¾ − ¼F_p or 1 (both, one or no parent known)."""
        return self._inbreeding[1]

    def ainv(self):
        """A⁻¹ (n × n, scipy.sparse CSC, labels' order) by Henderson's rules with inbreeding."""
        import scipy.sparse as sp
        n = len(self)
        rows = np.empty(9 * n, dtype=np.int64)
        cols = np.empty(9 * n, dtype=np.int64)
        vals = np.empty(9 * n)
        ainv_triplets(self.sire, self.dam, self.mendelian_variance, rows, cols, vals)
        out = sp.csc_matrix((vals, (rows, cols)), shape=(n, n))
        out.sum_duplicates()
        out.eliminate_zeros()
        return out

    carries = "a Pedigree"          # (known_covariance's message: it carries its own labels)

    def known_covariance(self):
        """The KnownCovariance of A (what relmat= and Term(relationship=) use)."""
        from ..spec.relationship import KnownCovariance
        diag = 1.0 + self.inbreeding
        return KnownCovariance(labels=self.labels, precision=self.ainv(), logdet=self.logdet_A(), _diag=diag)

    def logdet_A(self) -> float:
        """log|A| = Σ log d_i."""
        return float(np.sum(np.log(self.mendelian_variance)))

    def index(self, labels) -> np.ndarray:
        """Positions of the given labels in `labels`; unknown labels are an error naming them."""
        pos = pd.Index(self.labels).get_indexer(pd.Index(np.asarray(labels, dtype=object)))
        if np.any(pos < 0):
            missing = np.asarray(labels, dtype=object)[pos < 0]
            raise FastmmeError(f"{int(np.sum(pos < 0))} label(s) not in the pedigree, e.g. "
                               f"{_names(missing)}; add them to the pedigree (as founders if their parents "
                               "are unknown)")
        return pos


def _inbreeding(sire, dam, generation, workers=2):
    """(F, d): inbreeding coefficients and the Mendelian-sampling variances d_i of A = T D Tᵀ
    (d = ½ − ¼(F_s + F_d) with both parents known, ¾ − ¼F_p with one, 1 with none).

    Animals are ordered by generation and, within it, by sire.  For each sire s and generation, F of
    its offspring is ½ a(s, dam), read from the column A e_s = T D Tᵀ e_s (Colleau's indirect method:
    two sweeps per sire and generation, BATCH sires per sweep, instead of one trace per animal over all
    its ancestors as in Meuwissen & Luo, which deep pedigrees make slow)."""
    n = sire.shape[0]
    F = np.zeros(n)
    d = np.ones(n)
    if n == 0:
        return F, d
    gen_ptr = np.searchsorted(generation, np.arange(generation.max() + 2))
    work_B = np.zeros((workers, n, BATCH))
    work_X = np.zeros((workers, n, BATCH))
    for g in range(len(gen_ptr) - 1):
        i0, i1 = int(gen_ptr[g]), int(gen_ptr[g + 1])
        both = np.flatnonzero((sire[i0:i1] >= 0) & (dam[i0:i1] >= 0)) + i0
        if both.size:
            # runs of one sire; within a generation animals are sorted by (sire, dam), so the
            # offspring of a sire with known dams are contiguous (unknown dams, −1, come first)
            new_run = np.r_[True, (sire[both][1:] != sire[both][:-1]) | (both[1:] != both[:-1] + 1)]
            starts = np.flatnonzero(new_run)
            glo = both[starts]
            ghi = np.r_[both[starts[1:] - 1], both[-1]] + 1
            generation_inbreeding(sire, dam, d, F, glo, ghi, sire[glo].astype(np.int64), work_B, work_X)
        mendelian_variances(sire, dam, F, d, i0, i1)
    return F, d


def _names(values, k=10) -> str:
    v = list(dict.fromkeys(str(x) for x in values))
    return ", ".join(v[:k]) + (f" (and {len(v) - k} more)" if len(v) > k else "")


def _is_unknown(col: pd.Series, unknown) -> np.ndarray:
    miss = col.isna().to_numpy()
    codes = [u for u in unknown if u is not None]
    as_str = col.astype(str)
    return miss | col.isin(codes).to_numpy() | as_str.isin([str(u) for u in codes]).to_numpy()


def read(animal, sire=None, dam=None, unknown=UNKNOWN) -> Pedigree:
    """A Pedigree from three columns of labels (or a data frame whose first three columns are animal,
    sire, dam).  `unknown`: the codes of an unknown parent (missing values always count)."""
    if sire is None and dam is None:
        df = pd.DataFrame(animal)
        if df.shape[1] < 3:
            raise FastmmeError("a pedigree needs three columns: animal, sire, dam")
        animal, sire, dam = df.iloc[:, 0], df.iloc[:, 1], df.iloc[:, 2]
    a = pd.Series(np.asarray(animal, dtype=object))
    s = pd.Series(np.asarray(sire, dtype=object))
    m = pd.Series(np.asarray(dam, dtype=object))
    if not len(a) == len(s) == len(m):
        raise FastmmeError(f"animal, sire and dam have {len(a)}, {len(s)} and {len(m)} entries; they must be "
                           "columns of one table")
    if a.isna().any() or _is_unknown(a, unknown).any():
        raise FastmmeError(f"{int(a.isna().sum() + (~a.isna() & _is_unknown(a, unknown)).sum())} record(s) "
                           "have a missing or unknown animal label; every record needs its animal")
    s_unk, m_unk = _is_unknown(s, unknown), _is_unknown(m, unknown)
    # one label universe: animals with records first, then parents without a record (founders)
    codes, uniques = pd.factorize(pd.concat([a, s[~s_unk], m[~m_unk]], ignore_index=True))
    n_rec = len(a)
    ai = codes[:n_rec]
    si = np.full(n_rec, -1, dtype=np.int64)
    mi = np.full(n_rec, -1, dtype=np.int64)
    si[~s_unk] = codes[n_rec:n_rec + int((~s_unk).sum())]
    mi[~m_unk] = codes[n_rec + int((~s_unk).sum()):]
    labels = np.asarray(uniques, dtype=object)
    n = len(labels)
    # duplicated records: identical ones are merged, conflicting ones are an error
    rec = pd.DataFrame({"a": ai, "s": si, "m": mi}).drop_duplicates()
    dup = rec["a"].duplicated(keep=False).to_numpy()
    if dup.any():
        raise FastmmeError(f"animal(s) {_names(labels[rec['a'].to_numpy()[dup]])} have several records with "
                           "different parents; keep one record per animal")
    sire_of = np.full(n, -1, dtype=np.int64)
    dam_of = np.full(n, -1, dtype=np.int64)
    sire_of[rec["a"].to_numpy()] = rec["s"].to_numpy()
    dam_of[rec["a"].to_numpy()] = rec["m"].to_numpy()
    own = (sire_of == np.arange(n)) | (dam_of == np.arange(n))
    if own.any():
        raise FastmmeError(f"animal(s) {_names(labels[own])} are given as their own parent; correct their records")
    both = np.intersect1d(sire_of[sire_of >= 0], dam_of[dam_of >= 0])
    if both.size:
        raise FastmmeError(f"animal(s) {_names(labels[both])} appear both as a sire and as a dam (selfing "
                           "included); an animal has one sex — correct the records that use it")
    gen = generations(sire_of, dam_of)
    if np.any(gen < 0):
        bad = _on_cycles(sire_of, dam_of, gen < 0)
        raise FastmmeError(f"the pedigree has a loop: animal(s) {_names(labels[bad])} are their own ancestors; "
                           "correct their parents")
    order = np.lexsort((np.arange(n), dam_of, sire_of, gen))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    remap = lambda p: np.where(p >= 0, rank[np.maximum(p, 0)], -1)   # noqa: E731
    out = Pedigree(labels=labels[order], sire=remap(sire_of[order]), dam=remap(dam_of[order]),
                   generation=gen[order])
    for arr in (out.labels, out.sire, out.dam, out.generation):
        arr.setflags(write=False)
    return out


def _on_cycles(sire, dam, unsorted):
    """Animals on a loop: of those Kahn's algorithm could not order, drop the ones with no unordered
    offspring until none is left to drop (what remains lies on a loop)."""
    left = unsorted.copy()
    while True:
        has_kid = np.zeros_like(left)
        for par in (sire, dam):
            ok = left & (par >= 0)
            has_kid[par[ok]] = True
        drop = left & ~has_kid
        if not drop.any():
            return np.flatnonzero(left)
        left &= ~drop
