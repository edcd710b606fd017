"""The printed summary is a stable snapshot (regenerate: FASTMME_UPDATE_SNAPSHOTS=1 pytest tests/test_summary.py)."""
import os
from pathlib import Path

import pytest

import fastmme

SNAP = Path(__file__).parent / "fixtures" / "snapshots"
CASES = {
    "sleepstudy_reml": ("sleepstudy", "Reaction ~ Days + (Days | Subject)", True),
    "penicillin_ml": ("Penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)", False),
    "dyestuff2_singular": ("Dyestuff2", "Yield ~ 1 + (1 | Batch)", True),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_summary_snapshot(name):
    data, formula, reml = CASES[name]
    text = fastmme.lmm(formula, fastmme.datasets.load(data), reml=reml).summary()
    path = SNAP / f"{name}.txt"
    if os.environ.get("FASTMME_UPDATE_SNAPSHOTS"):
        SNAP.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    assert text + "\n" == path.read_text()


def test_summary_contents():
    fit = fastmme.lmm("Reaction ~ Days + (Days | Subject)", fastmme.datasets.load("sleepstudy"))
    s = fit.summary()
    for part in ["REML criterion at convergence", "Scaled residuals", "Random effects", "Residual",
                 "Number of obs: 180, groups:  Subject, 18", "Fixed effects", "Pr(>|t|)",
                 "Correlation of Fixed Effects"]:
        assert part in s
    assert repr(fit) == s
