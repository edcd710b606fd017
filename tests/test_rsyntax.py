"""R's formula language on formulaic (fastmme.formula.rsyntax, fastmme.formula.columns, fastmme.formula.rtransforms):
model matrices against R's model.matrix (tests/fixtures/lme4_r_syntax.json, made by
tools/make_formula_r_reference.R), R's printing of numbers, and every refusal's message."""
import numpy as np
import pandas as pd
import pytest

import fastmme
from fastmme import FormulaError
from fastmme.formula.columns import encode
from fastmme.formula.rsyntax import r_number, translate
from test_formula_r import REF, L

MM_DATA = pd.DataFrame({k: L(v) for k, v in REF["model_matrix_data"].items()})
# non-hierarchical terms that formulaic codes differently from R: refused (see test below)
FORMULAIC_DIFFERS = {"f:g", "f:g:h + f", "h + f:g"}


def columns(rhs, data=MM_DATA):
    return encode(translate(rhs), data, rhs)


@pytest.mark.parametrize("rhs", sorted(set(REF["model_matrices"]) - FORMULAIC_DIFFERS))
def test_model_matrix_matches_r(rhs):
    """Names, column order and values of R's model.matrix(~ rhs): R's coding rules (contrasts or dummy
    variables per term), its variable order inside interactions and its term order."""
    e = REF["model_matrices"][rhs]
    cols, X, offset = columns(rhs)
    assert list(cols.names) == e["names"]
    np.testing.assert_allclose(X, np.array(e["values"]).reshape(len(e["names"]), -1).T, rtol=1e-13, atol=1e-13)
    assert offset is None


@pytest.mark.parametrize("rhs", sorted(FORMULAIC_DIFFERS))
def test_terms_formulaic_would_code_differently_are_refused(rhs):
    assert rhs in REF["model_matrices"]          # R codes them (with dummy variables for every factor)
    with pytest.raises(FormulaError, match=r"is not coded as R codes it .*dummy variables.*write them too"):
        columns(rhs)


@pytest.mark.parametrize("value,text", [(2, "2"), (2.0, "2"), (0.5, "0.5"), (1e5, "1e+05"), (123456, "123456"),
                                        (2.5e-6, "2.5e-06"), (1e-7, "1e-07"), (0.1, "0.1"), (1 / 3, "0.333333333333333"),
                                        (1000, "1000"), (-4.25, "-4.25"), (True, "TRUE"), (0, "0")])
def test_numbers_print_as_in_r(value, text):
    assert r_number(value) == text


def test_names_deparse_as_r():
    """R's spacing: + - * spaced, / ^ not; named arguments 'a = b'; ** read as ^."""
    cases = {"I(x**2)": "I(x^2)", "log(x+1,2)": "log(x + 1, 2)", "exp(-x/3)": "exp(-x/3)",
             "I((x + 1)^2)": "I((x + 1)^2)", "I(x - (z - 1))": "I(x - (z - 1))", "I(-x^2)": "I(-x^2)",
             "I((-x)^2)": "I((-x)^2)", "scale(x,center=FALSE)": "scale(x, center = FALSE)",
             "poly(x, degree=2, raw=TRUE)": "poly(x, degree = 2, raw = TRUE)", "as.numeric(x)": "as.numeric(x)"}
    for text, name in cases.items():
        (v,) = translate(text).variables.values()
        assert v.r_name == name, text


def test_term_order_and_variable_order_are_rs():
    r = translate("f:x + x + g:f + I(x^2)")
    labels = [r.label(t) for t in r.terms]
    assert labels == ["x", "I(x^2)", "f:x", "f:g"]      # by degree; factors by first appearance


def test_power_is_a_power_not_xor():
    """formulaic evaluates ^ inside I() as Python's XOR (silently wrong for integers)."""
    cols, X, _ = columns("I(x^2) + I(z^0.5)")
    np.testing.assert_allclose(X[:, 1], MM_DATA.x ** 2)
    np.testing.assert_allclose(X[:, 2], MM_DATA.z ** 0.5)


def test_offsets_add_and_are_not_columns():
    cols, X, offset = columns("x + offset(z) + offset(2 * x)")
    assert list(cols.names) == ["(Intercept)", "x"]
    np.testing.assert_allclose(offset, MM_DATA.z + 2 * MM_DATA.x)
    X_new, off_new = cols.matrices(pd.DataFrame({"x": [1.0, 2.0], "z": [10.0, 20.0]}))
    np.testing.assert_allclose(off_new, [12.0, 24.0])


def test_logical_columns_are_factors_as_in_r():
    d = MM_DATA.assign(b=MM_DATA.x > 5)
    cols, X, _ = columns("b + as.numeric(b):x + I(b * 2)", d)
    assert list(cols.names) == ["(Intercept)", "bTRUE", "I(b * 2)", "as.numeric(b):x"]
    np.testing.assert_allclose(X[:, 1], d.b)
    np.testing.assert_allclose(X[:, 3], d.b * d.x)


def test_stateful_transforms_keep_the_fits_state_for_new_data():
    cols, X, _ = columns("scale(x) + poly(z, 2)")
    new = pd.DataFrame({"x": [0.0, 20.0], "z": [1.0, 3.0]})
    Xn, _ = cols.matrices(new)
    sd = MM_DATA.x.std(ddof=1)
    np.testing.assert_allclose(Xn[:, 1], (new.x - MM_DATA.x.mean()) / sd)     # R's sd: n − 1
    full, _, _ = columns("poly(z, 2)", pd.concat([MM_DATA, new], ignore_index=True))
    assert not np.allclose(Xn[:, 2:], full.matrices(new)[0][:, 1:])            # the fit's basis, not new data's


