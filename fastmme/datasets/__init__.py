"""Data sets bundled with fastmme (exported from R's lme4 by tools/make_lme4_reference.R and, for the GLMM
data sets cbpp, grouseticks and VerbAgg, tools/make_glmm_reference.R; Contraception from mlmRev by
tools/make_agq_reference.R).

    fastmme.datasets.load("sleepstudy")  -> pandas.DataFrame
"""
from __future__ import annotations

from importlib import resources

import pandas as pd

from ..errors import FastmmeError

_CATEGORICAL = {   # columns that are factors in R: read as strings
    "sleepstudy": ["Subject"], "Dyestuff": ["Batch"], "Dyestuff2": ["Batch"],
    "Penicillin": ["plate", "sample"], "Pastes": ["batch", "cask", "sample"],
    "cake": ["replicate", "recipe", "temperature"],
    "InstEval": ["s", "d", "studage", "lectage", "service", "dept"],
    "cbpp": ["herd", "period"], "grouseticks": ["INDEX", "BROOD", "YEAR", "LOCATION"],
    "VerbAgg": ["Gender", "item", "resp", "id", "btype", "situ", "mode", "r2"],
    "Contraception": ["woman", "district", "use", "livch", "urban"],
}

DESCRIPTIONS = {
    "sleepstudy": "Reaction times (ms) of 18 subjects over 10 days of sleep deprivation "
                  "(Belenky et al. 2003). Columns: Reaction, Days, Subject.",
    "Dyestuff": "Yield of dyestuff (g) from 5 preparations of each of 6 batches. Columns: Batch, Yield.",
    "Dyestuff2": "Simulated data like Dyestuff with a singular fit. Columns: Batch, Yield.",
    "Penicillin": "Diameter (mm) of growth-inhibition zones: 6 penicillin samples on each of 24 plates "
                  "(crossed). Columns: diameter, plate, sample.",
    "Pastes": "Strength of paste: 10 batches × 3 casks × 2 assays (nested). Columns: strength, batch, "
              "cask, sample.",
    "cake": "Breakage angle of chocolate cakes: 3 recipes × 6 temperatures × 15 replicates. Columns: "
            "replicate, recipe, temperature (a factor), angle, temp (numeric).",
    "InstEval": "University lecture evaluations (ETH Zürich): 73,421 ratings y (1-5) of 1,128 lecturers d "
                "by 2,972 students s; service, dept, studage, lectage. The field's standard benchmark.",
    "cbpp": "Contagious bovine pleuropneumonia: new serological cases (incidence) among size cattle of 15 "
            "herds in 4 periods (binomial). Columns: herd, incidence, size, period.",
    "grouseticks": "Ticks counted on 403 red grouse chicks (Poisson): INDEX (chick), TICKS, BROOD, HEIGHT "
                   "(altitude, m), YEAR, LOCATION, cHEIGHT (HEIGHT centred).",
    "VerbAgg": "Verbal aggression (binary r2, or resp no/perhaps/yes): 316 respondents id × 24 items; Anger "
               "(trait score), Gender, btype (curse/scold/shout), situ (other/self), mode (want/do).",
    "Contraception": "Contraceptive use (use, N/Y) of 1,934 women in 60 districts of Bangladesh (1988 fertility "
                     "survey; R's mlmRev): woman, district, livch (living children 0/1/2/3+), age (centred), "
                     "urban (N/Y).",
}


def _files() -> dict:
    out = {}
    for p in resources.files(__package__).joinpath("data").iterdir():
        for ext in (".csv.gz", ".csv"):
            if p.name.endswith(ext):
                out[p.name[:-len(ext)]] = p.name
    return out


def names() -> list:
    """Names of the bundled data sets."""
    return sorted(_files(), key=str.lower)


def load(name: str) -> pd.DataFrame:
    """A bundled data set as a DataFrame; grouping columns are strings.  Case-insensitive name."""
    lookup = {n.lower(): n for n in names()}
    key = lookup.get(str(name).lower())
    if key is None:
        raise FastmmeError(f"no bundled data set {name!r}; available: {', '.join(names())}")
    cats = _CATEGORICAL.get(key, [])
    path = resources.files(__package__).joinpath("data", _files()[key])
    with resources.as_file(path) as fp:
        return pd.read_csv(fp, dtype={c: str for c in cats})
