"""Interrupting a fit (reliability issue): KeyboardInterrupt raised inside the optimiser (here from
the progress callback, as a Ctrl-C between evaluations would) propagates at once, and the same model
then fits to the same result as an uninterrupted one; the caller's data are untouched."""
import numpy as np
import pandas as pd
import pytest

from fastmme.api import _formula_model


def data():
    rng = np.random.default_rng(4)
    n = 2000
    g, h = rng.integers(0, 90, n), rng.integers(0, 25, n)
    x = rng.normal(size=n)
    y = 1 + 0.5 * x + rng.normal(size=90)[g] * (1 + 0.3 * x) + rng.normal(size=25)[h] + rng.normal(size=n)
    return pd.DataFrame({"y": y, "x": x, "g": g, "h": h})


@pytest.mark.parametrize("formula,start", [("y ~ x + (1 + x | g) + (1 | h)", None),        # Newton
                                           ("y ~ x + (1 + x | g) + (1 | h)", "lme4"),
                                           ("y ~ x + (1 | g) + (1 | h)", None)])
@pytest.mark.parametrize("stop_at", [1, 3])
def test_interrupted_fit_raises_promptly_and_the_model_stays_usable(formula, start, stop_at):
    df = data()
    before = df.copy()
    _, model = _formula_model(formula, df, True, None, None)
    calls = []

    def progress(k, best):
        calls.append(k)
        if k >= stop_at:
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        model.fit(start=start, progress=progress)
    assert len(calls) == stop_at                       # promptly: no evaluation after the interrupt
    again = model.fit(start=start)
    fresh = _formula_model(formula, df, True, None, None)[1].fit(start=start)
    np.testing.assert_allclose(again.theta, fresh.theta, rtol=1e-10)
    np.testing.assert_allclose(again.deviance, fresh.deviance, rtol=1e-12)
    np.testing.assert_allclose(again.blups[0], fresh.blups[0], rtol=1e-9, atol=1e-12)
    pd.testing.assert_frame_equal(df, before)
