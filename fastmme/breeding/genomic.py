"""Genomic relationships: VanRaden's G, blending, G⁻¹ and the single-step H⁻¹.

    G = genomic.vanraden(M)                      # M: n × m genotypes coded 0/1/2
    Gb = genomic.blend(G, A22=genomic.a22(ped, genotyped))          # 0.95 G + 0.05 A₂₂
    H = genomic.h_inverse(ped, genotyped, Gb)    # single-step: A⁻¹ + [[0, 0], [0, G⁻¹ − A₂₂⁻¹]]
    fastmme.lmm("y ~ sex + (1 | animal)", df, relmat={"animal": H})

VanRaden (2008), method 1: with p_j the frequency of the allele counted in M and Z = M − 2p,
G = Z Zᵀ / (2 Σ_j p_j (1 − p_j)).  G is singular when markers are fewer than animals or animals
are clones; blending with A₂₂ (the pedigree relationships of the genotyped animals) or adding a small
diagonal makes it invertible.  Single step (Aguilar et al. 2010; Christensen & Lund 2010):
H⁻¹ = A⁻¹ + [[0, 0], [0, G⁻¹ − A₂₂⁻¹]], sparse A⁻¹ plus one dense block on the genotyped animals;
log|H| = log|A| + log|G| − log|A₂₂|.  A₂₂ comes from Colleau's indirect method (two sweeps of the
pedigree per batch of columns), A is never formed.  Tests: tests/test_genomic.py.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from ..errors import FastmmeError


def _genotypes(M) -> np.ndarray:
    Ma = np.asarray(M, dtype=np.float64)
    if Ma.ndim != 2 or Ma.shape[0] < 1 or Ma.shape[1] < 1:
        raise FastmmeError(f"genotypes must be an animals × markers matrix (one row per animal); got shape {np.shape(M)}")
    if not np.all(np.isfinite(Ma)):
        raise FastmmeError(f"genotypes contain {int(np.sum(~np.isfinite(Ma)))} missing value(s): impute them "
                           "(e.g. with 2 × the allele frequency) before computing G")
    bad = ~np.isin(Ma, (0.0, 1.0, 2.0))
    if np.any(bad):
        r, c = np.argwhere(bad)[0]
        raise FastmmeError(f"genotypes must be coded 0, 1 or 2 (copies of one allele); animal row {r}, marker "
                           f"{c} has {Ma[r, c]!r}")
    return Ma


def allele_frequencies(M) -> np.ndarray:
    """Frequency of the counted allele per marker: column mean / 2."""
    return _genotypes(M).mean(axis=0) / 2.0


def vanraden(M, freqs=None) -> np.ndarray:
    """VanRaden's G (method 1), n × n, from genotypes M (n × m, 0/1/2) and allele frequencies (the
    observed ones when None; give base-population frequencies when known)."""
    Ma = _genotypes(M)
    p = Ma.mean(axis=0) / 2.0 if freqs is None else np.asarray(freqs, dtype=np.float64)
    if p.shape != (Ma.shape[1],) or np.any((p < 0) | (p > 1)) or not np.all(np.isfinite(p)):
        raise FastmmeError(f"freqs must give one frequency in [0, 1] per marker ({Ma.shape[1]})")
    scale = 2.0 * float(np.sum(p * (1.0 - p)))
    if scale <= 0:
        raise FastmmeError("every marker is monomorphic (frequency 0 or 1): G is undefined — check the genotype coding (0, 1, 2) and "
                           "give markers that segregate")
    Z = Ma - 2.0 * p
    G = (Z @ Z.T) / scale
    return 0.5 * (G + G.T)


def blend(G, A22=None, weight: float = 0.95, diagonal: float = 0.01) -> np.ndarray:
    """weight·G + (1 − weight)·A₂₂ when A22 is given (BLUPF90's default 0.95 / 0.05), else G + diagonal·I."""
    Ga = np.asarray(G, dtype=np.float64)
    if Ga.ndim != 2 or Ga.shape[0] != Ga.shape[1]:
        raise FastmmeError(f"G must be square (animals × animals); got shape {Ga.shape} — pass genotypes to "
                           "fastmme.genomic.grm to compute it")
    if A22 is None:
        if not diagonal > 0:
            raise FastmmeError("diagonal must be positive: a small value such as 0.01 makes G invertible")
        return Ga + diagonal * np.eye(Ga.shape[0])
    A = np.asarray(A22, dtype=np.float64)
    if A.shape != Ga.shape:
        raise FastmmeError(f"A22 has shape {A.shape}; G has {Ga.shape}: both must be over the same animals")
    if not 0 < weight <= 1:
        raise FastmmeError(f"weight must be in (0, 1]; got {weight}")
    return weight * Ga + (1.0 - weight) * A


def a22(ped, genotyped) -> np.ndarray:
    """A₂₂: the pedigree relationships among the genotyped animals (labels, in the given order)."""
    from ..linalg.kernels.pedigree import BATCH, relationship_block
    idx = np.asarray(ped.index(genotyped), dtype=np.int64)
    if np.unique(idx).shape[0] != idx.shape[0]:
        raise FastmmeError("genotyped lists an animal more than once: give each genotyped animal once, in the order of G's rows")
    n, workers = len(ped), 2
    out = np.empty((idx.shape[0], idx.shape[0]))
    relationship_block(ped.sire, ped.dam, ped.mendelian_variance, idx, np.zeros((workers, n, BATCH)),
                       np.zeros((workers, n, BATCH)), out)
    return 0.5 * (out + out.T)


def _chol_inverse(S, what):
    try:
        c = scipy.linalg.cho_factor(S, lower=True, check_finite=False)
    except np.linalg.LinAlgError:
        raise FastmmeError(f"{what} is not positive definite: blend it (fastmme.genomic.blend) with A₂₂ "
                           "or a small diagonal") from None
    inv = scipy.linalg.cho_solve(c, np.eye(S.shape[0]), check_finite=False)
    return 0.5 * (inv + inv.T), 2.0 * float(np.sum(np.log(np.diag(c[0]))))


@dataclass(frozen=True, eq=False)
class HInverse:
    """The single-step H⁻¹ as sparse A⁻¹ plus one dense block: H⁻¹ = A⁻¹ + E_g (G⁻¹ − A₂₂⁻¹) E_gᵀ.
    labels: the pedigree's animals; genotyped: their positions; logdet: log|H|."""
    labels: np.ndarray
    ainv: sp.csc_matrix
    genotyped: np.ndarray
    block: np.ndarray
    logdet: float

    def matrix(self) -> sp.csc_matrix:
        """H⁻¹ as one sparse matrix (the dense block's entries inserted)."""
        g = self.genotyped
        m = g.shape[0]
        D = sp.csc_matrix((self.block.ravel(), (np.repeat(g, m), np.tile(g, m))), shape=self.ainv.shape)
        out = (self.ainv + D).tocsc()
        out.sort_indices()
        return out

    carries = "an H⁻¹ from fastmme.genomic"   # (known_covariance's message)

    def known_covariance(self):
        """The KnownCovariance of H (what relmat= and Term(relationship=) use)."""
        from ..spec.relationship import KnownCovariance
        return KnownCovariance(labels=self.labels, precision=self.matrix(), logdet=self.logdet, _diag=None)


def h_inverse(ped, genotyped, G) -> HInverse:
    """Single-step H⁻¹ for a pedigree and the (invertible, e.g. blended) G of the genotyped animals."""
    Ga = np.asarray(G, dtype=np.float64)
    labels = np.asarray(genotyped)
    if Ga.shape != (labels.shape[0], labels.shape[0]):
        raise FastmmeError(f"G has shape {Ga.shape} for {labels.shape[0]} genotyped animals")
    if not np.allclose(Ga, Ga.T):
        raise FastmmeError("G must be symmetric: check how it was built (fastmme.genomic.grm gives a symmetric G)")
    idx = np.asarray(ped.index(labels), dtype=np.int64)
    A22 = a22(ped, labels)
    Ginv, ldG = _chol_inverse(Ga, "G")
    A22inv, ldA22 = _chol_inverse(A22, "A22")
    return HInverse(labels=ped.labels, ainv=ped.ainv(), genotyped=idx, block=Ginv - A22inv,
                    logdet=ped.logdet_A() + ldG - ldA22)
