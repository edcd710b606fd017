"""R's number formatting (fastmme.results.rformat) against the strings R 4.2 printed
(tools/make_rformat_reference.R → tests/fixtures/rformat.json): format(x, digits = 4), format.pval
and printCoefmat of lmerTest's coefficient tables."""
import json
from pathlib import Path

import pandas as pd
import pytest

from fastmme.results.rformat import coef_matrix, format_pval, format_real

REF = json.loads((Path(__file__).parent / "fixtures" / "rformat.json").read_text())


@pytest.mark.parametrize("case", REF["format"], ids=lambda c: str(c["x"]))
def test_format_of_a_vector_is_rs(case):
    assert format_real(case["x"], case["digits"][0]) == case["out"]


@pytest.mark.parametrize("case", REF["pval"], ids=lambda c: str(c["p"]))
def test_format_pval_is_rs(case):
    assert format_pval(case["p"], case["digits"][0]) == case["out"]


@pytest.mark.parametrize("case", REF["coefmat"], ids=lambda c: c["rows"][-1])
def test_the_coefficient_table_prints_as_in_r(case):
    table = pd.DataFrame(dict(zip(case["cols"], case["values"])), index=case["rows"])
    expected = [ln.rstrip().replace("\u2018", "'").replace("\u2019", "'") for ln in case["out"]]
    assert coef_matrix(table) == expected
