"""lme4's argument spellings in fastmme.lmm / fastmme.blup: a FastmmeError that names the Python
spelling or says the argument is not supported, never a TypeError from inside."""
import pytest

import fastmme


@pytest.fixture(scope="module")
def sleep():
    return fastmme.datasets.load("sleepstudy")


F = "Reaction ~ Days + (1 | Subject)"


@pytest.mark.parametrize("argument,value,message", [
    ("REML", False, r"REML= is lme4's spelling; write reml=False"),
    ("control", {"optimizer": "bobyqa"}, r"control= \(lmerControl\) is not supported.*maxeval="),
    ("na.action", "na.exclude", r"na.action= is not supported: rows with a missing value .* always dropped"),
    ("na_action", "na.exclude", r"na.action= is not supported"),
    ("subset", "Days > 2", r"subset= is not supported: select the rows first"),
    ("contrasts", {"f": "contr.sum"}, r"contrasts= is not supported: factors use treatment contrasts"),
    ("offset", [0.0] * 180, r"offset= is not supported: write offset\(x\) in the formula"),
    ("verbose", 1, r"verbose= is not supported: pass progress="),
    ("devFunOnly", True, r"devFunOnly= is not supported"),
    ("family", "binomial", r"family= is not supported: fastmme.lmm fits linear mixed models"),
    ("reml_", False, r"unexpected argument 'reml_'; it takes formula, data, reml"),
    ("Control", {}, r"unexpected argument 'Control'.*\(control= \(lmerControl\)"),
])
def test_lmm_refuses_lme4_arguments_naming_the_python_spelling(sleep, argument, value, message):
    with pytest.raises(fastmme.FastmmeError, match=r"fastmme.lmm\(\): " + message if "unexpected" not in message
                       else message):
        fastmme.lmm(F, sleep, **{argument: value})


def test_blup_refuses_lme4_arguments(sleep):
    with pytest.raises(fastmme.FastmmeError, match=r"fastmme.blup\(\): REML= is lme4's spelling"):
        fastmme.blup(F, sleep, variances=[1300.0], residual=960.0, REML=False)
    with pytest.raises(fastmme.FastmmeError, match=r"blup\(\) got an unexpected argument 'reml'.*no reml"):
        fastmme.blup(F, sleep, variances=[1300.0], residual=960.0, reml=False)


def test_lme4_start_spelling_and_fit_options(sleep):
    ref = fastmme.lmm(F, sleep)
    a = fastmme.lmm(F, sleep, start={"theta": [1.0]})              # lme4's start = list(theta = 1)
    b = fastmme.lmm(F, sleep, start=[1.0], maxeval=500)
    assert a.deviance == pytest.approx(ref.deviance, rel=1e-10) and b.deviance == pytest.approx(ref.deviance, rel=1e-10)
    with pytest.raises(fastmme.FastmmeError, match=r"start= takes θ only .* got the key\(s\) 'fixef'"):
        fastmme.lmm(F, sleep, start={"theta": [1.0], "fixef": [250.0, 10.0]})
    ml = fastmme.lmm(F, sleep, reml=False)
    assert not ml.reml and ml.deviance == pytest.approx(-2 * ml.loglik, rel=1e-12)
