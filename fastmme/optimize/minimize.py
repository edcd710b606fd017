"""Minimise the profiled criterion over θ with bounds (diagonal of Λ ≥ 0).

With the analytic gradient (fastmme.evaluate.objective, dense Schur structure): L-BFGS-B (scipy), a bounded
quasi-Newton method, stopped when the projected gradient is small against the criterion's size (far
above its rounding noise); BOBYQA takes over from its best point if it fails.  Without a gradient:
BOBYQA (Powell's bounded quadratic-model method, NLopt's implementation — the optimiser of lme4's
default `nloptwrap` and of MixedModels.jl), with tighter tolerances than lme4 so that the optimum is
at least as good.  After it stops, θ entries that sit next to their bound of 0 are tried at exactly 0
and kept there when the criterion does not get worse (a boundary fit).  Convergence warnings are
raised here and nowhere else.  Tests: tests/test_lme4.py, tests/test_fit.py.
"""
from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass

import nlopt
import numpy as np

from ..errors import ConvergenceWarning, NotPositiveDefinite
from ..lazy import scipy_optimize

FTOL_REL = 1e-12
FTOL_ABS = 1e-10
XTOL_ABS = 1e-10
MAXEVAL = 100_000
BOUNDARY_TRY = 1e-4   # θ entries with a bound of 0 below this are tried at 0 ...
BOUNDARY_SLACK = 1e-12  # ... and kept there unless the criterion rises by more than this (relative: rounding)
MAX_ESCAPES = 3       # restarts of L-BFGS-B from a better point off the bound (see _escape)
ESCAPE_STEPS = (1e-2, 1e-1, 1.0)
NEWTON_TOL = 1e-12     # stop at a predicted decrease below this, relative to the criterion
NEWTON_MAXITER = 50
NEWTON_GTOL = 1e-5     # ... with |projected gradient| · max(1, |θ|) below this, relative to the criterion
NOISE_TOL = 1e-10      # a predicted decrease this small that no step achieves is rounding
NOISE_GTOL_REL = 1e-7  # an "abnormal" line search with a projected gradient this small has converged
GTOL_REL = 1e-8       # L-BFGS-B stops at a projected gradient ≤ GTOL_REL · max(1, |criterion|)


@dataclass(frozen=True)
class OptSummary:
    theta: np.ndarray
    fmin: float
    n_evals: int
    converged: bool
    message: str
    theta_start: np.ndarray
    method: str = ""             # the stage whose point θ̂ is: "Newton (average information)", "L-BFGS-B", "BOBYQA"
    fallbacks: tuple = ()        # why each earlier stage handed over to the next
    gradient: float = float("nan")   # the certificate: max |projected ∂f/∂θ| · max(1, |θ|) / max(1, |f|) at θ̂
    boundary: str = ""           # how θ entries at their bound of 0 were checked
    grad: np.ndarray | None = None   # ∂f/∂θ at θ when the stage evaluated it there (certify reuses it)

    @property
    def certificate(self) -> str:
        """One line for the summary: the method, the gradient at θ̂ and the boundary check."""
        if not np.isfinite(self.gradient):
            g = "no gradient (derivative-free)"
        elif self.gradient == 0:
            g = "relative projected gradient 0"
        else:      # its order of magnitude: the digits below it are rounding noise
            g = f"relative projected gradient < 1e{int(np.floor(np.log10(self.gradient))) + 1}"
        out = f"{self.method or 'given'}; {g}"
        if self.boundary:
            out += f"; {self.boundary}"
        return out


_STATUS = {
    nlopt.SUCCESS: "success", nlopt.STOPVAL_REACHED: "stopval reached",
    nlopt.FTOL_REACHED: "ftol reached", nlopt.XTOL_REACHED: "xtol reached",
    nlopt.MAXEVAL_REACHED: "maximum number of evaluations reached",
    nlopt.MAXTIME_REACHED: "maximum time reached", nlopt.ROUNDOFF_LIMITED: "roundoff limited",
}


