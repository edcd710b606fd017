"""Benchmark data sets as data frames (deterministic seeds), shared by every peer through files.

    crossed_N : y ~ 1 + x1 + x2 + (1 | g1) + (1 | g2)   (performance issue: 1e6 rows, 100,000 × 2,000 levels)
    slopes_N  : y ~ 1 + x + (1 + x | g) + (1 | h)       (1e6 rows, 50,000 × 1,000 levels)
    onefactor_N : y ~ 1 + x + (1 + x | g)               (1e6 rows, 50,000 levels: one grouping factor)
    maximalK{s,f}_SEED : y ~ 1 + A*B[*C] + (1 + A*B[*C] | subj) + (1 + A*B[*C] | item), subjects × items
                (56 × 32, one observation per pair, 2^K within factors coded ±1, counterbalanced; r = 2^K
                per term); s: simulated from covariances of rank 2 and 1 (a singular optimum), f: full rank
"""
import os
import re

import numpy as np
import pandas as pd

# fastmme is imported only where a data set comes from it (frame): every peer's worker imports this
# module, and a peer's process must not carry fastmme's imports (numba, llvmlite, scipy: ~100 MB of
# peak memory that would be counted as the peer's)

HERE = os.path.dirname(os.path.abspath(__file__))
DATA_DIR = os.path.join(HERE, "..", "build", "bench-data")

FORMULAS = {
    "sleepstudy": "Reaction ~ Days + (Days | Subject)",
    "insteval": "y ~ 1 + service + (1 | s) + (1 | d) + (1 | dept:service)",
    "insteval3": "y ~ 1 + service + (1 | s) + (1 | d)",
    "crossed": "y ~ 1 + x1 + x2 + (1 | g1) + (1 | g2)",
    "slopes": "y ~ 1 + x + (1 + x | g) + (1 | h)",
    "onefactor": "y ~ 1 + x + (1 + x | g)",
    **{f"maximal{k}{kind}": f"y ~ 1 + {f} + (1 + {f} | subj) + (1 + {f} | item)"
       for k, f in ((2, "A*B"), (3, "A*B*C")) for kind in "sf"},
}
CATEGORICAL = {"sleepstudy": ["Subject"], "insteval": ["s", "d", "studage", "lectage", "service", "dept"],
               "crossed": ["g1", "g2"], "slopes": ["g", "h"], "onefactor": ["g"],
               **{f"maximal{k}{kind}": ["subj", "item"] for k in (2, 3) for kind in "sf"}}


def _size(name):
    m = re.fullmatch(r"(crossed|slopes|onefactor)_(\d+)(k|m)?", name)
    n = int(m.group(2)) * {"k": 1_000, "m": 1_000_000, None: 1}[m.group(3)]
    return m.group(1), n


def crossed_frame(n, seed=42):
    n1 = max(10, n // 10) if n < 1_000_000 else 100_000 * n // 1_000_000
    n2 = 2000 if n >= 1_000_000 else max(5, min(2000, n // 500))
    rng = np.random.default_rng(seed)
    g1, g2 = rng.integers(0, n1, n), rng.integers(0, n2, n)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    y = 1 + 0.5 * x1 - 0.3 * x2 + rng.normal(0, 0.8, n1)[g1] + rng.normal(0, 0.5, n2)[g2] + rng.normal(size=n)
    return pd.DataFrame({"y": y, "x1": x1, "x2": x2, "g1": g1, "g2": g2})


def slopes_frame(n, seed=43):
    ng = 50_000 * n // 1_000_000 if n >= 1_000_000 else max(10, n // 20)
    nh = 1000 if n >= 1_000_000 else max(5, min(1000, n // 1000))
    rng = np.random.default_rng(seed)
    g, h = rng.integers(0, ng, n), rng.integers(0, nh, n)
    x = rng.normal(size=n)
    b = rng.multivariate_normal([0, 0], [[1, 0.3], [0.3, 0.5]], ng)
    y = 1 + 0.5 * x + b[g, 0] + b[g, 1] * x + rng.normal(0, 0.5, nh)[h] + rng.normal(size=n)
    return pd.DataFrame({"y": y, "x": x, "g": g, "h": h})


def maximal_frame(k, singular, seed, ns=56, ni=32):
    """Subjects × items with 2^k within factors (see the module docstring)."""
    import itertools
    rng = np.random.default_rng(seed)
    subj, item = np.repeat(np.arange(ns), ni), np.tile(np.arange(ni), ns)
    cond = (subj + item) % 2 ** k
    F = np.array([[1.0 if (c >> b) & 1 else -1.0 for b in range(k)] for c in cond])
    Xf = np.column_stack([np.ones(len(cond))] + [np.prod(F[:, list(c)], axis=1) for r in range(1, k + 1)
                                                 for c in itertools.combinations(range(k), r)])
    p = Xf.shape[1]

    def cov(rank):
        A = rng.normal(size=(p, rank)) * 0.5
        A[:, 0] *= 2
        return A @ A.T
    Ss, Si = cov(2 if singular else p), cov(1 if singular else p)
    bs = rng.multivariate_normal(np.zeros(p), Ss, ns, method="eigh")
    bi = rng.multivariate_normal(np.zeros(p), Si, ni, method="eigh")
    y = Xf @ rng.normal(size=p) + np.sum(Xf * bs[subj], 1) + np.sum(Xf * bi[item], 1) + rng.normal(size=len(cond))
    return pd.DataFrame({"y": y, "subj": subj, "item": item, **{"ABC"[b]: F[:, b] for b in range(k)}})


def formula(name):
    return FORMULAS[name.split("_")[0]]


def frame(name) -> pd.DataFrame:
    """The problem's data frame (grouping columns as strings for the fitters that need factors)."""
    if name == "sleepstudy":
        import fastmme
        return fastmme.datasets.load("sleepstudy")
    if name.startswith("insteval"):
        import fastmme
        return fastmme.datasets.load("InstEval")
    m = re.fullmatch(r"maximal(\d)([sf])_(\d+)", name)
    if m:
        return maximal_frame(int(m.group(1)), m.group(2) == "s", int(m.group(3)))
    kind, n = _size(name)
    if kind == "onefactor":
        return slopes_frame(n).drop(columns="h")
    return crossed_frame(n) if kind == "crossed" else slopes_frame(n)


def data_file(name, fmt):
    """Write the problem's data once as csv (for R) or parquet (for Python peers); return the path."""
    os.makedirs(DATA_DIR, exist_ok=True)
    base = name if not name.startswith("insteval") else "insteval"
    path = os.path.join(DATA_DIR, f"{base}.{fmt}")
    if not os.path.exists(path):
        df = frame(name)
        for c in CATEGORICAL.get(base.split("_")[0], []):
            df[c] = df[c].astype(str)
        df.to_csv(path, index=False) if fmt == "csv" else df.to_parquet(path)
    return path


def load_parquet(name):
    df = pd.read_parquet(data_file(name, "parquet"))
    for c in CATEGORICAL.get(name.split("_")[0], []):
        df[c] = df[c].astype(str)
    return df
