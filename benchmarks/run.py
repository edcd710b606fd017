"""Benchmark runner: per-phase timings of fastmme and, where it fits in memory, dense GLS.

    .venv/bin/python benchmarks/run.py [problem ...] [--repeat 3] [--json build/bench.json]

Each problem runs in a fresh subprocess (so peak RSS is per problem); prints a markdown table.
The dense baseline (fastmme.dense, n × n V) runs for n ≤ 4000 only.
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


def run_one(name, repeat):
    import numpy as np

    from fastmme.api import Model  # noqa: F401  (imports and jit cache load are not timed)
    from fastmme.assembly.blocks import assemble, stack_terms
    from fastmme.evaluate.objective import ProfiledDeviance
    from fastmme.api import optimize_theta
    from fastmme.assembly.pattern import ZtZPattern
    from fastmme.results.fit import build_result
    from fastmme.spec.model_spec import make_spec
    from problems import PROBLEMS

    y, X, terms, desc = PROBLEMS[name]()
    rows = []
    for _ in range(repeat):
        t = {}
        t0 = time.perf_counter()
        spec = make_spec(y, X, terms)
        codes, zcat = stack_terms(spec.terms)
        r = np.array([tt.r for tt in spec.terms])
        J = np.array([tt.n_levels for tt in spec.terms])
        pattern = ZtZPattern.from_codes(codes, r, J)
        blocks = assemble(pattern, codes, zcat, spec.X, spec.y, spec.weights)
        t1 = time.perf_counter()
        obj = ProfiledDeviance(spec, blocks, pattern)
        t2 = time.perf_counter()
        opt = optimize_theta(obj)
        t3 = time.perf_counter()
        res = build_result(spec, obj, opt, np.arange(spec.p))
        t4 = time.perf_counter()
        rows.append(dict(assembly=t1 - t0, analysis=t2 - t1, optimise=t3 - t2, results=t4 - t3,
                         total=t4 - t0, evals=opt.n_evals, per_eval=(t3 - t2) / opt.n_evals,
                         objective=res.deviance))
    best = {k: float(np.median([r[k] for r in rows])) for k in rows[0]}
    best["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    best["evaluator"] = obj.evaluator
    best["zz_entries"] = int(obj.pattern.size)
    best["n"] = len(y)
    best["q"] = int(obj.system.q)
    if len(y) <= 4000:
        from fastmme.dense import DenseModel
        dm = DenseModel(y, X, terms)
        t0 = time.perf_counter()
        d = dm.deviance(res.theta)
        best["dense_eval"] = time.perf_counter() - t0
        best["dense_objective_diff"] = abs(d - res.deviance) / abs(d)
    best["problem"] = name
    best["description"] = desc
    return best


def main():
    from problems import PROBLEMS
    ap = argparse.ArgumentParser()
    ap.add_argument("problems", nargs="*", default=list(PROBLEMS))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", default=None)
    ap.add_argument("--one", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        print(json.dumps(run_one(a.one, a.repeat)))
        return
    results = []
    for name in a.problems:
        out = subprocess.run([sys.executable, __file__, "--one", name, "--repeat", str(a.repeat)],
                             capture_output=True, text=True, check=True)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print("| problem | n | q | ZᵀZ entries | evaluator | assembly s | set-up s | optimise s | evals | per eval ms | "
          "results s | total s | peak RSS MB | dense GLS eval s |")
    print("|---" * 14 + "|")
    for r in results:
        dense = f"{r['dense_eval']:.3f}" if "dense_eval" in r else "—"
        print(f"| {r['problem']} | {r['n']} | {r['q']} | {r['zz_entries']:,} | {r['evaluator']} | {r['assembly']:.4f} | "
              f"{r['analysis']:.4f} | "
              f"{r['optimise']:.4f} | {r['evals']} | {1000 * r['per_eval']:.3f} | {r['results']:.4f} | "
              f"{r['total']:.4f} | {r['peak_rss_mb']:.0f} | {dense} |")
    if a.json:
        os.makedirs(os.path.dirname(a.json) or ".", exist_ok=True)
        with open(a.json, "w") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
