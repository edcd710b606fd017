"""Kenward–Roger's small-sample inference for the fixed effects of a REML fit (Kenward & Roger 1997),
as pbkrtest 0.5 computes it (vcovAdj, Lb_ddf, KRmodcomp) and lmerTest uses it (summary and anova
with ddf = "Kenward-Roger").

The covariance parameters γ are the variances and covariances of each term (the lower triangle of
Σ_k; the diagonal of a `||` term) and σ², so V = Σ_i γ_i G_i with G_i = Z D_i Zᵀ (D_i = I_J ⊗ E_ab of
term k) and G = I for σ².  With Φ = Cov(β̂):

    P_i = −Xᵀ V⁻¹ G_i V⁻¹ X,   Q_ij = Xᵀ V⁻¹ G_i V⁻¹ G_j V⁻¹ X,
    I_ij = tr(V⁻¹ G_i V⁻¹ G_j) − 2 tr(Φ Q_ij) + tr(Φ P_i Φ P_j)   (= tr(P G_i P G_j), REML's),
    W = 2 I⁻¹,   Φ_A = Φ + 2 Φ [Σ_ij W_ij (Q_ij − P_i Φ P_j)] Φ,

and for a hypothesis L β = 0 with q rows, Θ = Lᵀ (L Φ Lᵀ)⁻¹ L, u_i = Θ Φ P_i Φ,
A₁ = Σ_ij W_ij tr(u_i) tr(u_j), A₂ = Σ_ij W_ij tr(u_i u_j), then Kenward–Roger's ρ, the denominator
df 4 + (q + 2) / (q ρ − 1) and the F scaling.  (pbkrtest leaves out the second derivatives of V,
which are zero in this linear parametrisation.)

pbkrtest forms V (n × n); here V⁻¹ is applied through the Woodbury identity on U = ZΛ,
V⁻¹ = σ⁻² (I − U (UᵀU + I)⁻¹ Uᵀ), which holds on the boundary too; the dense working set is
V⁻¹Z (n × q) and a few q × q matrices, checked against the memory available before it is made.

Tests: tests/test_kenward_roger.py (against pbkrtest through lmerTest, tests/fixtures/kenward_roger.json).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from ..errors import FastmmeError


@dataclass(frozen=True)
class KenwardRoger:
    phi: np.ndarray          # Cov(β̂), p × p
    phi_adj: np.ndarray      # Kenward–Roger's adjusted covariance Φ_A
    P: tuple                 # P_i, p × p, one per covariance parameter
    W: np.ndarray            # 2 × the inverse of REML's expected information in γ

    def _a1_a2(self, L: np.ndarray) -> tuple:
        Theta = L.T @ np.linalg.solve(L @ self.phi @ L.T, L)
        TP = Theta @ self.phi
        u = [TP @ Pi @ self.phi for Pi in self.P]
        tr = np.array([np.trace(ui) for ui in u])
        A1 = A2 = 0.0
        for i in range(len(u)):
            for j in range(i, len(u)):
                e = 1.0 if i == j else 2.0
                A1 += e * self.W[i, j] * tr[i] * tr[j]
                A2 += e * self.W[i, j] * float(np.sum(u[i] * u[j].T))
        return A1, A2

    def _ddf(self, A1: float, A2: float, q: int) -> float:
        B = (A1 + 6 * A2) / (2 * q)
        g = ((q + 1) * A1 - (q + 4) * A2) / ((q + 2) * A2)
        den = 3 * q + 2 * (1 - g)
        c1, c2, c3 = g / den, (q - g) / den, (q + 2 - g) / den
        V0, V1, V2 = 1 + c1 * B, 1 - c2 * B, 1 - c3 * B
        V0 = 0.0 if abs(V0) < 1e-10 else V0
        x = 1 - A2 / q
        ratio = 1.0 if abs(x) < 1e-14 and abs(V1) < 1e-14 else x / V1
        rho = ratio ** 2 * V0 / V2 / q
        return 4 + (q + 2) / (q * rho - 1)

    def ddf(self, L) -> np.ndarray:
        """Denominator df of each row of L as a one-row hypothesis (pbkrtest's Lb_ddf)."""
        L = np.atleast_2d(np.asarray(L, dtype=float))
        return np.array([self._ddf(*self._a1_a2(row[None, :]), 1) for row in L])

    def f_test(self, L: np.ndarray, beta: np.ndarray) -> tuple:
        """(q, ddf, F (scaled), F scaling, F unscaled) of H₀: L β = 0 (pbkrtest's KRmodcomp; q = rank L)."""
        L = np.atleast_2d(np.asarray(L, dtype=float))
        q = int(np.linalg.matrix_rank(L))
        A1, A2 = self._a1_a2(L)
        df2 = self._ddf(A1, A2, q)
        scaling = 1.0 if abs(df2 - 2) < 0.01 else df2 * (1 - A2 / q) / (df2 - 2)
        Lb = L @ beta
        F_u = float(Lb @ np.linalg.solve(L @ self.phi_adj @ L.T, Lb)) / q
        return q, df2, scaling * F_u, scaling, F_u


def _parameters(terms, offsets) -> list:
    """Per covariance parameter of the terms, its D_i (q × q sparse: I_J ⊗ E_ab in term k's block)."""
    q = offsets[-1]
    out = []
    for t, o in zip(terms, offsets):
        J, r = t.n_levels, t.r
        if t.structure == "unstructured":
            pairs = [(a, b) for b in range(r) for a in range(b, r)]       # lower triangle by column
        elif t.structure == "diagonal":
            pairs = [(a, a) for a in range(r)]
        else:                                                             # θ I: one variance
            pairs = [None]
        base = o + np.arange(J) * r
        for pr in pairs:
            if pr is None:
                rows = cols = (base[:, None] + np.arange(r)[None, :]).ravel()
            elif pr[0] == pr[1]:
                rows = cols = base + pr[0]
            else:
                rows = np.concatenate([base + pr[0], base + pr[1]])
                cols = np.concatenate([base + pr[1], base + pr[0]])
            out.append(sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(q, q)))
    return out


