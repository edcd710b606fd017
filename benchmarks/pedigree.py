"""Pedigree processing at scale: reading and ordering, inbreeding, A⁻¹, on a simulated population.

    .venv/bin/python benchmarks/pedigree.py [--per-generation 50000] [--generations 20] [--sires 200]

The population is fastmme.breeding_data.population: generation 0 holds founders, every later generation
`per-generation` animals with sires drawn from `sires` males of the previous one.
"""
import argparse
import resource
import time

import numpy as np


def simulate(per_gen, n_gen, n_sires, seed=1):
    from fastmme.breeding_data import population
    pf = population(per_gen, n_gen, n_sires, seed)
    return pf.animal.to_numpy(), pf.sire.to_numpy(), pf.dam.to_numpy()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-generation", type=int, default=50_000)
    ap.add_argument("--generations", type=int, default=20)
    ap.add_argument("--sires", type=int, default=200)
    a = ap.parse_args()
    from fastmme import pedigree
    pedigree.read([1, 2, 3], [0, 0, 1], [0, 0, 2]).ainv()          # compile / load the kernels
    animal, sire, dam = simulate(a.per_generation, a.generations, a.sires)
    t0 = time.perf_counter()
    ped = pedigree.read(animal, sire, dam)
    t1 = time.perf_counter()
    F = ped.inbreeding
    t2 = time.perf_counter()
    Ainv = ped.ainv()
    t3 = time.perf_counter()
    logdet = ped.logdet_A()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{len(ped):,} animals, {a.generations} generations of {a.per_generation:,}, {a.sires} sires each")
    print("| phase | s |\n|---|---|")
    print(f"| read, check, order | {t1 - t0:.2f} |\n| inbreeding | {t2 - t1:.2f} |\n| A⁻¹ | {t3 - t2:.2f} |")
    print(f"| inbreeding + A⁻¹ | {t3 - t1:.2f} |\n| total | {t3 - t0:.2f} |")
    last = ped.generation == ped.generation.max()
    print(f"mean F, last generation: {F[last].mean():.4f}; max F {F.max():.4f}; nnz(A⁻¹) {Ainv.nnz:,}; "
          f"log|A| {logdet:.1f}; peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
