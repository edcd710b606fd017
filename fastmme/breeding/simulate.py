"""Simulated animal-breeding data: a pedigree and records with true breeding values.

    ped = population(per_generation=200, generations=5, sires=10, seed=1)   # DataFrame animal, sire, dam
    df = animal_model_records(ped, h2=0.3, groups=20, seed=1)

    ped = population(50_000, 20, 500, herds=500)      # herds: dams and their offspring stay in a herd
    df = animal_model_records(ped)                    # contemporary group = herd × year (10,000 levels)

The population: generation 0 holds founders; every later generation has `per_generation` animals,
half male, whose sires are `sires` males drawn from the previous generation and whose dams are random
females of it (artificial-insemination-like: few sires, many dams, so inbreeding builds up).  With
`herds`, every animal belongs to a herd (the founders at random, offspring to their dam's herd), each
herd has the same number of births per generation and draws its dams from its own females of the
previous generation, while the artificial-insemination sires serve every herd: the structure of a
dairy population, in which contemporary groups are herd × year and the sires tie the herds together.
Rows come shuffled and labelled with integers, as from a data base.  Breeding values follow the pedigree:
a_i = (a_sire + a_dam)/2 + m_i with Mendelian sampling m_i ~ N(0, d_i σ²_a), d_i from the inbreeding
of the parents, so Var(a) = σ²_a A exactly.  Used by the tutorial, the tests and the benchmarks.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def population(per_generation: int, generations: int, sires: int, seed: int = 1, herds: int = 0) -> pd.DataFrame:
    """DataFrame animal, sire, dam (0 = unknown), sex, generation, and herd when `herds` > 0."""
    rng = np.random.default_rng(seed)
    n = per_generation * (generations + 1)
    sire = np.zeros(n, dtype=np.int64)          # 0 = unknown; animals are 1..n
    dam = np.zeros(n, dtype=np.int64)
    male = rng.random(n) < 0.5
    herd = np.empty(n, dtype=np.int64)
    herd[:per_generation] = rng.integers(0, max(herds, 1), per_generation)
    for g in range(1, generations + 1):
        prev = np.arange((g - 1) * per_generation, g * per_generation)
        males, females = prev[male[prev]], prev[~male[prev]]
        used = rng.choice(males, size=min(sires, len(males)), replace=False)
        cur = slice(g * per_generation, (g + 1) * per_generation)
        sire[cur] = rng.choice(used, per_generation) + 1
        if herds > 0:
            herd[cur], dam[cur] = _herd_births(rng, herd[females], females, herds, per_generation)
        else:
            herd[cur] = 0
            dam[cur] = rng.choice(females, per_generation) + 1
    order = rng.permutation(n)
    out = {"animal": np.arange(1, n + 1)[order], "sire": sire[order], "dam": dam[order],
           "sex": np.where(male, "M", "F")[order], "generation": np.repeat(np.arange(generations + 1), per_generation)[order]}
    if herds > 0:
        out["herd"] = herd[order]
    return pd.DataFrame(out)


def _herd_births(rng, female_herd, females, herds, per_generation):
    """(herd, dam label) of one generation's births: an equal share per herd, each dam drawn from
    the herd's own females (from all females when a herd has none left)."""
    herd = np.repeat(np.arange(herds), -(-per_generation // herds))[:per_generation]
    by_herd = np.argsort(female_herd, kind="stable")
    start = np.searchsorted(female_herd[by_herd], np.arange(herds))
    count = np.searchsorted(female_herd[by_herd], np.arange(herds), side="right") - start
    u = rng.random(per_generation)
    own = count[herd] > 0
    pick = np.where(own, start[herd] + np.floor(u * count[herd]).astype(np.int64), np.floor(u * len(females)).astype(np.int64))
    return herd, np.where(own, females[by_herd][np.minimum(pick, len(females) - 1)], females[pick]) + 1


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
                         skip_generations: int = 1, seed: int = 1) -> tuple:
    """(records, pedigree, true breeding values): one record per animal born after the first
    `skip_generations` generations, y = μ + sex + contemporary group + a + e with Var(a) = h² var_p.
    The contemporary group is herd × generation when the frame has a herd column (from
    `population(..., herds=)`), otherwise one of `groups` levels drawn at random for every record
    (groups spread over the whole population: the worst case for the fill of the factorisation)."""
    from .pedigree import read
    ped = read(pedigree_frame.animal, pedigree_frame.sire, pedigree_frame.dam)
    a = breeding_values(ped, h2 * var_p, seed)
    rng = np.random.default_rng(seed + 1)
    rec = np.flatnonzero(ped.generation >= skip_generations)
    frame = pedigree_frame.set_index("animal").loc[ped.labels[rec]]
    sex = frame.sex.to_numpy()
    if "herd" in frame:
        hy = frame.herd.to_numpy() * (int(frame.generation.max()) + 1) + frame.generation.to_numpy()
        levels, cg = np.unique(hy, return_inverse=True)
        groups = len(levels)
    else:
        cg = rng.integers(0, groups, rec.shape[0])
    cg_eff = rng.normal(0.0, np.sqrt(0.2 * var_p), groups)
    y = 100.0 + np.where(sex == "M", 5.0, 0.0) + cg_eff[cg] + a[rec] + \
        rng.normal(0.0, np.sqrt((1.0 - h2 - 0.2) * var_p), rec.shape[0])
    df = pd.DataFrame({"animal": ped.labels[rec], "sex": sex, "cg": pd.Categorical([f"cg{c}" for c in cg]), "y": y})
    return df, ped, pd.Series(a, index=pd.Index(ped.labels, name="animal"), name="true_bv")
