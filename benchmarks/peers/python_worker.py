"""One peer on one problem in this process: load (untimed), fit `repeat` times, print JSON.

    python benchmarks/peers/python_worker.py PEER PROBLEM REPEAT
PEER: fastmme | mixedlm | mixedlm_rs | statsmodels | dense
"""
import json
import os
import resource
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import numpy as np  # noqa: E402

from designs import formula, load_parquet  # noqa: E402


def fit_fastmme(df, f):
    import fastmme
    r = fastmme.lmm(f, df)
    return dict(loglik=r.loglik, criterion=r.deviance, evals=r.core.n_evals, optimizer=r.core.optimizer,
                converged=bool(r.converged))


def fit_mixedlm(df, f):
    import mixedlm
    r = mixedlm.lmer(f, df)
    return dict(loglik=float(r.logLik().value) if hasattr(r.logLik(), "value") else float(str(r.logLik()).split()[2]),
                evals=getattr(r, "function_evals", None))


def fit_mixedlm_rs(df, f):
    """mixedlm-rs (statsmodels' MixedLM interface, Rust core): one grouping factor only."""
    import re
    import mixedlm_rs
    m = re.fullmatch(r"(\w+) ~ 1 \+ (\w+) \+ \(1 \+ (\w+) \| (\w+)\)", f)
    if not m or m.group(2) != m.group(3):
        raise NotImplementedError("mixedlm-rs: only y ~ 1 + x + (1 + x | g) is set up here (one grouping factor)")
    y, x, g = m.group(1), m.group(2), m.group(4)
    r = mixedlm_rs.mixedlm(f"{y} ~ {x}", df, groups=df[g], re_formula=f"~{x}").fit(reml=True)
    return dict(loglik=float(r.llf), evals=None)


def fit_statsmodels(df, f):
    import statsmodels.formula.api as smf
    if f != "Reaction ~ Days + (Days | Subject)":
        raise NotImplementedError("statsmodels MixedLM: only the sleepstudy model is set up here (crossed terms "
                                  "need variance components over one all-rows group; not attempted — the issue "
                                  "reports InstEval unfinished after 20 min, not re-measured)")
    r = smf.mixedlm("Reaction ~ Days", df, groups=df["Subject"], re_formula="~Days").fit(reml=True)
    return dict(loglik=float(r.llf), evals=None)


def fit_dense(df, f):
    import fastmme
    from fastmme.api import Model
    from fastmme.dense import DenseModel
    from fastmme.formula.frame import build_design
    from fastmme.optimize.minimize import minimize_bobyqa
    if len(df) > 5000:
        raise NotImplementedError("dense GLS: n > 5000 does not fit the n × n V in reasonable time")
    d = build_design(f, df)
    dm = DenseModel(d.y, d.X, d.terms)
    lower = Model(d.y, d.X, d.terms).theta_lower
    start = np.concatenate([t.theta_start() for t in d.terms])
    opt = minimize_bobyqa(dm.deviance, start, lower)
    return dict(loglik=-0.5 * opt.fmin, evals=opt.n_evals)


def main():
    peer, problem, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3])
    fn = globals()[f"fit_{peer}"]
    df = load_parquet(problem)
    f = formula(problem)
    times, info = [], {}
    try:
        for _ in range(repeat):
            t0 = time.perf_counter()
            info = fn(df, f)
            times.append(time.perf_counter() - t0)
    except NotImplementedError as exc:
        print(json.dumps(dict(peer=peer, problem=problem, skipped=str(exc))))
        return
    print(json.dumps(dict(peer=peer, problem=problem, times=times, median=float(np.median(times)),
                          first=times[0], peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                          **info)))


if __name__ == "__main__":
    main()
