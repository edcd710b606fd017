"""Time fastmme and its peers on the same data in the same run, and print the ratios.

    .venv/bin/python benchmarks/compare.py [--problems sleepstudy insteval crossed_1m slopes_1m]
                                           [--peers fastmme lme4 mixedlm statsmodels dense] [--repeat 3]
    .venv/bin/python benchmarks/compare.py --problems onefactor_1m --peers fastmme mixedlm_rs
        (one grouping factor, against mixedlm-rs: pip install mixedlm-rs)
    .venv/bin/python benchmarks/compare.py --problems maximal2s_1 maximal2f_1 maximal3s_1 maximal3f_1 --peers fastmme lme4
        (maximal subjects × items models; lme4 with calc.derivs = FALSE)

Peers are optional (pip install -e ".[bench]"; R with lme4 from Debian): a missing one is reported,
not an error.  Every (peer, problem) runs in a fresh process: the data file is read untimed, the fit
(from a data frame to a result, formula parsing included) is repeated and the median reported, with
the process's peak resident memory.  Writes build/compare.json and prints a markdown table.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from designs import CATEGORICAL, data_file, formula  # noqa: E402

PY_PEERS = ("fastmme", "mixedlm", "mixedlm_rs", "statsmodels", "dense")


def run_peer(peer, problem, repeat, timeout):
    if peer == "lme4":
        if not shutil.which("Rscript"):
            return dict(peer=peer, problem=problem, skipped="Rscript not installed")
        cats = ",".join(CATEGORICAL.get(problem.split("_")[0], []))
        cmd = ["Rscript", os.path.join(HERE, "peers", "lme4_worker.R"), data_file(problem, "csv"), formula(problem),
               str(repeat), cats] + (["noderivs"] if problem.startswith("maximal") else [])
    else:
        data_file(problem, "parquet")
        cmd = [sys.executable, os.path.join(HERE, "peers", "python_worker.py"), peer, problem, str(repeat)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return dict(peer=peer, problem=problem, skipped=f"not finished in {timeout} s")
    lines = [ln for ln in out.stdout.strip().splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:
        err = (out.stderr.strip().splitlines() or ["no output"])[-1]
        return dict(peer=peer, problem=problem, skipped=f"failed: {err[:200]}")
    res = json.loads(lines[-1])
    res["problem"] = problem
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--problems", nargs="+", default=["sleepstudy", "insteval", "crossed_1m", "slopes_1m"])
    ap.add_argument("--peers", nargs="+", default=["fastmme", "lme4", "mixedlm", "statsmodels", "dense"])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--timeout", type=int, default=1800)
    ap.add_argument("--json", default=os.path.join(HERE, "..", "build", "compare.json"))
    ap.add_argument("--record", metavar="TITLE", help="also keep this run: its raw results in "
                    "benchmarks/results/runs/, its medians in benchmarks/results/benchmark_times.json under TITLE "
                    "(replacing an entry of that title), which tools/make_benchmark_charts.py draws")
    a = ap.parse_args()
    results = []
    for problem in a.problems:
        for peer in a.peers:
            r = run_peer(peer, problem, a.repeat, a.timeout)
            results.append(r)
            print(f"# {problem:<12} {peer:<12} " + (f"median {r['median']:.3f} s, first {r['first']:.3f} s, "
                  f"peak {r['peak_rss_mb']:.0f} MB, logLik {r['loglik']:.6f}" if "median" in r else r["skipped"]),
                  file=sys.stderr, flush=True)
    os.makedirs(os.path.dirname(a.json), exist_ok=True)
    with open(a.json, "w") as fh:
        json.dump(results, fh, indent=1)
    if a.record:
        record(a.record, results, a.peers, a.repeat, sys.argv[1:])
    print(table(results, a.peers, a.repeat))


PEER_NAMES = {"lme4": "lme4 lmer", "mixedlm": "mixedlm", "mixedlm_rs": "mixedlm-rs", "statsmodels": "statsmodels MixedLM",
              "dense": "dense GLS"}


def _peer_label(peer):
    """The peer's name with its installed version (Python peers)."""
    from importlib import metadata
    name = PEER_NAMES.get(peer, peer)
    try:
        return f"{name} {metadata.version(peer.replace('_', '-'))}"
    except metadata.PackageNotFoundError:        # R's lme4, the dense oracle: no Python distribution
        return name


