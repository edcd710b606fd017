"""Minimise the profiled criterion over θ with bounds (diagonal of Λ ≥ 0).

BOBYQA (Powell's bounded quadratic-model method, NLopt's implementation — the optimiser of lme4's
default `nloptwrap` and of MixedModels.jl), with tighter tolerances than lme4 so that the optimum is
at least as good.  After it stops, θ entries that sit next to their bound of 0 are tried at exactly 0
and kept there when the criterion does not get worse (a boundary fit).  Convergence warnings are
raised here and nowhere else.  Tests: tests/test_lme4.py, tests/test_fit.py.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import nlopt
import numpy as np

from .errors import ConvergenceWarning

FTOL_REL = 1e-12
FTOL_ABS = 1e-10
XTOL_ABS = 1e-10
MAXEVAL = 100_000
BOUNDARY_TRY = 1e-4   # θ entries with a bound of 0 below this are tried at 0


@dataclass(frozen=True)
class OptSummary:
    theta: np.ndarray
    fmin: float
    n_evals: int
    converged: bool
    message: str
    theta_start: np.ndarray


_STATUS = {
    nlopt.SUCCESS: "success", nlopt.STOPVAL_REACHED: "stopval reached",
    nlopt.FTOL_REACHED: "ftol reached", nlopt.XTOL_REACHED: "xtol reached",
    nlopt.MAXEVAL_REACHED: "maximum number of evaluations reached",
    nlopt.MAXTIME_REACHED: "maximum time reached", nlopt.ROUNDOFF_LIMITED: "roundoff limited",
}


def minimize_bobyqa(f, start, lower, maxeval=MAXEVAL, upper=None, warn=True, progress=None,
                    step=None) -> OptSummary:
    """Minimise f(θ) from `start` subject to lower ≤ θ ≤ upper (entrywise; ±inf = unbounded).

    progress: optional callable(n_evals, best_value) called after every evaluation."""
    start = np.asarray(start, dtype=np.float64)
    lower = np.asarray(lower, dtype=np.float64)
    k = start.shape[0]
    count = [0]
    best = [np.inf, start.copy()]

    def objective(x, grad):
        count[0] += 1
        val = f(x)
        if val < best[0]:
            best[0], best[1] = val, x.copy()
        if progress is not None:
            progress(count[0], best[0])
        return val

    opt = nlopt.opt(nlopt.LN_BOBYQA, k)
    opt.set_lower_bounds(np.where(np.isfinite(lower), lower, -np.inf).tolist())
    if upper is not None:
        opt.set_upper_bounds(np.asarray(upper, dtype=np.float64).tolist())
    opt.set_min_objective(objective)
    opt.set_ftol_rel(FTOL_REL)
    opt.set_ftol_abs(FTOL_ABS)
    opt.set_xtol_abs(XTOL_ABS)
    opt.set_maxeval(int(maxeval))
    opt.set_initial_step((np.where(np.isfinite(lower), 0.75, 0.5) if step is None else np.asarray(step)).tolist())
    converged = True
    try:
        opt.optimize(start.copy())
        status = opt.last_optimize_result()
        message = _STATUS.get(status, f"nlopt status {status}")
        if status in (nlopt.MAXEVAL_REACHED, nlopt.MAXTIME_REACHED):
            converged = False
    except nlopt.RoundoffLimited:
        message = "roundoff limited"
    theta, fmin = best[1].copy(), best[0]

    # boundary: try θ_i = 0 for entries next to their bound of 0
    for i in np.flatnonzero((lower == 0) & (theta > 0) & (theta < BOUNDARY_TRY)):
        trial = theta.copy()
        trial[i] = 0.0
        val = f(trial)
        count[0] += 1
        if val <= fmin:
            theta, fmin = trial, val
    if not converged and k > 0 and warn:
        warnings.warn(f"the optimiser stopped after {count[0]} evaluations without converging ({message}); "
                      "the estimates may be inaccurate — raise maxeval or simplify the model",
                      ConvergenceWarning, stacklevel=3)
    return OptSummary(theta=theta, fmin=float(fmin), n_evals=count[0], converged=converged,
                      message=message, theta_start=start)
