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


NUMBER = r"-?\d+\.?\d*(?:e[-+]\d+)?"


def _same_print(r_line, line):
    """The same layout (every number in the same columns, the same width) and numbers equal to
    1e-4 relative: lme4's optimum and fastmme's differ in the 5th digit of some estimates."""
    import re
    mask = lambda s: re.sub(NUMBER, lambda m: "#" * len(m.group()), s)   # noqa: E731
    if mask(r_line) != mask(line):
        return False
    return all(float(a) == pytest.approx(float(b), rel=1e-4, abs=1e-4)
               for a, b in zip(re.findall(NUMBER, r_line), re.findall(NUMBER, line)))


def _r_summaries():
    import json
    return json.loads((Path(__file__).parent / "fixtures" / "rformat.json").read_text())["summaries"]


@pytest.mark.parametrize("case", _r_summaries(), ids=lambda c: c["data"][0])
def test_the_summary_prints_as_lmertests(case):
    """From the criterion line to the correlation of the fixed effects, the summary is lmerTest's
    print(summary(m)) (R 4.2, lme4 1.1-31, lmerTest 3.1-3; tools/make_rformat_reference.R), line by
    line: the same blank lines, columns, widths, numbers of decimals, p-value formats and stars."""
    data, formula, reml = case["data"][0], case["formula"][0], case["reml"][0]
    d = fastmme.datasets.load(data)             # named d, as in the R script: "   Data: d"
    fit = fastmme.lmm(formula, d, reml=reml)
    lines = fit.summary().splitlines()
    r = [ln.rstrip().replace("\u2018", "'").replace("\u2019", "'") for ln in case["out"]]
    assert r[2] == "   Data: d"
    r = r[2:]                                   # lmerTest's title and the call's formula (as.formula(…))
    r = [ln for ln in r if not ln.startswith(("optimizer (", "boundary (singular)"))]
    mine = lines[2:2 + len(r)]                  # fastmme's title and formula line
    bad = [(a, b) for a, b in zip(r, mine) if not _same_print(a, b)]
    assert not bad and len(mine) == len(r), bad
    rest = lines[2 + len(r):]
    if len(fit.fixef) > 12:     # lme4 says so by message() (stderr, so not in R's captured text); here in the text
        assert rest[:3] == ["", f"Correlation matrix not shown by default, as p = {len(fit.fixef)} > 12.",
                            "Use fit.vcov if you need it"]
    else:
        assert not any("Correlation matrix not shown" in ln for ln in rest)


def test_the_html_summary_shows_the_texts_numbers():
    """The notebook view formats as the text does (a p-value below 2e-16 was 1.171e-17 there)."""
    fit = fastmme.lmm("Reaction ~ Days + (Days | Subject)", fastmme.datasets.load("sleepstudy"))
    html = fit._repr_html_()
    text = fit.summary()
    for cell in ("&lt; 2e-16", "3.26e-06", "251.405", "612.09", "24.740", "0.07"):
        assert cell in html and cell.replace("&lt;", "<") in text
    assert "e-17" not in html
    assert "Data:" not in html and "Data:" not in text          # an expression, not a name
    d = fastmme.datasets.load("sleepstudy")
    named = fastmme.lmm("Reaction ~ Days + (Days | Subject)", d)
    assert "   Data: d\n" in named.summary() and "Data: d<br>" in named._repr_html_()
    for part in ("Scaled residuals", "-3.9536", "Correlation of Fixed Effects", "(Intr)",
                 "-0.138", "Number of obs: 180, groups:  Subject, 18", "Signif. codes"):
        assert part in html and part in text, part


def test_the_html_summary_has_the_texts_notes():
    """Above p = 12 the HTML says, as the text does, that the correlations are not shown; groups are
    joined as in the text; the optimizer's line is there."""
    fit = fastmme.lmm("angle ~ recipe * temperature + (1 | recipe:replicate)", fastmme.datasets.load("cake"))
    html, text = fit._repr_html_(), fit.summary()
    for part in ("Correlation matrix not shown by default, as p = 18 &gt; 12.", "Use fit.vcov if you need it",
                 "groups:  recipe:replicate, 45", "optimizer:"):
        assert part in html and part.replace("&gt;", ">") in text, part
    assert "Correlation of Fixed Effects" not in html


def test_ddf_lme4_is_lme4s_table_and_a_bad_ddf_is_refused():
    fit = fastmme.lmm("Reaction ~ Days + (Days | Subject)", fastmme.datasets.load("sleepstudy"))
    s = fit.summary(ddf="lme4")
    assert s.splitlines()[0] == "Linear mixed model fit by REML (fastmme)"
    assert "            Estimate Std. Error t value\n(Intercept)  251.405      6.825  36.838\n" \
           "Days          10.467      1.546   6.771" in s                  # lme4's summary, as R prints it
    with pytest.raises(fastmme.FastmmeError, match="ddf must be"):
        fit.summary(ddf="KR")


def test_naming_the_data_keeps_no_reference_to_the_callers_objects():
    """The Data: line reads the caller's variables; in a function (Python < 3.13 keeps a snapshot of them
    on the frame) the snapshot is emptied, so a frame the caller deletes is freed."""
    import gc
    import weakref
    d = fastmme.datasets.load("sleepstudy")
    fit = fastmme.lmm("Reaction ~ Days + (Days | Subject)", d)
    assert "   Data: d\n" in fit.summary()
    gone = weakref.ref(d)
    del fit, d
    gc.collect()
    assert gone() is None
