"""Random small mixed-model designs for the tests (deterministic given a seed)."""
import numpy as np

import fastmme


def random_design(kind, seed=0, n=None, weights=False):
    """(y, X, terms, theta) for a design kind: one-way, crossed, nested, slopes, diagonal, identity,
    partial (partially crossed, unbalanced, some levels with one row), three (three crossed terms)."""
    rng = np.random.default_rng(seed)
    n = n or int(rng.integers(40, 90))
    x = rng.normal(size=n)
    X = np.column_stack([np.ones(n), x, rng.normal(size=n)])
    if kind == "oneway":
        g = rng.integers(0, 7, n)
        terms = [fastmme.Term(g, name="g")]
    elif kind == "crossed":
        terms = [fastmme.Term(rng.integers(0, 6, n), name="a"), fastmme.Term(rng.integers(0, 4, n), name="b")]
    elif kind == "nested":
        a = rng.integers(0, 4, n)
        b = a * 3 + rng.integers(0, 3, n)
        terms = [fastmme.Term(a, name="a"), fastmme.Term(b, name="a:b")]
    elif kind == "slopes":
        g = rng.integers(0, 8, n)
        terms = [fastmme.Term(g, z=np.column_stack([np.ones(n), x]), name="g"),
                 fastmme.Term(rng.integers(0, 5, n), name="h")]
    elif kind == "slopes3":
        g = np.array([f"s{v}" for v in rng.integers(0, 6, n)])
        z = np.column_stack([np.ones(n), x, rng.uniform(-1, 1, n)])
        terms = [fastmme.Term(g, z=z, name="g")]
    elif kind == "diagonal":
        g = rng.integers(0, 8, n)
        terms = [fastmme.Term(g, z=np.column_stack([np.ones(n), x]), structure="diagonal", name="g"),
                 fastmme.Term(rng.integers(0, 3, n), name="h")]
    elif kind == "identity":
        g = rng.integers(0, 8, n)
        terms = [fastmme.Term(g, z=np.column_stack([x, rng.normal(size=n)]), structure="identity", name="g")]
    elif kind == "partial":
        a = np.concatenate([rng.integers(0, 5, n - 6), np.arange(5, 11)])   # levels 5..10 seen once
        b = np.where(rng.uniform(size=n) < 0.5, rng.integers(0, 3, n), rng.integers(3, 6, n))
        terms = [fastmme.Term(a, name="a"), fastmme.Term(b, name="b")]
    elif kind == "three":
        # three terms, the eliminated one (most effects) in the middle: two other terms, one with r = 2,
        # one pair block stored as (other, s) and one as (s, other)
        a = rng.integers(0, 12, n)
        terms = [fastmme.Term(rng.integers(0, 4, n), z=np.column_stack([np.ones(n), x]), name="b"),
                 fastmme.Term(a, name="a"),
                 fastmme.Term(rng.integers(0, 3, n), z=np.column_stack([np.ones(n), rng.normal(size=n)]),
                              structure="diagonal", name="c")]
    else:
        raise ValueError(kind)
    theta = np.concatenate([np.where(t.theta_lower() == 0, rng.uniform(0.2, 2.0, t.n_theta),
                                     rng.normal(0, 0.5, t.n_theta)) for t in terms])
    # simulate y from the model at theta so fits are meaningful
    from fastmme.dense import design_Z, lambda_matrix
    Z = design_Z(terms)
    b = lambda_matrix(terms, theta) @ rng.normal(size=Z.shape[1])
    y = X @ np.array([3.0, 1.5, -0.7]) + Z @ b + rng.normal(size=n)
    w = rng.uniform(0.3, 3.0, n) if weights else None
    return y, X, terms, theta, w


KINDS = ["oneway", "crossed", "nested", "slopes", "slopes3", "diagonal", "identity", "partial"]
