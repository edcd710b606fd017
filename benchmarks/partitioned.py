"""Dask input at scale: the crossed design of the performance issue (y ~ 1 + x1 + x2 + (1 | g1) +
(1 | g2), 100,000 × 2,000 levels) with 10⁸ rows as partitioned parquet, fitted on a local cluster,
next to the in-memory fit of the first 10⁷ rows.

    .venv/bin/python benchmarks/partitioned.py [--rows 100_000_000] [--per-file 1_000_000]
                                               [--workers 2] [--in-memory-rows 10_000_000]

The files are written once to build/bench-data/crossed_<rows>/ (file i from seed 1000 + i, the
level effects shared).  The Dask fit and the in-memory fit run in separate processes (--part), so
neither's memory counts for the other; the peak resident memory is the largest sum of RSS over the
process and every process it started (scheduler, nannies, workers), sampled every 0.1 s.
"""
import argparse
import os
import sys
import threading
import time

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
N1, N2 = 100_000, 2_000


def write_files(folder, rows, per_file):
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(42)
    u1, u2 = rng.normal(0, 0.8, N1), rng.normal(0, 0.5, N2)
    for i in range(rows // per_file):
        path = os.path.join(folder, f"part-{i:05d}.parquet")
        if os.path.exists(path):
            continue
        r = np.random.default_rng(1000 + i)
        g1 = r.integers(0, N1, per_file).astype(np.int32)
        g2 = r.integers(0, N2, per_file).astype(np.int32)
        x1, x2 = r.normal(size=per_file), r.normal(size=per_file)
        y = 1 + 0.5 * x1 - 0.3 * x2 + u1[g1] + u2[g2] + r.normal(size=per_file)
        pd.DataFrame({"y": y, "x1": x1, "x2": x2, "g1": g1, "g2": g2}).to_parquet(path, index=False)
    return sorted(os.path.join(folder, f) for f in os.listdir(folder))[:rows // per_file]


class PeakMemory:
    """Largest total RSS of this process and its descendants, sampled in a thread."""

    def __init__(self, interval=0.1):
        import psutil
        self.proc, self.interval, self.peak, self._stop = psutil.Process(), interval, 0, False
        self.samples = []                     # (time.perf_counter(), total RSS)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def total(self):
        return sum(self.each())

    def each(self):
        """RSS of this process, then of each descendant (workers, nannies, the scheduler if a process)."""
        import psutil
        out = []
        for p in [self.proc] + self.proc.children(recursive=True):
            try:
                out.append(p.memory_info().rss)
            except (psutil.NoSuchProcess, psutil.AccessDenied):    # a worker that ended meanwhile
                pass
        return out

    def _run(self):
        while not self._stop:
            each = self.each()
            rss = sum(each)
            self.samples.append((time.perf_counter(), rss, each))
            self.peak = max(self.peak, rss)
            time.sleep(self.interval)

    def peak_between(self, t0, t1):
        return max((r for t, r, _ in self.samples if t0 <= t <= t1), default=0)

    def split_at_peak(self, t0, t1):
        """(driver GB, [other processes' GB]) at the largest total between t0 and t1."""
        inside = [(r, each) for t, r, each in self.samples if t0 <= t <= t1]
        if not inside:
            return 0.0, []
        _, each = max(inside, key=lambda s: s[0])
        return each[0] / 2**30, sorted((e / 2**30 for e in each[1:]), reverse=True)

    def stop(self):
        self._stop = True
        self.thread.join()
        return self.peak


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000_000)
    ap.add_argument("--per-file", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--in-memory-rows", type=int, default=10_000_000)
    ap.add_argument("--part", choices=["both", "dask", "memory"], default="both")
    a = ap.parse_args()
    if a.part == "both":
        import subprocess
        base = [sys.executable, __file__, "--rows", str(a.rows), "--per-file", str(a.per_file), "--workers",
                str(a.workers), "--in-memory-rows", str(a.in_memory_rows)]
        for part in ("dask", "memory") if a.in_memory_rows else ("dask",):
            subprocess.run(base + ["--part", part], check=True)
        return 0
    formula = "y ~ 1 + x1 + x2 + (1 | g1) + (1 | g2)"
    folder = os.path.join(HERE, "..", "build", "bench-data", f"crossed_{a.rows}")
    t = time.perf_counter()
    files = write_files(folder, a.rows, a.per_file)
    size = sum(os.path.getsize(f) for f in files)
    print(f"# {len(files)} files, {size / 2**30:.2f} GB on disk, written/checked in {time.perf_counter() - t:.1f} s",
          flush=True)

    if a.part == "dask":
        run_dask(a, files, formula)
    else:
        run_memory(a, files, formula)


def run_dask(a, files, formula):
    import dask.dataframe as dd
    from dask.distributed import Client, LocalCluster
    import fastmme
    mem = PeakMemory()
    t0 = time.perf_counter()
    with LocalCluster(n_workers=a.workers, threads_per_worker=1, processes=True, dashboard_address=None,
                      memory_limit=0, silence_logs=40) as cluster, Client(cluster):
        t1 = time.perf_counter()
        ddf = dd.read_parquet(files)
        fit = fastmme.lmm(formula, ddf)
        t2 = time.perf_counter()
        tm = fit.design.timings
        print(f"# cluster start {t1 - t0:.1f} s; levels pass {tm['levels']:.1f} s; assembly pass {tm['assembly']:.1f} s; "
              f"fit on the driver {t2 - t1 - tm['levels'] - tm['assembly']:.1f} s ({fit.core.n_evals} evaluations)",
              flush=True)
        res = fit.residuals
        t3 = time.perf_counter()
        rss_mean = float(res.mean().compute())
        t4 = time.perf_counter()
    peak = mem.stop()
    n = fit.nobs
    rows_per_s = n / (tm["levels"] + tm["assembly"])
    print(f"| Dask, {n:,} rows, {ddf.npartitions} partitions, {a.workers} workers | levels {tm['levels']:.1f} | "
          f"assembly {tm['assembly']:.1f} | fit {t2 - t1 - tm['levels'] - tm['assembly']:.1f} | "
          f"residuals pass {t4 - t3:.1f} | total {t4 - t0:.1f} s | {rows_per_s / 1e6:.2f} M rows/s over both passes | "
          f"peak RSS of all processes {peak / 2**30:.2f} GB |", flush=True)
    print(f"  θ = {np.round(np.array(fit.core.theta), 6)}, β = {np.round(np.array(fit.core.beta), 6)}, "
          f"σ = {fit.sigma:.6f}, mean residual {rss_mean:.2e}, criterion {fit.deviance:.4f}", flush=True)
    t_asm = t1 + tm["levels"] + tm["assembly"]
    print(f"  peak RSS of all processes by phase: assembly {mem.peak_between(t1, t_asm) / 2**30:.2f} GB, "
          f"fit {mem.peak_between(t_asm, t2) / 2**30:.2f} GB, residuals {mem.peak_between(t3, t4) / 2**30:.2f} GB",
          flush=True)
    for name, (a, b) in (("assembly", (t1, t_asm)), ("fit", (t_asm, t2)), ("residuals", (t3, t4))):
        drv, others = mem.split_at_peak(a, b)
        print(f"    at the {name} peak: driver {drv:.2f} GB, other processes "
              f"{', '.join(f'{o:.2f}' for o in others)} GB", flush=True)



def run_memory(a, files, formula):
    import dask.dataframe as dd
    from dask.distributed import Client, LocalCluster
    import fastmme
    if a.in_memory_rows:
        k = a.in_memory_rows // a.per_file
        mem = PeakMemory()
        t0 = time.perf_counter()
        df = pd.concat([pd.read_parquet(f) for f in files[:k]], ignore_index=True)
        t1 = time.perf_counter()
        fm = fastmme.lmm(formula, df)
        t2 = time.perf_counter()
        peak = mem.stop()
        print(f"| in memory, {fm.nobs:,} rows | read {t1 - t0:.1f} s | fit (formula, assembly, {fm.core.n_evals} "
              f"evaluations) {t2 - t1:.1f} s | peak RSS {peak / 2**30:.2f} GB |", flush=True)
        del df
        with LocalCluster(n_workers=a.workers, threads_per_worker=1, processes=True, dashboard_address=None,
                          memory_limit=0, silence_logs=40) as cluster, Client(cluster):
            fd = fastmme.lmm(formula, dd.read_parquet(files[:k]))
        print(f"  same rows on Dask: criterion {fd.deviance:.6f} vs {fm.deviance:.6f}, max |Δθ| "
              f"{np.max(np.abs(np.array(fd.core.theta) - fm.core.theta)):.2e}, max |Δβ| "
              f"{np.max(np.abs(np.array(fd.core.beta) - fm.core.beta)):.2e}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