class _Budget:
    """Counts evaluations against maxeval (raising _Stop past it), keeps the best point seen and
    reports progress; wrap(fn) returns fn counted, for fn returning a value or a tuple led by one."""

    def __init__(self, maxeval, start, progress=None, stop=True):
        self.maxeval, self.progress, self.stop = maxeval, progress, stop
        self.count = 0
        self.fmin, self.theta = np.inf, np.array(start, dtype=np.float64)
        self.grad = None           # the gradient at the best point, when its evaluation gave one

    def wrap(self, fn):
        def counted(x, *args):
            self.count += 1
            if self.stop and self.count > self.maxeval:
                raise _Stop
            out = fn(x)
            val = out[0] if isinstance(out, tuple) else out
            if val < self.fmin:
                self.fmin, self.theta = val, np.array(x, dtype=np.float64)
                self.grad = np.array(out[1], dtype=np.float64) if isinstance(out, tuple) and len(out) > 1 else None
            if self.progress is not None:
                self.progress(self.count, self.fmin)
            return out
        return counted


def minimize_bobyqa(f, start, lower, maxeval=MAXEVAL, upper=None, warn=True, progress=None,
                    step=None, ftol_rel=FTOL_REL) -> OptSummary:
    """Minimise f(θ) from `start` subject to lower ≤ θ ≤ upper (entrywise; ±inf = unbounded).

    progress: optional callable(n_evals, best_value) called after every evaluation; ftol_rel: NLopt's
    relative tolerance on f (a flat surface wants a smaller one, or the steps stop short)."""
    start = np.asarray(start, dtype=np.float64)
    lower = np.asarray(lower, dtype=np.float64)
    k = start.shape[0]
    budget = _Budget(maxeval, start, progress, stop=False)    # NLopt enforces maxeval itself
    objective = budget.wrap(f)

    opt = nlopt.opt(nlopt.LN_BOBYQA, k)
    opt.set_lower_bounds(np.where(np.isfinite(lower), lower, -np.inf).tolist())
    if upper is not None:
        opt.set_upper_bounds(np.asarray(upper, dtype=np.float64).tolist())
    opt.set_min_objective(objective)
    opt.set_ftol_rel(ftol_rel)
    opt.set_ftol_abs(FTOL_ABS if ftol_rel == FTOL_REL else 0.0)
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
    except NotPositiveDefinite as err:     # the last stage: stop at the best point, not converged
        converged, message = False, f"an evaluation failed: {str(err).split(';')[0]}"
    return _finish(f, budget.theta.copy(), budget.fmin, budget.count, converged, "BOBYQA: " + message, lower,
                   warn, start, method="BOBYQA")


def _finish(f, theta, fmin, count, converged, message, lower, warn, start, method="", fallbacks=(),
            grad=None) -> OptSummary:
    """Try θ entries next to their bound of 0 at exactly 0 (a boundary fit); warn if not converged.
    grad: the gradient at θ if known (dropped when a boundary try moves θ)."""
    before = theta
    theta, fmin, count, boundary = _boundary_tries(f, theta, fmin, count, lower)
    if grad is not None and not np.array_equal(theta, before):
        grad = None
    if not converged and theta.shape[0] > 0 and warn:
        _warn_not_converged(count, message)
    return OptSummary(theta=theta, fmin=float(fmin), n_evals=count, converged=converged,
                      message=message, theta_start=start, method=method, fallbacks=tuple(fallbacks),
                      boundary=boundary, grad=grad)


def _warn_not_converged(count, message) -> None:
    warnings.warn(f"the optimiser stopped after {count} evaluations without converging ({message}); "
                  "the estimates may be inaccurate — raise maxeval or simplify the model",
                  ConvergenceWarning, stacklevel=5)


