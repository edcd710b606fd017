"""Worst relative differences between fastmme and the dense-GLS oracle (table in docs/verification.md).

    .venv/bin/python tools/dense_agreement.py
"""
import sys; sys.path.insert(0, __import__("os").path.join(__import__("os").path.dirname(__file__), "..", "tests"))
import numpy as np, fastmme
from fastmme.dense import DenseModel
from designs import KINDS, random_design
print("| design | worst rel. diff: deviance | β̂ | BLUPs | Var(β̂) |")
print("|---|---|---|---|---|")
for kind in KINDS:
    wd = wb = wu = wc = 0.0
    for seed in range(5):
        for weights in (False, True):
            for reml in (True, False):
                y, X, terms, theta, w = random_design(kind, seed=seed, weights=weights)
                s = fastmme.Model(y, X, terms, reml=reml, weights=w); d = DenseModel(y, X, terms, reml=reml, weights=w)
                rng = np.random.default_rng(seed)
                for th in (theta, theta * rng.uniform(0.1, 3, theta.shape)):
                    wd = max(wd, abs(s.deviance(th) / d.deviance(th) - 1))
                    r, g = s.at(th), d.gls(th)
                    wb = max(wb, np.abs(r.beta - g.beta).max() / np.abs(g.beta).max())
                    b = np.concatenate([x.ravel() for x in r.blups]); wu = max(wu, np.abs(b - g.b).max() / np.abs(g.b).max())
                    wc = max(wc, np.abs(r.beta_cov - g.beta_cov).max() / np.abs(g.beta_cov).max())
    print(f"| {kind} | {wd:.1e} | {wb:.1e} | {wu:.1e} | {wc:.1e} |")
