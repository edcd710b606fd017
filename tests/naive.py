"""Slow, obviously correct references for the fast routines (stumpy's habit)."""
import numpy as np

from fastmme.dense import design_Z, lambda_matrix


def dense_blocks(terms, X, y, w):
    """ZᵀWZ, ZᵀWX, ZᵀWy, XᵀWX, XᵀWy, yᵀWy by dense products."""
    Z = design_Z(terms)
    W = np.diag(w)
    return dict(ZtZ=Z.T @ W @ Z, ZtX=Z.T @ W @ X, Zty=Z.T @ W @ y, XtX=X.T @ W @ X,
                Xty=X.T @ W @ y, yty=y @ W @ y, Z=Z)


def zz_to_dense(pattern, zz):
    """Expand the flat zz layout of a ZtZPattern into the dense symmetric q × q matrix."""
    q = pattern.q
    A = np.zeros((q, q))
    z1, z2, in_diag = pattern.entries()
    A[z1, z2] = zz
    A[z2, z1] = zz
    return A


def system_dense(terms, theta, X, y, w):
    """The augmented matrix [ΛᵀZᵀWZΛ + I, ΛᵀZᵀWX, ΛᵀZᵀWy; ...; ..., yᵀWy], dense, caller's order."""
    Z = design_Z(terms)
    Lam = lambda_matrix(terms, theta)
    A = np.hstack([Z @ Lam, X, y[:, None]])
    M = A.T @ np.diag(w) @ A
    q = Z.shape[1]
    M[:q, :q] += np.eye(q)
    return M
