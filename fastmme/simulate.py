"""Simulated animal-breeding data: a pedigree and records with true breeding values.

    ped = population(per_generation=200, generations=5, sires=10, seed=1)   # DataFrame animal, sire, dam
    df = animal_model_records(ped, h2=0.3, groups=20, seed=1)

The population: generation 0 holds founders; every later generation has `per_generation` animals,
half male, whose sires are `sires` males drawn from the previous generation and whose dams are random
females of it (artificial-insemination-like: few sires, many dams, so inbreeding builds up).  Rows
come shuffled and labelled with integers, as from a data base.  Breeding values follow the pedigree:
a_i = (a_sire + a_dam)/2 + m_i with Mendelian sampling m_i ~ N(0, d_i σ²_a), d_i from the inbreeding
of the parents, so Var(a) = σ²_a A exactly.  Used by the tutorial, the tests and the benchmarks.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def population(per_generation: int, generations: int, sires: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = per_generation * (generations + 1)
    sire = np.zeros(n, dtype=np.int64)          # 0 = unknown; animals are 1..n
    dam = np.zeros(n, dtype=np.int64)
    male = rng.random(n) < 0.5
    for g in range(1, generations + 1):
        prev = np.arange((g - 1) * per_generation, g * per_generation)
        males, females = prev[male[prev]], prev[~male[prev]]
        used = rng.choice(males, size=min(sires, len(males)), replace=False)
        cur = slice(g * per_generation, (g + 1) * per_generation)
        sire[cur] = rng.choice(used, per_generation) + 1
        dam[cur] = rng.choice(females, per_generation) + 1
    order = rng.permutation(n)
    return pd.DataFrame({"animal": np.arange(1, n + 1)[order], "sire": sire[order], "dam": dam[order],
                         "sex": np.where(male, "M", "F")[order]})


def breeding_values(ped, var_a: float, seed: int = 1) -> np.ndarray:
    """True breeding values (in the pedigree's order) with Var(a) = var_a · A."""
    rng = np.random.default_rng(seed)
    m = rng.normal(size=len(ped)) * np.sqrt(ped.mendelian_variance * var_a)
    a = np.zeros(len(ped))
    for g in range(int(ped.generation.max()) + 1):       # parents come before offspring
        idx = np.flatnonzero(ped.generation == g)
        s, d = ped.sire[idx], ped.dam[idx]
        a[idx] = m[idx] + 0.5 * (np.where(s >= 0, a[np.maximum(s, 0)], 0.0) + np.where(d >= 0, a[np.maximum(d, 0)], 0.0))
    return a


def animal_model_records(pedigree_frame: pd.DataFrame, h2: float = 0.3, groups: int = 20, var_p: float = 100.0,
                         skip_generations: int = 1, seed: int = 1):
    """(records, pedigree, true breeding values): one record per animal born after the first
    `skip_generations` generations, y = μ + sex + contemporary group + a + e with Var(a) = h² var_p."""
    from .pedigree import read
    ped = read(pedigree_frame.animal, pedigree_frame.sire, pedigree_frame.dam)
    a = breeding_values(ped, h2 * var_p, seed)
    rng = np.random.default_rng(seed + 1)
    rec = np.flatnonzero(ped.generation >= skip_generations)
    sex = pedigree_frame.set_index("animal").loc[ped.labels[rec], "sex"].to_numpy()
    cg = rng.integers(0, groups, rec.shape[0])
    cg_eff = rng.normal(0.0, np.sqrt(0.2 * var_p), groups)
    y = 100.0 + np.where(sex == "M", 5.0, 0.0) + cg_eff[cg] + a[rec] + \
        rng.normal(0.0, np.sqrt((1.0 - h2 - 0.2) * var_p), rec.shape[0])
    df = pd.DataFrame({"animal": ped.labels[rec], "sex": sex, "cg": pd.Categorical([f"cg{c}" for c in cg]), "y": y})
    return df, ped, pd.Series(a, index=pd.Index(ped.labels, name="animal"), name="true_bv")