def record(title, results, peers, repeat, argv):
    """Keep a run for the benchmark page's chart: the raw results (every peer's medians, first fits, peak
    memory, log-likelihoods) as a file of their own, and an entry of fit times and peak memory per design
    in benchmarks/results/benchmark_times.json that names that file."""
    import datetime
    now = datetime.datetime.now()
    date = now.date().isoformat()
    runs = os.path.join(HERE, "results", "runs")
    os.makedirs(runs, exist_ok=True)
    raw = os.path.join(runs, f"compare-{now:%Y-%m-%dT%H%M%S}-{'-'.join(dict.fromkeys(r['problem'] for r in results))}.json")
    with open(raw, "w") as fh:
        json.dump(dict(command="benchmarks/compare.py " + " ".join(argv), date=date, repeat=repeat, results=results),
                  fh, indent=1)
    by = {(r["problem"], r["peer"]): r for r in results}
    designs = []
    for pb in dict.fromkeys(r["problem"] for r in results):
        row = {"design": pb}
        for p in peers:
            r = by.get((pb, p), {})
            if "median" in r:
                key = "fastmme" if p == "fastmme" else p.replace("_", "-")
                row[key] = round(r["median"], 4)
                row[f"{key}_peak_mb"] = round(r["peak_rss_mb"], 1)
        designs.append(row)
    entry = dict(title=title, source=f"benchmarks/compare.py {' '.join(argv)} (raw: benchmarks/results/runs/"
                 f"{os.path.basename(raw)}; median of {repeat} fits per process)", date=date,
                 peers={p.replace("_", "-"): _peer_label(p) for p in peers if p != "fastmme"}, designs=designs)
    path = os.path.join(HERE, "results", "benchmark_times.json")
    with open(path) as fh:
        data = json.load(fh)
    data["comparisons"] = [c for c in data["comparisons"] if c["title"] != title] + [entry]
    with open(path, "w") as fh:
        json.dump(data, fh, indent=2, ensure_ascii=False)
        fh.write("\n")


def table(results, peers, repeat):
    by = {(r["problem"], r["peer"]): r for r in results}
    problems = list(dict.fromkeys(r["problem"] for r in results))
    head = "| problem | " + " | ".join(f"{p} s" for p in peers) + " | fastmme / mixedlm(-rs) | fastmme / lme4 | " \
           "logLik − lme4's (rel.) | peak RSS fastmme / mixedlm |"
    lines = [head, "|---" * (len(peers) + 5) + "|"]
    for pb in problems:
        cells = []
        for p in peers:
            r = by.get((pb, p), {})
            cells.append(f"{r['median']:.3f}" if "median" in r else "—")
        f, m, l4 = by.get((pb, "fastmme"), {}), by.get((pb, "mixedlm"), {}), by.get((pb, "lme4"), {})
        if "median" not in m:          # one-factor problems: the Rust peer
            m = by.get((pb, "mixedlm_rs"), {})
        rm = f"{f['median'] / m['median']:.2f}" if "median" in f and "median" in m else "—"
        rl = f"{f['median'] / l4['median']:.3f}" if "median" in f and "median" in l4 else "—"
        ll = f"{(f['loglik'] - l4['loglik']) / abs(l4['loglik']):.1e}" if "loglik" in f and "loglik" in l4 else "—"
        mem = f"{f['peak_rss_mb'] / m['peak_rss_mb']:.2f}" if "peak_rss_mb" in f and "peak_rss_mb" in m else "—"
        lines.append(f"| {pb} | " + " | ".join(cells) + f" | {rm} | {rl} | {ll} | {mem} |")
    skipped = [f"- {r['problem']} / {r['peer']}: {r['skipped']}" for r in results if "skipped" in r]
    return "\n".join(lines + ([f"\nMedians of {repeat} fits per process. Not measured:"] + skipped if skipped else []))


if __name__ == "__main__":
    main()
