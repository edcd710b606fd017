"""GLMM fits against lme4's glmer in the same run (issue 17): median of REPEAT fits each, in fresh
processes (fastmme's first fit in its process, which loads the compiled kernels, is not counted).

    .venv/bin/python benchmarks/glmm.py [--problems cbpp grouseticks verbagg insteval_binary contraception]
                                        [--repeat 3] [--nagq 1]

Needs R with lme4 for the ratio (Debian: r-base-core r-cran-lme4 r-cran-jsonlite); prints a markdown table.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PROBLEMS = {
    "cbpp": ("cbpp", "cbind(incidence, size - incidence) ~ period + (1 | herd)", "binomial"),
    "grouseticks": ("grouseticks", "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)", "poisson"),
    "verbagg": ("VerbAgg", "r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)", "binomial"),
    # InstEval as binary (a rating of 4 or 5): the column yb is made by both workers
    "insteval_binary": ("InstEval", "yb ~ service + (1 | s) + (1 | d) + (1 | dept)", "binomial"),
    "contraception": ("Contraception", "use ~ 1 + age + I(age^2) + urban + livch + (1 | urban:district)", "binomial"),
}
FASTMME = """
import json, sys, time
import fastmme
data, formula, family, repeat, nagq = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
df = fastmme.datasets.load(data)
if data == "InstEval":
    df["yb"] = (df["y"] >= 4).astype(int)
fastmme.glmm("cbind(incidence, size - incidence) ~ period + (1 | herd)", fastmme.datasets.load("cbpp"),
             nAGQ=nagq)                                        # loads the compiled kernels
times = []
for _ in range(repeat):
    t0 = time.perf_counter()
    fit = fastmme.glmm(formula, df, family=family, nAGQ=nagq)
    times.append(time.perf_counter() - t0)
times.sort()
print(json.dumps(dict(peer="fastmme", times=times, median=times[len(times) // 2], minus2loglik=fit.minus2loglik,
                      evals=fit.n_evals)))
"""


def run(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    if out.returncode != 0:
        return dict(error=out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _cell(d, key, spec):
    return format(d[key], spec) if key in d else d.get("error", "—")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--problems", nargs="+", default=["cbpp", "grouseticks", "verbagg"])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--nagq", type=int, default=1)
    a = ap.parse_args()
    print("| problem | fastmme (s) | lme4 glmer (s) | ratio | −2 log L fastmme | −2 log L lme4 | evaluations (fastmme / lme4) |")
    print("|---|---|---|---|---|---|---|")
    for name in a.problems:
        data, formula, family = PROBLEMS[name]
        f = run([sys.executable, "-c", FASTMME, data, formula, family, str(a.repeat), str(a.nagq)])
        r = run(["Rscript", os.path.join(HERE, "peers", "glmer_worker.R"), data, formula, family, str(a.repeat),
                 str(a.nagq)]) if shutil.which("Rscript") else dict(error="Rscript not installed")
        ratio = f"{f['median'] / r['median']:.2f}" if "median" in f and "median" in r else "—"
        print(f"| {name} | {_cell(f, 'median', '.3g')} | {_cell(r, 'median', '.3g')} | {ratio} | "
              f"{_cell(f, 'minus2loglik', '.4f')} | {_cell(r, 'minus2loglik', '.4f')} | {f.get('evals')} / {r.get('evals')} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
