"""`make demo`: fit lme4's sleepstudy model  Reaction ~ Days + (Days | Subject)  by REML, print it.

Uses the array API on the bundled data set (python -m fastmme.demo).
"""
import time

import numpy as np

from . import datasets
from .api import Model
from .terms import Term


def main() -> None:
    d = datasets.load("sleepstudy")
    t0 = time.perf_counter()
    X = np.column_stack([np.ones(len(d)), d["Days"].to_numpy(float)])
    term = Term(d["Subject"].to_numpy(), z=X, name="Subject", z_names=["(Intercept)", "Days"])
    model = Model(d["Reaction"].to_numpy(float), X, [term], reml=True, x_names=["(Intercept)", "Days"])
    res = model.fit()
    elapsed = time.perf_counter() - t0
    print("sleepstudy (lme4): Reaction ~ Days + (Days | Subject), 180 observations, 18 subjects\n")
    print(res.summary())
    print(f"\ntheta = {np.round(res.theta, 6)}  (lme4: 0.966742 0.015169 0.230910)")
    print(f"fitted in {elapsed * 1000:.1f} ms (assembly, {res.n_evals} sparse factorisations, results)")


if __name__ == "__main__":
    main()
