"""Benchmark problem registry: name -> function returning (y, X, terms, description).

Synthetic designs use fixed seeds so every run sees the same data.
"""
import numpy as np

import fastmme


def sleepstudy():
    d = fastmme.datasets.load("sleepstudy")
    X = np.column_stack([np.ones(len(d)), d.Days.to_numpy(float)])
    return (d.Reaction.to_numpy(float), X, [fastmme.Term(d.Subject.to_numpy(), z=X, name="Subject")],
            "sleepstudy Reaction ~ Days + (Days | Subject)")


def crossed(n, n1=None, n2=None, seed=42):
    """y ~ 1 + x1 + x2 + (1 | g1) + (1 | g2), levels drawn uniformly (the performance issue's design
    at 1e6 rows has 100,000 × 2,000 levels; smaller n scale the levels down by n / 10)."""
    n1 = n1 or max(10, n // 10)
    n2 = n2 or max(5, min(2000, n // 500))
    rng = np.random.default_rng(seed)
    g1 = rng.integers(0, n1, n)
    g2 = rng.integers(0, n2, n)
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.normal(size=n)])
    y = X @ [1.0, 0.5, -0.3] + rng.normal(0, 0.8, n1)[g1] + rng.normal(0, 0.5, n2)[g2] + rng.normal(size=n)
    return y, X, [fastmme.Term(g1, name="g1"), fastmme.Term(g2, name="g2")], \
        f"crossed n={n}: (1|g1) {n1} levels + (1|g2) {n2} levels"


def slopes(n, ng=None, nh=None, seed=43):
    """y ~ 1 + x + (1 + x | g) + (1 | h)."""
    ng = ng or max(10, n // 20)
    nh = nh or max(5, min(1000, n // 1000))
    rng = np.random.default_rng(seed)
    g = rng.integers(0, ng, n)
    h = rng.integers(0, nh, n)
    x = rng.normal(size=n)
    X = np.column_stack([np.ones(n), x])
    b = rng.multivariate_normal([0, 0], [[1, 0.3], [0.3, 0.5]], ng)
    y = X @ [1.0, 0.5] + b[g, 0] + b[g, 1] * x + rng.normal(0, 0.5, nh)[h] + rng.normal(size=n)
    return y, X, [fastmme.Term(g, z=X, name="g"), fastmme.Term(h, name="h")], \
        f"slopes n={n}: (1+x|g) {ng} levels + (1|h) {nh} levels"


PROBLEMS = {
    "sleepstudy": sleepstudy,
    "crossed_2k": lambda: crossed(2_000),
    "crossed_10k": lambda: crossed(10_000),
    "crossed_100k": lambda: crossed(100_000),
    "slopes_100k": lambda: slopes(100_000),
}
