"""The data and fits behind tests/fixtures/lme4_formulas.json (tools/make_formula_reference.R)."""
import json
from pathlib import Path

import numpy as np

import fastmme

FIXTURE = Path(__file__).parent / "fixtures" / "lme4_formulas.json"
REF = json.loads(FIXTURE.read_text())


def dataset(name):
    """The data frames of the R script, derived the same way."""
    if name == "sleep_phase":
        d = fastmme.datasets.load("sleepstudy")
        return d.assign(phase=np.where(d.Days < 5, "early", "late"))
    if name == "sleep_na":
        d = fastmme.datasets.load("sleepstudy")
        d.loc[[2, 49], "Reaction"] = np.nan       # R's rows 3 and 50
        d.loc[99, "Days"] = np.nan
        return d
    if name == "sleep_w":
        d = fastmme.datasets.load("sleepstudy")
        codes = np.unique(d.Subject.astype(int), return_inverse=True)[1] + 1
        return d.assign(w=1 + (codes % 3) / 2 + d.Days / 10)
    return fastmme.datasets.load(name)


_CACHE = {}


def fitted(key):
    if key not in _CACHE:
        e = REF["fits"][key]
        _CACHE[key] = fastmme.lmm(e["formula"], dataset(e["data"]), reml=e["reml"], weights=e.get("weights"))
    return _CACHE[key]
