"""Before/after record of a refactoring: θ, β, the criterion, BLUPs and Var(β̂) of a set of fits, the
criterion, gradient, AI matrix and solves of both evaluators at a fixed θ, and fits of Dask input,
pickled; then compared bitwise.  A restructuring that changes no arithmetic leaves every entry identical.

    python tools/bitwise_fits.py record before.pkl          # on the old commit (a git worktree)
    python tools/bitwise_fits.py record after.pkl           # on the new one
    python tools/bitwise_fits.py compare before.pkl after.pkl

Run it from the checkout whose fastmme is to be recorded (PYTHONPATH=. in a worktree).
"""
import pickle
import sys
import warnings
from pathlib import Path

import numpy as np

import fastmme
from fastmme import Model
from fastmme.api import design_model, optimize_theta
from fastmme.formula.frame import build_design
from fastmme.evaluate.objective import ProfiledDeviance

CASES = [("sleepstudy", "Reaction ~ Days + (Days | Subject)"),
         ("sleepstudy", "Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)"),
         ("cake", "angle ~ recipe * temperature + (1 | recipe:replicate)"),
         ("Penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)"),
         ("Dyestuff", "Yield ~ 1 + (1 | Batch)"),
         ("Pastes", "strength ~ 1 + (1 | batch/cask)"),
         ("InstEval", "y ~ service + (1 | s) + (1 | d) + (1 | dept)")]


def record() -> dict:
    warnings.simplefilter("ignore")
    out = {}
    for name, formula in CASES:
        data = fastmme.datasets.load(name)
        for reml in (True, False):
            c = fastmme.lmm(formula, data, reml=reml).core
            out[(name, formula, reml)] = (c.theta, c.beta, c.deviance, [np.asarray(b) for b in c.blups], c.beta_cov)
        ml = fastmme.lmm(formula, data).refit_ml().core
        out[(name, formula, "refit_ml")] = (ml.theta, ml.beta, ml.deviance)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from test_relationship import animal_data          # seeded pedigrees: the sparse (CHOLMOD) path
    for seed, slopes, pe in [(0, False, False), (2, True, False), (3, False, True)]:
        ped, y, X, terms = animal_data(seed, slopes=slopes, pe=pe)
        r = Model(y, X, terms).fit()
        out[("animal", seed)] = (r.theta, r.beta, r.deviance, [np.asarray(b) for b in r.blups], r.beta_cov)
    import dask
    import dask.dataframe as dd
    with dask.config.set(scheduler="synchronous"):    # Dask input: the partitioned row passes
        for name, formula in CASES[:4]:
            c = fastmme.lmm(formula, dd.from_pandas(fastmme.datasets.load(name), npartitions=3)).core
            out[(name, formula, "dask")] = (c.theta, c.beta, c.deviance, [np.asarray(b) for b in c.blups])
    glmms = [("cbpp", "cbind(incidence, size - incidence) ~ period + (1 | herd)", 1),
             ("cbpp", "cbind(incidence, size - incidence) ~ period + (1 | herd)", 5),
             ("grouseticks", "TICKS ~ YEAR + HEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)", 1)]
    for name, formula, nagq in glmms:      # GLMMs: the fit, its predictions, simulations and intervals
        data = fastmme.datasets.load(name)
        family = "poisson" if name == "grouseticks" else "binomial"
        g = fastmme.glmm(formula, data, family=family, nAGQ=nagq)
        out[(name, formula, "glmm", nagq)] = (
            g.theta, g.beta, g.minus2loglik, [np.asarray(b) for b in g.blups], g.beta_cov, g.singular,
            g.predict(re=False), g.predict(data.iloc[:7], type="response"), g.simulate(3, seed=1).to_numpy(),
            g.confint().to_numpy())
    g = fastmme.glmm(glmms[0][1], fastmme.datasets.load("cbpp"), family="binomial")
    out[("cbpp", "glmm profile")] = g.confint("profile", parm=["period2"]).to_numpy()
    m = design_model(build_design("strength ~ 1 + (1 | batch) + (1 | batch:cask)", fastmme.datasets.load("Pastes")), True)
    th = np.array([0.9, 2.1])
    for evaluator in ("cholmod", "schur"):
        obj = ProfiledDeviance(m.spec, evaluator=evaluator)
        out[("Pastes", evaluator)] = (obj.deviance(th), obj.deviance_and_gradient(th, information=True),
                                      obj.solve(th)[:3], obj.unscaled_beta_cov(th), optimize_theta(obj).theta)
    return out


def same(a, b) -> bool:
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(same(u, v) for u, v in zip(a, b))
    a, b = np.asarray(a), np.asarray(b)
    floats = a.dtype.kind == "f" and b.dtype.kind == "f"       # the NaN rows of a Wald confint compare equal
    return np.array_equal(a, b, equal_nan=floats)


def main(argv) -> int:
    if len(argv) == 2 and argv[0] == "record":
        out = record()
        Path(argv[1]).write_bytes(pickle.dumps(out))
        print(f"{len(out)} entries recorded in {argv[1]}")
        return 0
    if len(argv) == 3 and argv[0] == "compare":
        a, b = (pickle.loads(Path(p).read_bytes()) for p in argv[1:])
        differ = [k for k in a if k not in b or not same(a[k], b[k])] + [k for k in b if k not in a]
        print(f"{len(a)} entries; {len(differ)} differ" + "".join(f"\n  {k}" for k in differ))
        return 1 if differ else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
