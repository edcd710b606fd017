"""The parametric bootstrap (fit.bootstrap, lme4's bootMer) and Kenward–Roger's df, timed in process
against lme4/pbkrtest (benchmarks/peers/bootstrap_lme4.R, run by Rscript when R is installed).

    .venv/bin/python benchmarks/bootstrap.py [--nsim 500]

Prints seconds per task for fastmme and, when Rscript with lme4 and pbkrtest is on the PATH, for R in
the same run, and the ratio.  Models: sleepstudy `Reaction ~ Days + (Days | Subject)` (bootstrap) and
the same model on a seeded 40 × 8 design for Kenward–Roger.
"""
from __future__ import annotations

import argparse
import pathlib
import shutil
import subprocess
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nsim", type=int, default=500)
    args = ap.parse_args()
    import fastmme
    d = fastmme.datasets.load("sleepstudy")
    fit = fastmme.lmm("Reaction ~ Days + (Days | Subject)", d)
    fit.bootstrap(2, seed=0)                                  # compile once
    t0 = time.perf_counter()
    boot = fit.bootstrap(args.nsim, seed=1)
    t_boot = time.perf_counter() - t0
    t0 = time.perf_counter()
    fit.confint(method="boot", nsim=args.nsim, seed=1)
    t_ci = time.perf_counter() - t0
    t0 = time.perf_counter()
    fit.summary(ddf="Kenward-Roger")
    fresh = fastmme.lmm("Reaction ~ Days + (Days | Subject)", d)
    t0 = time.perf_counter()
    fresh.coef_table_kr()
    t_kr = time.perf_counter() - t0
    ours = {"bootstrap": t_boot, "confint_boot": t_ci, "kenward_roger": t_kr}
    print(f"fastmme: bootstrap nsim={args.nsim} {t_boot:.2f} s ({int(boot.converged.sum())} converged), "
          f"confint(boot) {t_ci:.2f} s, Kenward-Roger table {t_kr:.3f} s")
    script = pathlib.Path(__file__).parent / "peers" / "bootstrap_lme4.R"
    if shutil.which("Rscript") is None:
        print("Rscript not found: no lme4 comparison")
        return
    out = subprocess.run(["Rscript", str(script), str(args.nsim)], capture_output=True, text=True, check=False)
    peer = {}
    for line in out.stdout.splitlines():
        if line.startswith("lme4 "):
            _, name, value = line.split()
            peer[name] = float(value)
    if not peer:
        print("R failed:", out.stderr[-500:])
        return
    for name, t in ours.items():
        if name in peer:
            print(f"{name:14s} fastmme {t:8.3f} s   lme4 {peer[name]:8.3f} s   ratio {t / peer[name]:.3f}")


if __name__ == "__main__":
    main()