@pytest.mark.parametrize("rhs,message", [
    ("x^2", r"outside I\(\), '\^' crosses terms in R: x\^2 is just x. For the square write I\(x\^2\)"),
    ("x**2", r"crosses terms in R"),
    ("f %in% g", r"'%in%' is not supported"),
    (".", r"'\.' \(all other columns\) is not supported"),
    ("I(x > 3)", r"'>' in I\(x > 3\) is not supported inside a formula"),
    ("I(x %% 2)", r"'%' in I\(x %% 2\) is not supported"),
    ("foo(x)", r"the function foo\(\) is not supported in a formula; fastmme knows"),
    ("np.log(x)", r"the function np.log\(\) is not supported"),
    ("{x}", r"braces \{\.\.\.\} are not R formula syntax; write I\(x\)"),
    ("x[1]", r"'\[' in x\[1\] is not supported"),
    ("x + 'a'", r"'a' is not a term"),
    ("x + 2", r"2 is not a term"),
    ("x$y", r"the operator '\$' is not supported"),
    ("factor(x + 1)", r"factor\(\) takes a column name here"),
    ("log(poly(x, 2))", r"poly\(\) must be a term of its own"),
    ("poly(x, 2.5)", r"degree must be a positive whole number"),
    ("poly(x, 2, coefs = 1)", r"poly\(\) takes \(x, degree = …, raw = …\)"),
    ("log(x, base = z)", r"base must be a literal"),
    ("offset(x):f", r"offset\(\) cannot be part of an interaction"),
    ("x - offset(z)", r"an offset cannot be removed with '-'"),
    ("I(x:3)", r"cannot read 'I\(x:3\)' as an R expression"),
    ("as.numeric(f)", r"as.numeric\(\) needs a numeric or logical column.*level codes"),
    ("log(f)", r"log\(\) needs a numeric or logical column"),
    ("offset(f)", r"offset\(\) needs a numeric or logical column"),
    ("poly(g == 1, 2)", r"'==' in poly\(g == 1, 2\) is not supported"),
    ("poly(x, 12)", r"degree 12 needs more than 12 distinct values; the data have 12"),
    ("I(x // 2)", r"'x // 2' is not supported inside a formula"),
    ("log(x)(x)", r"'log\(x\)\(x\)' is not supported inside a formula"),
    ("[x]", r"'\[' is not supported in a formula"),
    ("x +", r"cannot read the formula: Operator `\+` has insuff"),
    ("`x", r"cannot read the formula: .*quote"),
    ("x + log(x) + sqrt(x - 2)", r"NaN or infinite values in the fixed part after the formula's transformations: "
                                 r"log\(x\) \(1 row\(s\)\), sqrt\(x - 2\) \(2 row\(s\)\) — e.g. log\(0\)"),
])
def test_refusals_name_what_is_not_supported(rhs, message):
    with pytest.raises(FormulaError, match=message):
        columns(rhs)


def test_single_level_factor_is_refused_as_lme4_does():
    d = MM_DATA.assign(one="a")
    with pytest.raises(FormulaError, match=r"one has a single level \(a\) in the rows used.*lme4: 'contrasts can be "
                                           r"applied only to factors with 2 or more levels'.*remove it from the formula"):
        columns("x + one", d)
    assert REF["refusals"]["single_level"] == "contrasts can be applied only to factors with 2 or more levels"
    with pytest.raises(FormulaError, match=r"factor\(x\) has a single level \(3\)"):
        columns("factor(x)", d.assign(x=3.0))


def test_unseen_fixed_level_in_new_data_is_refused_naming_level_and_column():
    cols, _, _ = columns("x + f + factor(x)")
    with pytest.raises(fastmme.FastmmeError, match=r"level\(s\) d of f \(column 'f'\) that the fit did not have "
                                                   r"\(it had a, b, c\)"):
        cols.matrices(pd.DataFrame({"x": [1.0], "f": ["d"]}))
    with pytest.raises(fastmme.FastmmeError, match=r"level\(s\) 2.5 of factor\(x\) \(column 'x'\)"):
        cols.matrices(pd.DataFrame({"x": [2.5], "f": ["a"]}))
    X, _ = cols.matrices(pd.DataFrame({"x": [1], "f": ["b"]}))      # an integer 1 is the fit's level 1.0
    assert X[0, list(cols.names).index("factor(x)1")] == 1.0


def test_a_factor_without_a_source_column_is_still_refused_on_new_levels():
    """I(f) of a text column is a factor in R too ('I(f)b'); its unseen values are caught from
    formulaic's warning, never coded as the baseline."""
    cols, _, _ = columns("I(f)")
    assert list(cols.names) == ["(Intercept)", "I(f)b", "I(f)c"]
    with pytest.raises(fastmme.FastmmeError, match=r"newdata has values of I\(f\) that the fit did not have .*'z'"):
        cols.matrices(pd.DataFrame({"x": [1.0], "f": ["z"]}))
    with pytest.raises(fastmme.FastmmeError, match=r"newdata: log\(\) needs a numeric or logical column"):
        columns("log(x)", MM_DATA.assign(x=MM_DATA.x + 1))[0].matrices(pd.DataFrame({"x": ["a"]}))
    with pytest.raises(fastmme.FastmmeError, match=r"cannot build the columns of 'x \+ I\(x\^2\)' for newdata: .*it needs "
                                                   r"every column the formula names, with the types it had in the fit"):
        columns("x + I(x^2)")[0].matrices(pd.DataFrame({"x": ["a"]}))
