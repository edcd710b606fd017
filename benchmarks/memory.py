"""Resident memory after each stage of a fit (where the peak comes from).

    .venv/bin/python benchmarks/memory.py crossed_1m
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def rss():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS"):
                cur = int(line.split()[1]) / 1024
            if line.startswith("VmHWM"):
                peak = int(line.split()[1]) / 1024
    return cur, peak


def main():
    import numpy as np  # noqa: F401
    import fastmme
    from designs import formula, load_parquet
    from fastmme.formula.frame import build_design
    name = sys.argv[1]
    rows = [("imports", *rss())]
    df = load_parquet(name)
    rows.append(("data frame loaded", *rss()))
    t0 = time.perf_counter()
    d = build_design(formula(name), df)
    rows.append(("formula → arrays", *rss()))
    m = fastmme.Model(d.y, d.X, d.terms, x_names=d.x_names)
    rows.append(("spec + assembly + system + CHOLMOD analysis + evaluator", *rss()))
    res = m.fit()
    rows.append(("optimise + results", *rss()))
    print(f"{name}: {time.perf_counter() - t0:.1f} s, {res.n_evals} evaluations, evaluator {m._objective.evaluator}")
    print("| stage | RSS MB | peak so far MB |\n|---|---|---|")
    for label, cur, peak in rows:
        print(f"| {label} | {cur:.0f} | {peak:.0f} |")


if __name__ == "__main__":
    main()
