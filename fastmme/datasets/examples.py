"""Textbook models of the bundled data sets (`fastmme example NAME`)."""
from __future__ import annotations

from ..errors import FastmmeError

EXAMPLES = {
    "sleepstudy": ("sleepstudy", "Reaction ~ Days + (Days | Subject)"),
    "dyestuff": ("Dyestuff", "Yield ~ 1 + (1 | Batch)"),
    "dyestuff2": ("Dyestuff2", "Yield ~ 1 + (1 | Batch)"),
    "penicillin": ("Penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)"),
    "pastes": ("Pastes", "strength ~ 1 + (1 | batch/cask)"),
    "cake": ("cake", "angle ~ recipe * temperature + (1 | recipe:replicate)"),
    "insteval": ("InstEval", "y ~ 1 + service + (1 | s) + (1 | d) + (1 | dept:service)"),
}


def example(name: str):
    """(data frame, formula) of a bundled example."""
    from .. import datasets
    key = str(name).lower()
    if key not in EXAMPLES:
        raise FastmmeError(f"no example {name!r}; available: {', '.join(EXAMPLES)}")
    ds, formula = EXAMPLES[key]
    return datasets.load(ds), formula
