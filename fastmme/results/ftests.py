"""F-tests of the fixed-effect terms of one fit: lmerTest's anova(fit) (Type III and Type I, with
Satterthwaite's denominator df).

Contrasts (lmerTest 3.1's get_contrasts_type3 / get_contrasts_type1, treatment coding):

* Type III: L = (X⁺ X_cells)ᵀ with X_cells each term's cell design (fastmme.formula.cells), then, from
  the highest-order terms down, each term's columns of L replaced by their residuals on the columns
  of the terms that contain it; the rows named as X's columns are kept, and a term's hypothesis is
  the transpose of its columns, rows of zeros dropped.  A model with one term (or one column) gets
  Type I's.
* Type I: the rows of the term in Uᵀ of Doolittle's LU of XᵀX (sequential sums of squares).

The test (lmerTest's contestMD): with VLβ = L Cov(β̂) Lᵀ = P diag(d) Pᵀ, q = the number of
eigenvalues above √ε d₁, F = Σ_m (P_mᵀ L β̂)² / d_m / q; ν_m the Satterthwaite df of the contrast
P_mᵀ L, and the denominator df E / (E − q) · 2 with E = Σ ν_m / (ν_m − 2) (2 if any ν_m ≤ 2; their
mean if they agree to 1e-8).  Sum Sq = F σ̂² q, Mean Sq = F σ̂².

Tests: tests/test_anova_type3.py.
"""
from __future__ import annotations

import numpy as np
import scipy.linalg as sla

from ..errors import FastmmeError

EPS = float(np.sqrt(np.finfo(float).eps))


def zapsmall(x: np.ndarray, digits: int = 7) -> np.ndarray:
    """R's zapsmall: round to `digits` significant digits of the largest |entry|."""
    x = np.asarray(x, dtype=float)
    fin = x[np.isfinite(x)]
    mx = float(np.max(np.abs(fin))) if fin.size else 0.0
    return np.round(x, int(max(0, digits - np.ceil(np.log10(mx)))) if mx > 0 else digits)


def _residuals(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Residuals of the columns of B on those of A (lm.fit's: A's rank by pivoted QR, tolerance 1e-7)."""
    if A.shape[1] == 0:
        return B
    Q, R, _ = sla.qr(A, mode="economic", pivoting=True)
    d = np.abs(np.diag(R))
    rank = int(np.sum(d > 1e-7 * d[0])) if d.size and d[0] > 0 else 0
    Q = Q[:, :rank]
    return B - Q @ (Q.T @ B)


def type3_contrasts(X: np.ndarray, assign, cells, contains: dict, labels: list, orders, x_names) -> dict:
    """label → (k × p) hypothesis matrix of each term (lmerTest's extract_contrasts_type3).
    X: the fit's fixed-effect columns (aliased ones dropped), assign: their term (0 intercept, j + 1
    term j), cells: fastmme.formula.cells.CellDesign, orders: each term's number of variables."""
    assign = np.asarray(assign)
    Q, R = np.linalg.qr(X)
    M = cells.matrix
    QtM = np.asarray((M.T @ Q).T)                                  # Qᵀ X_cells without densifying X_cells
    L = zapsmall(sla.solve_triangular(R, QtM).T)                   # m × p: (X⁺ X_cells)ᵀ
    cols = {lab: np.flatnonzero(assign == j + 1) for j, lab in enumerate(labels)}
    order = sorted(range(len(labels)), key=lambda j: -orders[j])     # stable, as R's order()
    for j in order:
        lab = labels[j]
        if contains[lab]:
            other = np.concatenate([cols[c] for c in contains[lab]])
            L[:, cols[lab]] = zapsmall(_residuals(L[:, other], L[:, cols[lab]]))
    where = {n: i for i, n in enumerate(cells.names)}
    missing = [n for n in x_names if n not in where]
    if missing:
        raise FastmmeError(f"internal: X's columns {missing} have no cell column")
    L = L[[where[n] for n in x_names], :]                            # p × p
    out = {}
    for lab in labels:
        H = L[:, cols[lab]].T
        out[lab] = H[np.sum(np.abs(H), axis=1) > 1e-8]
    return out


def doolittle_l(x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """The unit lower-triangular L of Doolittle's LU of x (lmerTest's doolittle: entries below eps
    zeroed, a column zeroed where the pivot is below eps)."""
    n = x.shape[0]
    L, U = np.eye(n), np.zeros((n, n))
    for i in range(n):
        U[i, :] = x[i, :] - L[i, :i] @ U[:i, :]
        if i + 1 < n:
            below = x[i + 1:, i] - L[i + 1:, :i] @ U[:i, i]
            L[i + 1:, i] = 0.0 if abs(U[i, i]) < eps else below / U[i, i]
    L[np.abs(L) < eps] = 0.0
    return L


def type1_contrasts(X: np.ndarray, assign, labels: list) -> dict:
    """label → the term's rows of Lᵀ, L from Doolittle's LU of XᵀX (lmerTest's get_contrasts_type1)."""
    assign = np.asarray(assign)
    p = X.shape[1]
    Lt = np.ones((1, 1)) if p == 1 else doolittle_l(X.T @ X).T
    return {lab: Lt[assign == j + 1] for j, lab in enumerate(labels)}


def fstat_ddf(nu: np.ndarray, tol: float = 1e-8) -> float:
    """lmerTest's get_Fstat_ddf: the denominator df of an F statistic from its contrasts' ν_m."""
    if nu.size == 1:
        return float(nu[0])
    if np.all(np.abs(np.diff(nu)) < tol):
        return float(np.mean(nu))
    if np.any(nu <= 2):
        return 2.0
    E = float(np.sum(nu / (nu - 2)))
    return 2 * E / (E - nu.size)


def f_test(L: np.ndarray, beta: np.ndarray, cov: np.ndarray, sigma: float, df_of) -> tuple:
    """(Sum Sq, Mean Sq, NumDF, DenDF, F value) of H₀: L β = 0 (lmerTest's contestMD); df_of(rows)
    gives the Satterthwaite df of each row of a contrast matrix.  NaNs when L has no rows."""
    if L.shape[0] == 0:
        return (np.nan,) * 5
    if L.shape[0] == 1:
        F = float((L[0] @ beta) ** 2 / (L[0] @ cov @ L[0]))
        q, ddf = 1, float(df_of(L)[0])
    else:
        d, P = np.linalg.eigh(L @ cov @ L.T)
        d, P = d[::-1], P[:, ::-1]                                   # decreasing, as R's eigen
        q = int(np.sum(d > max(EPS * d[0], 0.0)))
        if q == 0:
            return (np.nan,) * 5
        PtL = (P.T @ L)[:q]
        F = float(np.sum((PtL @ beta) ** 2 / d[:q]) / q)
        ddf = fstat_ddf(np.asarray(df_of(PtL), dtype=float))
    ms = F * sigma ** 2
    return ms * q, ms, float(q), ddf, F
