"""One stage against lme4's two for a GLMM with the exact Laplace gradient (fastmme.optimize.glmm): the
optimisation only, in one process, each route from a new objective.

    .venv/bin/python benchmarks/glmm_stages.py [cbpp grouseticks verbagg verbagg_slopes contraception
                                                contraception_slopes insteval_binary crossed_1e6]

"two": BOBYQA over θ at nAGQ = 0 to a relative tolerance of 1e-6, then L-BFGS-B with the gradient over
(θ, β) from there (the route before the one stage); "one": fastmme's route (L-BFGS-B over (θ, β) from θ's
start and β at its joint mode there).  Prints seconds, evaluations, PIRLS iterations and the objective.
"""
import sys
import time
import warnings

import numpy as np
import pandas as pd

import fastmme
import fastmme.optimize.glmm as og
from fastmme.evaluate.laplace import glmm_objective
from fastmme.formula.frame import build_design
from fastmme.formula.glm_response import glm_response
from fastmme.spec.family import family

from glmm import PROBLEMS as GLMER_PROBLEMS       # benchmarks/glmm.py: the models timed against glmer

PROBLEMS = dict(GLMER_PROBLEMS, **{
    "verbagg_slopes": ("VerbAgg", "r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 + Gender | item)", "binomial"),
    "contraception_slopes": ("Contraception", "use ~ 1 + age + I(age^2) + urban + livch + (urban | district)",
                             "binomial"),
    "crossed_1e6": (None, "y ~ x1 + x2 + (1 | g1) + (1 | g2)", "binomial"),
})


def crossed_1e6() -> pd.DataFrame:
    """10⁶ rows, 100,000 × 2,000 crossed levels, two covariates (issue 17's design)."""
    rng = np.random.default_rng(42)
    n = 10**6
    g1, g2 = rng.integers(0, 100_000, n), rng.integers(0, 2000, n)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    eta = -0.5 + 0.5 * x1 - 0.3 * x2 + rng.normal(0, 0.8, 100_000)[g1] + rng.normal(0, 0.5, 2000)[g2]
    y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    return pd.DataFrame({"y": y, "x1": x1, "x2": x2, "g1": g1, "g2": g2})


def data(name):
    source = PROBLEMS[name][0]
    if source is None:
        return crossed_1e6()
    df = fastmme.datasets.load(source)
    if source == "InstEval":
        df["yb"] = (df["y"] >= 4).astype(int)
    if source == "grouseticks":
        df["cHEIGHT"] = df["HEIGHT"] - df["HEIGHT"].mean()
    return df


def two_stages(obj):
    s1 = og.minimize_bobyqa(obj.laplace_beta_free, obj.theta_start(), obj.theta_lower(), ftol_rel=1e-6)
    b1 = obj.pirls(s1.theta)["beta"]
    se = np.sqrt(np.maximum(np.diag(obj.unscaled_beta_cov(s1.theta, b1)), 1e-12))
    k = s1.theta.shape[0]
    lower2 = np.concatenate([obj.theta_lower(), np.full(b1.shape[0], -np.inf)])
    s2 = og._gradient_stage(obj, np.concatenate([s1.theta, b1]), lower2, se, k, og.MAXEVAL, None)
    return s1.n_evals + s2.n_evals, s2.fmin


def main() -> int:
    warnings.simplefilter("ignore")
    fastmme.glmm(PROBLEMS["cbpp"][1], fastmme.datasets.load("cbpp"))        # loads the compiled kernels
    for name in sys.argv[1:] or list(PROBLEMS):
        _, formula, fam = PROBLEMS[name]
        f2, d2, w = glm_response(formula, data(name), None, family(fam))
        design = build_design(f2, d2, weights=w, sparse_fixed=False)
        for route in ("two", "one"):
            obj = glmm_objective(design, family(fam))
            t = time.perf_counter()
            with og.kernel_threads(obj), obj.warm_starts():
                if route == "two":
                    evals, value = two_stages(obj)
                else:
                    o = og.optimize_glmm(obj)
                    evals, value = o.n_evals, o.value
            print(f"| {name} | {route} | {time.perf_counter() - t:.3f} | {evals} | {obj.n_pirls} | {value:.10f} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
