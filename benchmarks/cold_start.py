"""Cold start: a new Python process imports fastmme and fits sleepstudy (target ≤ 3 s once installed).

    .venv/bin/python benchmarks/cold_start.py [--repeat 5]
"""
import argparse
import statistics
import subprocess
import sys
import time

CODE = ("import fastmme; f = fastmme.lmm('Reaction ~ Days + (Days | Subject)', "
        "fastmme.datasets.load('sleepstudy')); f.summary()")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    times = []
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", CODE], check=True)
        times.append(time.perf_counter() - t0)
    imp = []
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import fastmme"], check=True)
        imp.append(time.perf_counter() - t0)
    print(f"new process, import + fit sleepstudy + summary: median {statistics.median(times):.2f} s "
          f"(min {min(times):.2f}, max {max(times):.2f}); import alone: median {statistics.median(imp):.2f} s")


if __name__ == "__main__":
    main()
