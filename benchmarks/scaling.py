"""Scaling of fastmme on the crossed design, the dense-GLS baseline beside it, cost per evaluation.

    .venv/bin/python benchmarks/scaling.py [--sizes 10000 100000 1000000 10000000] [--dense 100 300 1000 3000]

Each size runs in a fresh process (peak RSS per size).  Columns: fit time from the data frame,
evaluations, time per evaluation (median of 10 evaluations at θ̂), peak RSS.  The dense baseline
(fastmme.dense, explicit n × n V) is timed per evaluation and for a whole fit at small n, next to
fastmme at the same n, which locates the crossover.  Also: per-evaluation cost at 4 × the rows
(the performance issue's target 3), twice: with the levels' codes redrawn (more distinct level pairs,
so a larger pattern) and with the 1e6 design's cells replicated 4 times (the same pattern).
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def one(n, dense, levels=None):
    import numpy as np
    import pandas as pd
    import fastmme
    from designs import crossed_frame, FORMULAS
    if levels == "replicate4":   # the 1e6 design's cells, each 4 times (new x and noise): same pattern
        base = crossed_frame(n // 4)
        rng = np.random.default_rng(11)
        df = pd.concat([base] * 4, ignore_index=True)
        df["x1"], df["x2"] = rng.normal(size=n), rng.normal(size=n)
        df["y"] = df["y"] + rng.normal(size=n)
    else:
        df = crossed_frame(n)
    if levels and levels != "replicate4":   # same levels, codes redrawn: more distinct pairs
        rng = np.random.default_rng(7)
        df["g1"] = rng.integers(0, levels[0], n)
        df["g2"] = rng.integers(0, levels[1], n)
    f = FORMULAS["crossed"]
    out = dict(n=n, g1=int(df.g1.max() + 1), g2=int(df.g2.max() + 1))
    t0 = time.perf_counter()
    fit = fastmme.lmm(f, df)
    out["fit_s"] = time.perf_counter() - t0
    out["evals"] = fit.core.n_evals
    th = np.array(fit.core.theta)
    obj = fit.model._objective
    ts = []
    for i in range(10):
        t1 = time.perf_counter()
        obj.deviance(th * (1 + 1e-7 * (i + 1)))
        ts.append(time.perf_counter() - t1)
    out["per_eval_ms"] = 1000 * float(np.median(ts))
    ts = []
    if obj.has_gradient:
        for i in range(5):
            t1 = time.perf_counter()
            obj.deviance_and_gradient(th * (1 + 1e-7 * (i + 1)))
            ts.append(time.perf_counter() - t1)
    out["per_grad_ms"] = 1000 * float(np.median(ts)) if ts else float("nan")
    out["zz_entries"] = int(obj.pattern.size)
    out["evaluator"] = obj.evaluator
    if dense:
        from fastmme.dense import DenseModel
        from fastmme.optimize.minimize import minimize_bobyqa
        dm = DenseModel(fit.design.y, fit.design.X, fit.design.terms)
        t1 = time.perf_counter()
        dm.deviance(th)
        out["dense_eval_ms"] = 1000 * (time.perf_counter() - t1)
        t1 = time.perf_counter()
        opt = minimize_bobyqa(dm.deviance, np.ones(2), fit.model.theta_lower)
        out["dense_fit_s"] = time.perf_counter() - t1
        out["dense_dev_diff"] = abs(opt.fmin - fit.deviance) / abs(fit.deviance)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", nargs="+", type=int, default=[10_000, 100_000, 1_000_000, 10_000_000])
    ap.add_argument("--dense", nargs="+", type=int, default=[100, 300, 1000, 3000])
    ap.add_argument("--json", default=os.path.join(HERE, "..", "build", "scaling.json"))
    ap.add_argument("--one", nargs="+", help=argparse.SUPPRESS)
    ap.add_argument("--only-rows-test", action="store_true", help="only the 1e6 / 4e6 per-evaluation runs")
    a = ap.parse_args()
    if a.one:
        n, dense = int(a.one[0]), a.one[1] == "1"
        levels = None
        if len(a.one) == 3:
            levels = a.one[2]
        elif len(a.one) > 3:
            levels = (int(a.one[2]), int(a.one[3]))
        print(json.dumps(one(n, dense, levels)))
        return
    runs = [(n, True, None) for n in a.dense] + [(n, False, None) for n in a.sizes] + \
           [(4_000_000, False, (100_000, 2000)), (4_000_000, False, "replicate4")]
    if a.only_rows_test:
        runs = [(1_000_000, False, None), (4_000_000, False, (100_000, 2000)), (4_000_000, False, "replicate4")]
    rows = []
    for n, dense, levels in runs:
        args = [str(n), "1" if dense else "0"] + ([levels] if isinstance(levels, str) else
                                                  [str(levels[0]), str(levels[1])] if levels else [])
        out = subprocess.run([sys.executable, __file__, "--one", *args], capture_output=True, text=True)
        if out.returncode != 0:
            print(f"# n={n} failed: {out.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        r["variant"] = ("same cells as 1e6, each 4 times" if levels == "replicate4" else
                        "same levels as 1e6, codes redrawn" if levels else "")
        rows.append(r)
        print(f"# {r}", file=sys.stderr, flush=True)
    with open(a.json, "w") as fh:
        json.dump(rows, fh, indent=1)
    print("| n | levels g1 × g2 | fastmme fit s | evals | per eval ms | eval + gradient ms | ZᵀZ entries | "
          "peak RSS MB | dense eval ms | dense fit s |")
    print("|---" * 10 + "|")
    for r in rows:
        de = f"{r['dense_eval_ms']:.1f}" if "dense_eval_ms" in r else "—"
        df_ = f"{r['dense_fit_s']:.2f}" if "dense_fit_s" in r else "—"
        tag = f" ({r['variant']})" if r.get("variant") else ""
        print(f"| {r['n']:,}{tag} | {r['g1']:,} × {r['g2']:,} | {r['fit_s']:.3f} | {r['evals']} | "
              f"{r['per_eval_ms']:.2f} | {r['per_grad_ms']:.2f} | {r['zz_entries']:,} | {r['peak_rss_mb']:.0f} | "
              f"{de} | {df_} |")


if __name__ == "__main__":
    main()