def _boundary_tries(f, theta, fmin, count, lower):
    """θ entries with a bound of 0 within BOUNDARY_TRY of it are tried at exactly 0 and kept there when
    the criterion is not worse.  Returns (θ, f, evaluations, what was done)."""
    tried = kept = 0
    for i in np.flatnonzero((lower == 0) & (theta > 0) & (theta < BOUNDARY_TRY)):
        trial = theta.copy()
        trial[i] = 0.0
        val = f(trial)
        count += 1
        tried += 1
        if val <= fmin + BOUNDARY_SLACK * max(1.0, abs(fmin)):     # not worse beyond rounding
            theta, fmin = trial, val
            kept += 1
    return theta, fmin, count, f"{tried} tried at 0, {kept} kept" if tried else ""


def minimize_gradient(fg, f, start, lower, maxeval=MAXEVAL, warn=True, progress=None,
                      canonical=None, fallback_ftol=FTOL_REL) -> OptSummary:
    """Minimise with the gradient: fg(θ) -> (value, gradient), f(θ) -> value (for the boundary tries
    and the BOBYQA fallback, run to the relative tolerance fallback_ftol).  Bounds: lower ≤ θ (±inf = unbounded).  canonical(θ): θ of the same
    model in a canonical form (semi-definite Cholesky factors), used to leave the bound (_escape)."""
    start = np.asarray(start, dtype=np.float64)
    lower = np.asarray(lower, dtype=np.float64)
    budget = _Budget(maxeval, start, progress)
    objective, value = budget.wrap(fg), budget.wrap(f)

    bounds = [(lo if np.isfinite(lo) else None, None) for lo in lower]
    x0, message = start, ""
    try:
        for _ in range(1 + MAX_ESCAPES):
            first = [objective(x0)]        # its size sets the tolerance; L-BFGS-B asks for it again first
            gtol = GTOL_REL * max(1.0, abs(first[0][0]))

            def reuse_first(x, x0=x0, first=first):
                return first.pop() if first and np.array_equal(x, x0) else objective(x)

            res = scipy_optimize().minimize(reuse_first, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                           options=dict(ftol=0.0, gtol=gtol, maxcor=20, maxiter=int(maxeval),
                                        maxfun=int(maxeval)))
            ok, message = bool(res.success), "L-BFGS-B: " + str(res.message)
            if not ok and "ABNORMAL" in message:   # line search lost in rounding noise at the optimum?
                pg = np.where((res.x <= lower) & (res.jac > 0), 0.0, res.jac)
                ok = bool(np.max(np.abs(pg), initial=0.0) <= NOISE_GTOL_REL * max(1.0, abs(res.fun)))
            if not ok:
                break
            if budget.fmin < res.fun - 1e-12 * abs(res.fun):   # it passed a better point and left it
                ok, message, x0 = False, message + " at a worse point than one it passed", budget.theta.copy()
                continue
            x0 = _escape(value, res.x, res.fun, lower, canonical)
            if x0 is None:
                break
            ok, message = False, message + " on the bound; a point off it is better"
    except _Stop:
        return _finish(f, budget.theta.copy(), budget.fmin, maxeval, False,
                       "maximum number of evaluations reached", lower, warn, start, method="L-BFGS-B")
    except NotPositiveDefinite as err:   # an evaluation failed: BOBYQA from the best point so far
        ok, message = False, f"L-BFGS-B: an evaluation failed ({str(err).split(';')[0]})"
    if not ok:
        used = budget.count
        opt = minimize_bobyqa(f, budget.theta, lower, maxeval=max(1, maxeval - used), warn=warn,
                              progress=None if progress is None else (lambda k, v: progress(used + k, v)),
                              ftol_rel=fallback_ftol)
        return dataclasses.replace(opt, n_evals=used + opt.n_evals, message=f"{message}; then {opt.message}",
                                   theta_start=start, fallbacks=(message,) + opt.fallbacks)
    return _finish(f, budget.theta.copy(), budget.fmin, budget.count, True, message, lower, warn, start,
                   method="L-BFGS-B", grad=budget.grad)


