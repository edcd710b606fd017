"""Draw the benchmark page's chart: fastmme's fit time over each peer's, per design, on a log scale.

    .venv/bin/python tools/make_benchmark_charts.py [benchmarks/results/benchmark_times.json]

Reads the fit times of fastmme and its peers, measured in the same runs (benchmarks/compare.py,
benchmarks/glmm.py), from benchmarks/results/benchmark_times.json, and writes
docs/img/benchmark_ratios.png. No benchmark is run.
"""
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "benchmarks" / "results" / "benchmark_times.json"
OUT = ROOT / "docs" / "img" / "benchmark_ratios.png"
COLOURS = {"lme4": "#3f51b5", "glmer": "#7986cb", "mixedlm": "#ef6c00", "mixedlm-rs": "#ffa726",
           "statsmodels": "#8d6e63"}


def bars(data):
    """(group title, label, peer, ratio) for every design and peer, in the file's order."""
    rows = []
    for comp in data["comparisons"]:
        for d in comp["designs"]:
            for peer in comp["peers"]:
                if peer in d:
                    rows.append((f"{comp['title']} ({comp['date']})", d["design"], peer, d["fastmme"] / d[peer]))
    return rows


def main(path=SOURCE):
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    rows = bars(data)
    fig, ax = plt.subplots(figsize=(9, 0.29 * len(rows) + 1.9))
    y, ticks, labels, groups, last = 0.0, [], [], [], None
    for group, design, peer, ratio in rows:
        if group != last:
            if last is not None:
                y += 0.6
            groups.append((y, group))
            y += 0.9
            last = group
        ax.barh(y, ratio, height=0.72, color=COLOURS.get(peer, "0.5"), label=peer)
        ax.text(ratio * 1.08, y, f"{ratio:.3g}", va="center", fontsize=7.5)
        ticks.append(y)
        labels.append(f"{design} / {peer}")
        y += 1.0
    for gy, group in groups:
        ax.text(0.0105, gy, group, fontsize=8.5, fontweight="bold", va="center")
    ax.set_xscale("log")
    ax.set_xlim(0.01, 10)
    ax.xaxis.set_major_locator(FixedLocator([0.01, 0.03, 0.1, 0.3, 1, 3, 10]))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.axvline(1.0, color="0.2", lw=1)
    ax.text(1.08, -0.9, "same time", fontsize=7.5, color="0.2")
    ax.set_yticks(ticks, labels, fontsize=8)
    ax.set_ylim(y, -1.4)
    ax.grid(axis="x", color="0.88", lw=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.set_xlabel("fastmme's fit time / the peer's, same run (log scale; below 1: fastmme is faster)", fontsize=8.5)
    handles, names = ax.get_legend_handles_labels()
    unique = dict(zip(names, handles))
    ax.legend(unique.values(), unique.keys(), fontsize=8, loc="lower right", frameon=False, title="peer",
              title_fontsize=8)
    fig.tight_layout()
    fig.savefig(OUT, dpi=90)
    print("wrote", OUT, f"({len(rows)} bars)")


if __name__ == "__main__":
    main(*sys.argv[1:])
