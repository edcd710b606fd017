"""Fuzzing the parsers (reliability issue): random formula strings and random pedigree tables either
work or raise the project's own error (FastmmeError), never another exception; random bytes given to
the command line as a CSV give a clear message and exit code 2."""
import subprocess
import sys

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from scale import examples
from hypothesis import strategies as st

import fastmme
from fastmme import FastmmeError, pedigree
from fastmme.formula.random_terms import parse

DATA = pd.DataFrame({"y": np.random.default_rng(0).normal(size=60), "x": np.arange(60) % 7 * 1.0,
                     "g": np.arange(60) % 6, "h": [f"h{i % 4}" for i in range(60)], "b": np.arange(60) % 3 == 0})
TOKENS = ["y", "x", "g", "h", "~", "+", "-", "*", ":", "/", "|", "||", "(", ")", "1", "0", " ", "log(", "C(",
          "z", "^", "2", ",", "I(", ".", "g:h", "(1 | g)", "(x | h)", "(1 | g/h)", "(x || g)",
          "b", "factor(", "poly(", "scale(", "offset(", "as.numeric(", "sqrt(", "exp(", "**", "%in%", "TRUE",
          "degree = ", "{", "'"]


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(TOKENS), min_size=0, max_size=12).map("".join) | st.text(max_size=30))
def test_random_formula_strings_parse_or_raise_our_error(text):
    try:
        parse(text)
    except FastmmeError:
        pass


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(TOKENS), min_size=3, max_size=10).map("".join))
def test_random_formulas_fit_or_raise_our_error(text):
    """Through the whole formula layer and the fit: anything but a FastmmeError (or a warning) is a bug."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fastmme.lmm(text, DATA, maxeval=30)
        except FastmmeError:
            pass


labels = st.one_of(st.integers(-2, 12), st.sampled_from(["0", "", "NA", "a", "b", "c", None, np.nan, 3.0]))


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(labels, labels, labels), min_size=0, max_size=15))
def test_random_pedigree_tables_read_or_raise_our_error(rows):
    a = [r[0] for r in rows]
    s = [r[1] for r in rows]
    d = [r[2] for r in rows]
    try:
        ped = pedigree.read(a, s, d)
    except FastmmeError:
        return
    F = ped.inbreeding                       # a pedigree that reads is usable
    assert np.all(np.isfinite(F)) and np.all(F >= 0)
    Ainv = ped.ainv()
    assert Ainv.shape == (len(ped), len(ped))


@settings(max_examples=examples(15), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(min_size=0, max_size=300))
def test_random_bytes_as_a_csv_give_a_message_and_exit_code_2(tmp_path_factory, blob):
    path = tmp_path_factory.mktemp("fuzz") / "data.csv"
    path.write_bytes(blob)
    r = subprocess.run([sys.executable, "-m", "fastmme.cli", "fit", str(path), "--formula", "y ~ x + (1 | g)"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert r.stderr.startswith("fastmme: error:") and "Traceback" not in r.stderr
