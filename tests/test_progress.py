"""The progress facility (fastmme.progress): silent unless asked for or interactive, one display per
phase, the fit's evaluations counted, the bootstrap's refits counted, callbacks still called."""
import io

import numpy as np
import pandas as pd
import pytest

import fastmme
from fastmme.progress import Progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_of_maps_the_arguments():
    assert Progress.of(None).enabled is False          # tests: stderr is not a terminal
    assert Progress.of(True).enabled is True and Progress.of(False).enabled is False
    calls = []
    p = Progress.of(lambda k, f: calls.append(k))
    p(3, 1.5)
    assert calls == [3] and p.enabled is False
    assert Progress.of(p) is p
    with pytest.raises(fastmme.FastmmeError, match="progress must be"):
        Progress.of("yes")


def test_a_terminal_gets_phases_evaluations_and_steps():
    out = Terminal()
    p = Progress(stream=out, delay=0, interval=0, phases=True)
    assert p.enabled
    with p.phase("building the model matrices"):
        pass
    for k in range(1, 4):
        p(k, 100.0 - k)
    assert list(p.steps("bootstrap", 3)) == [0, 1, 2]
    p.close()
    text = out.getvalue()
    assert "building the model matrices" in text and "fitting" in text and "criterion 97.000000" in text
    assert "bootstrap" in text


def test_lmm_and_bootstrap_with_progress_true_write_to_stderr(capsys):
    d = fastmme.datasets.load("sleepstudy")
    fit = fastmme.lmm("Reaction ~ Days + (Days | Subject)", d, progress=Progress(enabled=True, delay=0))
    boot = fit.bootstrap(3, seed=1, progress=Progress(enabled=True, delay=0))
    err = capsys.readouterr().err
    assert "fitting" in err and "bootstrap" in err and "building the model matrices" in err
    assert len(boot) == 3
    quiet = fastmme.lmm("Reaction ~ Days + (Days | Subject)", d)          # default: not interactive here
    quiet.bootstrap(2, seed=1)
    assert capsys.readouterr().err == ""
    np.testing.assert_allclose(quiet.theta, fit.theta)


def test_an_interactive_default_shows_counted_displays_only():
    out = Terminal()
    p = Progress(stream=out, delay=0, interval=0)          # progress=None on a terminal
    assert p.enabled and not p.phases
    with p.phase("building the model matrices"):
        pass
    p(1, 5.0)
    p.close()
    assert "building" not in out.getvalue() and "fitting" in out.getvalue()


def test_a_second_stage_keeps_counting():
    out = Terminal()
    p = Progress(stream=out, delay=0, interval=0)
    for k in (1, 2, 3, 1, 2):                              # glmm: stage 2 counts from 1 again
        p(k, 1.0)
    assert p._bar.n == 5
    p.close()


def test_profile_intervals_show_their_parameters_and_equal_the_quiet_ones(capsys):
    d = fastmme.datasets.load("sleepstudy")
    fit = fastmme.lmm("Reaction ~ Days + (1 | Subject)", d, reml=False)
    shown = fit.confint("profile", progress=Progress(enabled=True, delay=0, interval=0))
    err = capsys.readouterr().err
    assert "profiling" in err and "4/4" in err            # sd, σ and the two β
    quiet = fit.confint("profile")
    assert capsys.readouterr().err == ""
    pd.testing.assert_frame_equal(shown, quiet)
    fit.confint("boot", nsim=3, seed=1, progress=Progress(enabled=True, delay=0, interval=0))
    assert "bootstrap" in capsys.readouterr().err
