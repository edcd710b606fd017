"""Validate the caller's arrays and fix the model's specification (the "spec" stage).

Produces a frozen `ModelSpec`: copies of y, X (aliased columns dropped), weights and the terms,
with the sizes the later stages need.  Nothing of the caller's data is modified.  The warnings of
this stage (dropped columns) are raised here and nowhere else.
Tests: tests/test_bad_input.py.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg

from ..config import RANK_TOL
from ..errors import FastmmeError
from .checks import check_enough_rows, check_weights, warn_aliased
from .terms import Term


@dataclass(frozen=True)
class ModelSpec:
    y: np.ndarray              # (n,)
    X: np.ndarray              # (n, p), full column rank
    x_names: tuple             # names of the kept columns of X
    dropped: tuple             # names of the aliased columns that were dropped
    weights: np.ndarray        # (n,) prior weights, all > 0 (ones when none given)
    has_weights: bool
    terms: tuple               # Term objects in the caller's order
    term_names: tuple          # grouping-factor names (unique)
    reml: bool
    sparse_factors: tuple = ()  # fixed factors carried in the sparse factor (fastmme.spec.sparse_fixed)
    n_rows: int = -1           # observations of a row-free spec (partitioned data: y and X stay on the
    #                            workers, only their cross-product blocks reach the driver); -1: len(y)
    offset: np.ndarray | None = None   # (n,) known part of the linear predictor (lme4's offset), or None
    shift: np.ndarray | None = None    # (p,) b₀: the equations are solved for y_fit = y − offset − X b₀
    #                                    (None: for y itself); y_fit is not kept (working_response)

    @property
    def n(self) -> int:
        return self.n_rows if self.n_rows >= 0 else self.y.shape[0]

    @property
    def row_free(self) -> bool:
        """True when the rows are not here (assembled elsewhere): fitted values are computed where they are."""
        return self.n_rows >= 0

    @property
    def p(self) -> int:
        return self.X.shape[1]

    def working_response(self) -> np.ndarray:
        """The response the equations see, y_fit = y − offset − X b₀ (the module's working_response, which
        also gave b₀: the same computation, so the same numbers).  Made when the blocks are assembled, not
        kept: n values the θ loop and the result never read (1M rows: 8 MB of the fit's peak memory)."""
        if self.shift is None:
            return self.y
        return working_response(self.y, self.X, self.weights, self.offset)[0]

    @property
    def beta_shift(self) -> np.ndarray:
        """b₀ (p,): β = β̂ of the working response + b₀."""
        return np.zeros(self.X.shape[1]) if self.shift is None else self.shift

    @property
    def p_df(self) -> int:
        """Estimable fixed effects: the dense columns and the sparse factors' non-zeroed levels (the
        p of REML's n − p)."""
        return self.X.shape[1] + sum(f.n_estimable for f in self.sparse_factors)

    @property
    def q(self) -> int:
        return sum(t.q for t in self.terms)

    @property
    def q_offsets(self) -> np.ndarray:
        """Start of each term's block in u (terms in the caller's order)."""
        return np.concatenate([[0], np.cumsum([t.q for t in self.terms])]).astype(np.int64)

    @property
    def theta_slices(self) -> list:
        ends = np.cumsum([t.n_theta for t in self.terms])
        return [slice(int(e - t.n_theta), int(e)) for t, e in zip(self.terms, ends)]

    @property
    def n_theta(self) -> int:
        return sum(t.n_theta for t in self.terms)


def _vector(name, v, n=None, copy=True):
    a = np.array(v, dtype=np.float64, copy=True) if copy else np.asarray(v, dtype=np.float64)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 1:
        raise FastmmeError(f"{name} must be one-dimensional; got shape {np.shape(v)}")
    if n is not None and a.shape[0] != n:
        raise FastmmeError(f"{name} has length {a.shape[0]} but y has {n} observations: "
                           "pass one value per observation")
    if not np.all(np.isfinite(a)):
        bad = int(np.sum(~np.isfinite(a)))
        raise FastmmeError(f"{name} contains {bad} NaN or inf value(s): drop or impute those rows "
                           "(the array API never drops rows silently)")
    return a


def _design(X, n, x_names, copy=True):
    if hasattr(X, "columns") and x_names is None:
        x_names = [str(c) for c in X.columns]
    Xa = np.array(X, dtype=np.float64, copy=True) if copy else np.asarray(X, dtype=np.float64)
    if Xa.ndim == 1:
        Xa = Xa[:, None]
    if Xa.ndim != 2 or Xa.shape[0] != n:
        raise FastmmeError(f"X must have shape (n, p) with n = {n} (the length of y); got {np.shape(X)}")
    if not np.all(np.isfinite(Xa)):
        raise FastmmeError(f"X contains {int(np.sum(~np.isfinite(Xa)))} NaN or inf value(s): "
                           "drop or impute those rows")
    if x_names is None:
        x_names = [f"x{i}" for i in range(Xa.shape[1])]
    x_names = [str(s) for s in x_names]
    if len(x_names) != Xa.shape[1]:
        raise FastmmeError(f"x_names has {len(x_names)} names for {Xa.shape[1]} columns of X: give one name per column")
    return Xa, x_names


def drop_aliased(X, x_names, tol=RANK_TOL):
    """Keep a full-rank subset of the columns of X, in their original order: a column is dropped when
    its part not explained by the kept columns before it is below tol of its norm (R's dqrdc2 rule,
    which lme4 uses: the later column of an aliased set goes).  Returns (X_kept, kept_names, dropped_names).
    """
    p = X.shape[1]
    if p == 0:
        return X, list(x_names), []
    norms = np.linalg.norm(X, axis=0)
    Xs = X / np.where(norms == 0, 1.0, norms)
    R = scipy.linalg.qr(Xs, mode="r", check_finite=False)[0][:p]
    keep = _kept_in_order(R.T @ R, norms == 0, tol)
    dropped = [x_names[i] for i in range(p) if i not in set(keep.tolist())]
    if len(keep) == p:               # nothing dropped: no copy of an n × p matrix
        return X, list(x_names), dropped
    return X[:, keep], [x_names[i] for i in keep], dropped


def drop_aliased_gram(XtX, x_names, tol=RANK_TOL):
    """drop_aliased from XᵀWX alone (partitioned data, where X never reaches the driver): the same rule
    on the same Gram matrix.  Returns (kept indices, kept names, dropped names)."""
    p = XtX.shape[0]
    d = np.sqrt(np.maximum(np.diag(XtX), 0.0))
    s = np.where(d == 0, 1.0, d)
    keep = _kept_in_order(XtX / s[:, None] / s[None, :], d == 0, tol)
    kept = set(keep.tolist())
    return keep, [x_names[i] for i in keep], [x_names[i] for i in range(p) if i not in kept]


def _kept_in_order(G, zero, tol):
    """Columns kept by a Cholesky of the unit-diagonal Gram matrix G in column order, skipping a column
    whose remaining diagonal (its squared residual norm) is at most tol²."""
    S = np.array(G, dtype=np.float64)
    keep = []
    for j in range(S.shape[0]):
        if zero[j] or not S[j, j] > tol * tol:
            continue
        keep.append(j)
        v = S[:, j] / np.sqrt(S[j, j])
        S -= np.outer(v, v)
    return np.array(keep, dtype=np.int64)


def _check_terms(terms, n, rows=True, residual=True):
    if isinstance(terms, Term):
        terms = [terms]
    terms = list(terms)
    if not terms:
        raise FastmmeError("a mixed model needs at least one random-effects Term; "
                           "for fixed effects only use ordinary least squares")
    names = []
    for k, t in enumerate(terms):
        if not isinstance(t, Term):
            raise FastmmeError(f"terms[{k}] is a {type(t).__name__}, not a fastmme.Term")
        nm = t.name or f"g{k + 1}"
        label = f"term {k + 1} ({' + '.join(t.z_names)} | {nm})"
        if rows and t.n != n:
            raise FastmmeError(f"{label}: groups has length {t.n} but y has {n} observations")
        if t.n_levels < 2:
            raise FastmmeError(f"{label}: the grouping factor has a single level; a variance cannot be "
                               "estimated from one group — remove the term or add groups")
        if t.known is not None or not residual:
            pass      # levels without records are identified through K (the animal model); a GLMM has no
            #           residual variance to confound with an observation-level term
        elif t.n_levels >= n:
            raise FastmmeError(f"{label}: {t.n_levels} levels for {n} observations — the variance cannot be "
                               "separated from the residual; remove the term or add replicates")
        elif t.q >= n:
            raise FastmmeError(f"{label}: {t.q} random effects for {n} observations — the random-effects "
                               "parameters and the residual variance are unidentifiable; simplify the term")
        names.append(nm)
    # make grouping names unique for output (lme4 repeats names; we suffix)
    seen = {}
    uniq = []
    for nm in names:
        c = seen.get(nm, 0)
        uniq.append(nm if c == 0 else f"{nm}.{c}")
        seen[nm] = c + 1
    return tuple(terms), tuple(uniq)


def working_response(y, X, w, offset=None):
    """(y_fit, b₀) with y_fit = y − offset − X b₀ and b₀ the weighted least-squares fit of y − offset on X.

    The profiled REML and ML criteria, Var(β̂), σ̂ and θ̂ are unchanged when the response moves by a
    vector in the column space of X (β absorbs it: β = β̂(y_fit) + b₀), but the rounding is not: r²
    is a difference of sums of squares of y, and with y = M + z, M/sd(z) = 10⁶, it lost all but a few
    digits.  y_fit has the spread of the residuals, not of y.  A constant column of X (an intercept)
    is taken out first as the weighted mean, whose subtraction is exact for entries within a factor 2
    of it (Sterbenz): y_fit then equals the caller's own centred response up to a vector of X's span;
    two passes of least squares (QR) remove the rest.  Tests: tests/test_scale.py."""
    r = np.array(y, dtype=np.float64, copy=True)
    if offset is not None:
        r -= offset
    p = X.shape[1]
    b0 = np.zeros(p)
    if p == 0:
        return r, b0
    unit = w is None or (w.ndim == 1 and w.strides == (0,) and float(w[0]) == 1.0)    # make_spec's unit weights
    const = [j for j in range(p) if X[0, j] != 0 and np.all(X[:, j] == X[0, j])]
    if const:
        j = const[0]
        m = float(np.sum(r) / r.shape[0]) if unit else float(np.sum(w * r) / np.sum(w))
        r -= m
        b0[j] += m / X[0, j]
    sw = None if unit else np.sqrt(w)
    for _ in range(2):
        # LAPACK works in the weighted copies made here (overwrite: no second copy of an n × p matrix);
        # unit weights multiply by nothing (× 1.0 is exact: the same numbers, 1M rows: 69 → 31 MB)
        if unit:
            c = scipy.linalg.lstsq(X, r.copy(), check_finite=False, overwrite_b=True)[0]
        else:
            c = scipy.linalg.lstsq(X * sw[:, None], r * sw, check_finite=False, overwrite_a=True, overwrite_b=True)[0]
        r -= X @ c
        b0 += c
    return r, b0


def make_spec(y, X, terms, reml=True, weights=None, x_names=None, copy=True, sparse_fixed=None,
              offset=None, residual=True) -> ModelSpec:
    """Validate and copy the inputs; drop aliased columns of X with a warning naming them.

    sparse_fixed: {name: labels (n,)} fixed factors to carry in the sparse factor (fastmme.spec.sparse_fixed).
    offset: (n,) a known part of the linear predictor (lme4's offset): y − offset is modelled.
    copy=False is for arrays fastmme built itself (the formula layer): they are not the caller's.
    residual=False: no residual variance (a GLMM), so a term may have a level per observation."""
    yv = _vector("y", y, copy=copy)
    n = yv.shape[0]
    Xa, names = _design(X, n, x_names, copy=copy)
    if weights is None:
        w = np.broadcast_to(np.float64(1.0), (n,))      # unit weights without n stored values
    else:
        w = _vector("weights", weights, n)
        check_weights(w)
    terms_t, term_names = _check_terms(terms, n, residual=residual)
    Xk, kept, dropped = drop_aliased(Xa, names)
    warn_aliased(dropped, stacklevel=3)
    factors = ()
    if sparse_fixed:
        from .sparse_fixed import resolve
        if not isinstance(sparse_fixed, dict):
            raise FastmmeError("sparse_fixed must be a dict: factor name → one label per observation")
        factors, Xk, kept, more = resolve(sparse_fixed, Xk, kept)
        dropped = list(dropped) + list(more)
    p_df = Xk.shape[1] + sum(f.n_estimable for f in factors)
    check_enough_rows(n, p_df)
    off = None if offset is None else _vector("offset", offset, n)
    yv.setflags(write=False)
    Xk = np.ascontiguousarray(Xk)
    Xk.setflags(write=False)
    b0 = working_response(yv, Xk, w, off)[1]
    for a in (b0,) + (() if off is None else (off,)):
        a.setflags(write=False)
    return ModelSpec(y=yv, X=Xk, x_names=tuple(kept), dropped=tuple(dropped),
                     weights=w, has_weights=weights is not None, terms=terms_t, term_names=term_names,
                     reml=bool(reml), sparse_factors=tuple(factors), offset=off, shift=b0)
