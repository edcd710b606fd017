"""Build the fastmme model matching each lme4 reference fit (tests/fixtures/lme4_reference.json)."""
import json
from pathlib import Path

import numpy as np

import fastmme

FIXTURE = Path(__file__).parent / "fixtures" / "lme4_reference.json"


def reference():
    return json.loads(FIXTURE.read_text())


def build(key, entry):
    """(Model, {term name: index}) for a fixture entry."""
    reml = entry["reml"]
    if key.startswith("sleepstudy"):
        d = fastmme.datasets.load("sleepstudy")
        X = np.column_stack([np.ones(len(d)), d.Days.to_numpy(float)])
        names = ["(Intercept)", "Days"]
        w = None
        if "weighted" in key:   # the weights rule of the R script
            subj = d.Subject.astype(int).to_numpy()
            codes = np.unique(subj, return_inverse=True)[1] + 1       # R's as.integer(factor)
            w = 1 + (codes % 3) / 2 + d.Days.to_numpy(float) / 10
        if "_slopes" in key or "weighted" in key:
            terms = [fastmme.Term(d.Subject, z=X, name="Subject", z_names=names)]
        elif "_diag" in key:
            terms = [fastmme.Term(d.Subject, z=X, name="Subject", z_names=names, structure="diagonal")]
        else:
            terms = [fastmme.Term(d.Subject, name="Subject")]
        return fastmme.Model(d.Reaction, X, terms, reml=reml, weights=w, x_names=names)
    if key.startswith("dyestuff"):
        d = fastmme.datasets.load("Dyestuff2" if key.startswith("dyestuff2") else "Dyestuff")
        return fastmme.Model(d.Yield, np.ones((len(d), 1)), [fastmme.Term(d.Batch, name="Batch")],
                             reml=reml, x_names=["(Intercept)"])
    if key.startswith("penicillin"):
        d = fastmme.datasets.load("Penicillin")
        return fastmme.Model(d.diameter, np.ones((len(d), 1)),
                             [fastmme.Term(d["plate"], name="plate"), fastmme.Term(d["sample"], name="sample")],
                             reml=reml, x_names=["(Intercept)"])
    raise KeyError(key)


def relerr(a, b, scale=None):
    a, b = np.asarray(a, float), np.asarray(b, float)
    s = scale if scale is not None else np.max(np.abs(b))
    if s == 0:
        return float(np.max(np.abs(a - b)))
    return float(np.max(np.abs(a - b)) / s)


def compare(res, entry):
    """Worst relative differences between a fastmme result and an lme4 fit, by quantity."""
    out = {}
    out["beta"] = relerr(res.beta, entry["beta"])
    out["beta_se"] = relerr(res.beta_se, entry["beta_se"])
    out["sigma"] = relerr(res.sigma, entry["sigma"])
    # variance components: lme4's vcov column (variances and covariances), same order as ours
    ours = []
    for S in res.covariances:
        for j in range(S.shape[0]):
            for i in range(j, S.shape[0]):
                ours.append((i, j, S[i, j]))
    lme4_vc = np.asarray(entry["varcorr"]["vcov"], float)[:-1]          # last is the residual
    vc = []
    for S, st in zip(res.covariances, res.structures):
        r = S.shape[0]
        if st == "diagonal":
            vc += [S[i, i] for i in range(r)]
        else:
            vc += [S[i, i] for i in range(r)] + [S[i, j] for j in range(r) for i in range(j + 1, r)]
    out["varcomp"] = relerr(vc, lme4_vc, scale=max(np.max(np.abs(lme4_vc)), entry["sigma"] ** 2))
    blup_err, cv_err = 0.0, 0.0
    for name, levels, b, cv in zip(res.term_names, res.levels, res.blups, res.cond_var):
        ref_levels = list(entry["levels"][name])
        idx = [list(map(str, levels)).index(str(lv)) for lv in ref_levels]
        ref_b = np.asarray(entry["blups"][name], float).reshape(len(ref_levels), -1)
        scale = max(np.max(np.abs(ref_b)), 1e-3 * entry["sigma"])
        blup_err = max(blup_err, relerr(b[idx], ref_b, scale))
        ref_cv = np.asarray(entry["condvar"][name], float).reshape(len(ref_levels), b.shape[1], b.shape[1])
        cv = cv[idx]
        if res.structures[res.term_names.index(name)] == "diagonal":
            # lme4 splits (x || g) into separate terms and reports each term's block alone; fastmme
            # reports the joint block (with the posterior covariance between the columns): compare diagonals
            cv = np.einsum("jaa->ja", cv)
            ref_cv = np.einsum("jaa->ja", ref_cv)
        cv_err = max(cv_err, relerr(cv, ref_cv))
    out["blups"] = blup_err
    out["cond_var"] = cv_err
    out["loglik"] = relerr(res.loglik, entry["loglik"])
    out["aic"] = relerr(res.aic, entry["aic"])
    out["bic"] = relerr(res.bic, entry["bic"])
    out["fitted"] = relerr(res.fitted[:10], entry["fitted_head"])
    return out
