"""Benchmark problem registry for the per-phase runner and the kernel suites:
name -> (y, X, terms, description), built from the data of benchmarks/designs.py through the formula layer."""
from designs import formula, frame

from fastmme.formula.frame import build_design


def problem(name):
    d = build_design(formula(name), frame(name))
    return d.y, d.X, d.terms, f"{name}: {formula(name)} ({len(d.y):,} rows)"


def crossed(n):
    return problem(f"crossed_{n}")


PROBLEMS = {name: (lambda name=name: problem(name)) for name in
            ["sleepstudy", "insteval", "crossed_2000", "crossed_10k", "crossed_100k", "slopes_100k"]}
