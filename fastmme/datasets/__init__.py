"""Data sets bundled with fastmme (exported from R's lme4 by tools/make_lme4_reference.R).

    fastmme.datasets.load("sleepstudy")  -> pandas.DataFrame
"""
from __future__ import annotations

from importlib import resources

import pandas as pd

from ..errors import FastmmeError

_CATEGORICAL = {
    "sleepstudy": ["Subject"], "Dyestuff": ["Batch"], "Dyestuff2": ["Batch"],
    "Penicillin": ["plate", "sample"],
}


def names() -> list:
    """Names of the bundled data sets."""
    return sorted(p.name[:-4] for p in resources.files(__package__).joinpath("data").iterdir()
                  if p.name.endswith(".csv"))


def load(name: str) -> pd.DataFrame:
    """A bundled data set as a DataFrame; grouping columns are strings.  Case-insensitive name."""
    lookup = {n.lower(): n for n in names()}
    key = lookup.get(str(name).lower())
    if key is None:
        raise FastmmeError(f"no bundled data set {name!r}; available: {', '.join(names())}")
    cats = _CATEGORICAL.get(key, [])
    with resources.files(__package__).joinpath("data", f"{key}.csv").open("r") as fh:
        return pd.read_csv(fh, dtype={c: str for c in cats})