def _escape(value, x, fx, lower, canonical=None):
    """A point off the bound with a lower criterion, or None.  The criterion of a scalar term is even
    in θ_k, so its gradient vanishes at θ_k = 0 whether or not that is a minimum: a gradient method that
    reaches the bound stays there.  Each θ entry at its bound of 0 is tried at ESCAPE_STEPS, from the
    canonical form of θ (the same model; a zero diagonal entry of T with a non-zero entry below it is
    a stationary point only in the non-canonical form)."""
    theta, fmin = np.array(x, dtype=np.float64), fx
    if canonical is not None:
        theta = canonical(theta)
        if np.any(theta[lower == 0] < 0):
            theta = np.array(x, dtype=np.float64)
    for i in np.flatnonzero((lower == 0) & (theta <= BOUNDARY_TRY)):
        for step in ESCAPE_STEPS:
            trial = theta.copy()
            trial[i] = step
            if value(trial) < fmin - 1e-12 * abs(fmin):
                return trial
    return None


def minimize_newton(fgh, fg, f, start, lower, maxeval=MAXEVAL, warn=True, progress=None,
                    canonical=None, tol=None, em=None, gtol=NEWTON_GTOL) -> OptSummary:
    """Projected Newton with the average-information Hessian: fgh(θ) -> (value, gradient, H).

    Each iteration solves H_FF δ = −g_F on the free set F (θ entries not held at their bound by a
    gradient pointing out of the box), backtracks along the projected step until the criterion
    decreases enough (Armijo), and stops when the predicted decrease −gᵀδ falls below
    tol · max(1, |criterion|) (default NEWTON_TOL) with a projected gradient below gtol (relative, as
    NEWTON_GTOL).  Near the optimum the AI matrix is close to the
    Hessian, so a fit takes a handful of iterations.  Entries at their bound of 0 are tried off it
    afterwards (_escape) and Newton restarts from a better point.  em: optional θ ↦ θ after one
    EM-REML step (fastmme.optimize.em), tried first whenever the Newton step would leave the parameter space
    (cross a bound) and taken if it lowers the criterion.  If a step cannot be found,
    L-BFGS-B continues from the best point (minimize_gradient), and BOBYQA after it if needed."""
    start = np.asarray(start, dtype=np.float64)
    lower = np.asarray(lower, dtype=np.float64)
    budget = _Budget(maxeval, start, progress)
    call, value = budget.wrap(fgh), budget.wrap(f)

    message, ok = "Newton (average information): ", False
    bounded = np.isfinite(lower)
    try:
        x = start.copy()
        for _ in range(1 + MAX_ESCAPES):
            ok, x, fx, note = _newton_iterations(call, value, x, lower, bounded, tol, em, gtol)
            message += note
            if not ok:
                break
            x0 = _escape(value, x, fx, lower, canonical)
            if x0 is None:
                break
            ok, x, message = False, x0, message + "; on the bound, a point off it is better; "
    except _Stop:
        return _finish(f, budget.theta.copy(), budget.fmin, maxeval, False,
                       "maximum number of evaluations reached", lower, warn, start,
                       method="Newton (average information)")
    except NotPositiveDefinite as err:     # an evaluation failed: L-BFGS-B from the best point so far
        message += f"an evaluation failed ({str(err).split(';')[0]})"
    if not ok:
        used = budget.count
        opt = minimize_gradient(fg, f, budget.theta, lower, maxeval=max(1, maxeval - used), warn=warn,
                                progress=None if progress is None else (lambda k, v: progress(used + k, v)),
                                canonical=canonical)
        return dataclasses.replace(opt, n_evals=used + opt.n_evals, message=f"{message}; then {opt.message}",
                                   theta_start=start, fallbacks=(message,) + opt.fallbacks)
    return _finish(f, budget.theta.copy(), budget.fmin, budget.count, True, message, lower, warn, start,
                   method="Newton (average information)", grad=budget.grad)