def kenward_roger(terms, Ts, sigma: float, X: np.ndarray, phi: np.ndarray) -> KenwardRoger:
    """Kenward–Roger's Φ_A, P_i and W at a REML fit: terms (fastmme.spec.terms.Term), Ts their
    relative factors T_k at θ̂, X the fit's fixed-effect columns, phi = Cov(β̂)."""
    from ..linalg.cholmod import available_memory
    if any(t.known is not None for t in terms):
        raise FastmmeError("Kenward–Roger's df are not available for terms with a relationship matrix (pbkrtest "
                           "has none either): use Satterthwaite's")
    n, p = X.shape
    offsets = np.concatenate([[0], np.cumsum([t.n_levels * t.r for t in terms])]).astype(np.int64)
    q = int(offsets[-1])
    need = 8 * (3 * n * q + 5 * q * q + 4 * n * p)
    if need > 0.5 * available_memory():
        raise FastmmeError(f"Kenward–Roger's df need dense V⁻¹Z ({n} × {q}) and q × q matrices, about "
                           f"{need / 2**30:.1f} GB here, more than half the memory available: use Satterthwaite's df")
    Zs, Ls = [], []
    for t, T in zip(terms, Ts):
        zm = t.zmatrix()
        rows = np.repeat(np.arange(n), t.r)
        cols = (np.asarray(t.codes, dtype=np.int64)[:, None] * t.r + np.arange(t.r)[None, :]).ravel()
        Zs.append(sp.csr_matrix((np.asarray(zm, dtype=float).ravel(), (rows, cols)), shape=(n, t.n_levels * t.r)))
        Ls.append(sp.kron(sp.identity(t.n_levels), sp.csr_matrix(np.asarray(T, dtype=float))))
    Z = sp.hstack(Zs, format="csr")
    U = (Z @ sp.block_diag(Ls, format="csr")).tocsr()
    M = (U.T @ U).toarray() + np.eye(q)
    cho = sla.cho_factor(M, lower=True)
    s2 = sigma * sigma

    def vinv(B):
        return (B - U @ sla.cho_solve(cho, np.asarray(U.T @ B))) / s2

    FX = vinv(X)                                   # V⁻¹X
    FZ = vinv(Z.toarray())                         # V⁻¹Z
    C = np.asarray(Z.T @ FZ)                       # Zᵀ V⁻¹ Z
    Bm = FZ.T @ X                                  # Zᵀ V⁻¹ X
    ZZ2 = FZ.T @ FZ                                # Zᵀ V⁻² Z
    ZX2 = FZ.T @ FX                                # Zᵀ V⁻² X
    XX3 = FX.T @ vinv(FX)                          # Xᵀ V⁻³ X
    Minv = sla.cho_solve(cho, np.eye(q))
    trV2 = (n - q + float(np.sum(Minv * Minv))) / (s2 * s2)
    del FZ, Minv

    Ds = _parameters(terms, offsets)
    k = len(Ds) + 1                                # the residual variance last
    DB = [D @ Bm for D in Ds]
    P = [-(Bm.T @ db) for db in DB] + [-(FX.T @ FX)]
    rows = [np.unique(D.indices) for D in Ds]
    DC = [np.asarray(D[r] @ C) for D, r in zip(Ds, rows)]          # the nonzero rows of D_i C
    Q = {}
    K = np.empty((k, k))
    for i in range(k):
        for j in range(i, k):
            if j < k - 1:                                          # both random
                Q[i, j] = DB[i].T @ C @ DB[j]
                K[i, j] = float(np.sum(DC[i][:, rows[j]] * DC[j][:, rows[i]].T))
            elif i < k - 1:                                        # random, residual
                Q[i, j] = DB[i].T @ ZX2
                K[i, j] = float((Ds[i].multiply(ZZ2)).sum())
            else:
                Q[i, j] = XX3
                K[i, j] = trV2
            K[j, i] = K[i, j]
    info = np.empty((k, k))
    for i in range(k):
        PhiPi = phi @ P[i]
        for j in range(i, k):
            info[i, j] = info[j, i] = K[i, j] - 2 * float(np.sum(phi * Q[i, j])) + float(np.sum(PhiPi * (P[j] @ phi)))
    cond = float(np.min(np.abs(np.linalg.eigvalsh(info))))
    W = 2 * (np.linalg.inv(info) if cond > 1e-10 else np.linalg.pinv(info))
    UU = np.zeros((p, p))
    for i in range(k - 1):
        for j in range(i + 1, k):
            UU += W[i, j] * (Q[i, j] - P[i] @ phi @ P[j])
    UU = UU + UU.T
    for i in range(k):
        UU += W[i, i] * (Q[i, i] - P[i] @ phi @ P[i])
    phi_adj = phi + 2 * phi @ UU @ phi
    return KenwardRoger(phi=phi, phi_adj=phi_adj, P=tuple(P), W=W)