def _newton_iterations(call, value, x, lower, bounded, tol, em=None, gtol=NEWTON_GTOL):
    """Newton iterations from x until the predicted decrease is small: (converged, x, f(x), note).
    (Keeping the AI matrix of an earlier iterate when it predicted well was tried: fits took more
    evaluations, up to 65 where 17 sufficed, and stopped less precisely.)"""
    fx, g, H = call(x)
    slow = 0
    for _ in range(NEWTON_MAXITER):
        free = ~((x <= lower) & (g >= 0))
        step = np.zeros_like(x)
        if np.any(free):
            step[free] = _newton_step(H[np.ix_(free, free)], g[free])
        # a bounded entry moves at most 90% of the way to its bound in one step: the criterion is
        # even in a scalar term's θ_k, so landing on θ_k = 0 would stop there (zero gradient); an
        # entry already within BOUNDARY_TRY of its bound may land on it (escape tries follow)
        gap = x - lower
        floor = np.full_like(x, -np.inf)
        bnd = bounded & (x > lower)
        floor[bnd] = np.where(gap[bnd] > BOUNDARY_TRY, lower[bnd] + 0.1 * gap[bnd], lower[bnd])
        floor[bounded & (x <= lower)] = lower[bounded & (x <= lower)]
        if em is not None and np.any(bounded & (x + step < lower)):
            xe = em(x)                      # the AI step leaves the parameter space: an EM step instead
            fe, ge, He = call(xe)
            if fe < fx:
                x, fx, g, H = xe, fe, ge, He
                continue
        full = np.maximum(x + step, floor) - x
        predicted = -float(g @ full)
        if predicted <= (NEWTON_TOL if tol is None else tol) * max(1.0, abs(fx)):
            # the AI matrix can be far from the Hessian far from the optimum: trust the prediction
            # only with a small projected gradient too
            pg = np.where(free, g, 0.0)
            if np.max(np.abs(pg), initial=0.0) * max(1.0, float(np.max(np.abs(x), initial=0.0))) \
                    > gtol * max(1.0, abs(fx)):
                return False, x, fx, "predicted decrease small but gradient not"
            return True, x, fx, "predicted decrease below tolerance"
        accepted = _line_search(call, value, x, fx, g, step, floor)
        if accepted is None:
            if predicted <= NOISE_TOL * max(1.0, abs(fx)):    # no decrease left above rounding
                return True, x, fx, "no decrease along the Newton step at the rounding level"
            return False, x, fx, "no decrease along the Newton step"
        f_old, x_old = fx, x
        x, (fx, g, H) = accepted
        to_bound = np.any(bounded & (x_old + step < floor))   # an entry walking to its bound (90% a step)
        slow = slow + 1 if f_old - fx < STALL_TOL * max(1.0, abs(fx)) and not to_bound else 0
        if slow >= STALL_STEPS:      # linear convergence (a rank-deficient optimum): a cheaper method
            return False, x, fx, f"{STALL_STEPS} steps each decreasing the criterion by less than {STALL_TOL:g} (relative)"
    return False, x, fx, "iteration limit"


STALL_TOL = 1e-7    # a Newton step decreasing the criterion by less than this (relative) is slow ...
STALL_STEPS = 3     # ... and this many in a row hand over to L-BFGS-B (cheaper steps, no AI matrix)
NEWTON_TRIALS = 4   # step lengths 1, 1/4, 1/16, 1/64 along the Newton step before handing over


def _line_search(call, value, x, fx, g, step, floor):
    """(x', (f, g, H) at x') with an Armijo decrease along the Newton step (lengths 1, 1/4, …,
    NEWTON_TRIALS of them), or None.  The full step is evaluated with its gradient and AI matrix
    (near the optimum it is accepted: one evaluation per iteration); shorter trials with the criterion
    only, the gradient and the AI matrix then computed at the accepted one.  A trial whose equations are
    not numerically positive definite is a failed trial.  Far from the optimum the criterion can be
    far from convex and the AI step (positive definite) useless: on maximal subjects × items models,
    Levenberg-shifted AI steps decreased the criterion only as steepest descent does, at the AI
    matrix's cost, and L-BFGS-B from that point was 2–3 × faster; so None hands over to it."""
    alpha = 1.0
    for i in range(NEWTON_TRIALS):
        xn = np.maximum(x + alpha * step, floor)
        try:
            out = call(xn) if i == 0 else None
            fn = out[0] if i == 0 else value(xn)
        except NotPositiveDefinite:
            fn = np.inf
        if fn <= fx + 1e-4 * float(g @ (xn - x)):
            return xn, (out if out is not None else call(xn))
        alpha *= 0.25
    return None


def _newton_step(H, g):
    """−H⁻¹g, with H made positive definite by a Levenberg shift if it is not."""
    scale = max(float(np.max(np.abs(np.diag(H)))), 1e-300)
    shift = 0.0
    for _ in range(30):
        try:
            c = np.linalg.cholesky(H + shift * np.eye(H.shape[0]))
            return -np.linalg.solve(c.T, np.linalg.solve(c, g))
        except np.linalg.LinAlgError:
            shift = max(2 * shift, 1e-10 * scale)
    return -g / scale


CERT_GTOL = 1e-5      # θ̂ is certified when its relative projected gradient (OptSummary.gradient) is below this


def certify(opt: OptSummary, f, fg, lower, canonical=None, warn=True) -> OptSummary:
    """The last step of every fit: θ̂ in its canonical form (each T_k the semi-definite Cholesky factor,
    diagonal ≥ 0, as lme4 reports θ), entries next to lme4's bound of 0 tried at 0, and the convergence
    certificate: the projected gradient at θ̂ (fg(θ) -> (value, gradient); None without a gradient),
    max_i |g_i| · max(1, |θ|_∞) / max(1, |f|), at most CERT_GTOL.  A stage that claimed convergence at
    a point that fails the certificate is reported as not converged, with the reason in fallbacks."""
    theta, fmin, count, fallbacks = np.array(opt.theta, dtype=np.float64), opt.fmin, opt.n_evals, list(opt.fallbacks)
    lower = np.asarray(lower, dtype=np.float64)
    if canonical is not None and theta.shape[0]:
        c = canonical(theta)
        if not np.array_equal(c, theta):
            theta, fmin, count = c, f(c), count + 1
    theta, fmin, count, boundary = _boundary_tries(f, theta, fmin, count, lower)
    converged, gnorm = opt.converged, float("nan")
    if fg is not None and theta.shape[0]:
        if opt.grad is not None and np.array_equal(theta, opt.theta):
            fv, g = fmin, opt.grad              # the stage's own last evaluation was at θ̂
        else:
            fv, g = fg(theta)
            count += 1
        pg = np.where((theta <= lower) & (g >= 0), 0.0, g)
        gnorm = float(np.max(np.abs(pg)) * max(1.0, float(np.max(np.abs(theta)))) / max(1.0, abs(fv)))
        if converged and not gnorm <= CERT_GTOL:
            converged = False
            fallbacks.append(f"{opt.method} stopped at a point whose relative projected gradient is {gnorm:.1e} "
                             f"(> {CERT_GTOL:g}): not certified")
    message = opt.message if converged == opt.converged else f"{opt.message}; {fallbacks[-1]}"
    if not converged and opt.converged and warn:
        _warn_not_converged(count, message)
    at = int(np.sum((lower == 0) & (theta == 0)))
    boundary = "; ".join(b for b in (f"{at} θ entr{'y' if at == 1 else 'ies'} at the bound 0" if at else "",
                                     opt.boundary, boundary) if b)
    return dataclasses.replace(opt, theta=theta, fmin=float(fmin), n_evals=count, converged=converged,
                               message=message, fallbacks=tuple(fallbacks), gradient=gnorm, boundary=boundary,
                               grad=None)


class _Stop(Exception):
    pass
