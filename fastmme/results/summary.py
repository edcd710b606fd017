"""lme4-style summaries, as text (terminal) and HTML (notebooks): the one formatter for a formula fit
(MixedFit: lmerTest's Satterthwaite df and p-values, the formula, scaled residuals), an array fit
(FitResult: t values only) and a GLMM (GlmmFit: glmer's z-tests, Pearson residuals).

The content of lme4's summary(lmer) with lmerTest's Satterthwaite p-values.  Tests:
tests/test_summary.py (a stable snapshot).
"""
from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class View:
    """What a summary shows besides the FitResult (`core`): from a MixedFit (view_of_fit) or from the
    FitResult alone (view_of_result)."""
    core: object
    coef_table: pd.DataFrame        # Estimate, Std. Error[, df], t value[, Pr(>|t|)]
    ngroups: dict
    formula: str | None = None      # None: an array fit (no formula, no Satterthwaite)
    weights: bool = False
    residual_lines: tuple = ()      # the scaled-residual quantiles, or the partitions' line
    n_dropped: int = 0
    partitioned: bool = False
    family: str | None = None       # a GLMM's "binomial  ( logit )"; None: a linear mixed model
    nAGQ: int = 1


def view_of_fit(fit) -> View:
    """A MixedFit's summary: Satterthwaite's df (lmerTest), the scaled residuals' quantiles."""
    if fit.partitioned:        # the residuals live on the cluster: quantiles would be another pass
        res = ("", f"Rows: {fit.nobs} assembled from {fit.design.frame.npartitions} partitions "
               "(scaled residuals: fit.scaled_residuals, a Dask series)")
    else:
        q = np.quantile(fit.scaled_residuals, [0, 0.25, 0.5, 0.75, 1])
        res = ("", "Scaled residuals:", "     Min       1Q   Median       3Q      Max", " ".join(f"{v:8.4f}" for v in q))
    return View(core=fit.core, coef_table=fit.coef_table, ngroups=fit.ngroups, formula=fit.formula,
                weights=fit.design.weights is not None, residual_lines=res, n_dropped=fit.n_dropped,
                partitioned=fit.partitioned)


def view_of_glmm(fit) -> View:
    """A GlmmFit's summary: z-tests, the Pearson residuals' quantiles, no residual variance."""
    mu, y, w = np.array(fit.fitted), np.array(fit.y), np.array(fit.prior_weights)
    pearson = (y - mu) / np.sqrt(fit._family.variance(mu) / w)
    q = np.quantile(pearson, [0, 0.25, 0.5, 0.75, 1])
    res = ("", "Scaled residuals:", "     Min       1Q   Median       3Q      Max", " ".join(f"{v:8.4f}" for v in q))
    return View(core=fit, coef_table=fit.coef_table, ngroups=fit.ngroups, formula=fit.formula,
                weights=False, residual_lines=res, n_dropped=fit.n_dropped,
                family=f"{fit.family}  ( {fit.link} )", nAGQ=fit.nAGQ)


def _view(fit) -> View:
    if hasattr(fit, "family") and hasattr(fit, "nAGQ"):
        return view_of_glmm(fit)
    return view_of_fit(fit) if hasattr(fit, "core") else view_of_result(fit)


def view_of_result(res) -> View:
    """A FitResult's summary: t values (no df without the formula fit's Satterthwaite computation)."""
    beta, se = np.array(res.beta), np.array(res.beta_se)
    table = pd.DataFrame({"Estimate": beta, "Std. Error": se, "t value": beta / se}, index=list(res.x_names))
    return View(core=res, coef_table=table, ngroups={nm: len(lv) for nm, lv in zip(res.term_names, res.levels)})


def optimizer_lines(res) -> list:
    """The summary's optimiser lines, as lme4 prints its optimizer and convergence code: always the
    method and its certificate, then every fallback, then non-convergence."""
    if not res.optimizer:
        return [f"θ not optimised: {res.optimizer_message}"]
    out = [f"optimizer: {res.certificate} — {'converged' if res.converged else 'NOT converged'}"]
    out += [f"  fallback: {f}" for f in res.fallbacks]
    if not res.converged:
        out.append(f"optimiser did not converge: {res.optimizer_message}")
    return out


def sparse_fixed_lines(res) -> list:
    """One summary line per sparse fixed factor: levels, zeroed levels, connected sets."""
    out = []
    for f in res.sparse_factors:
        sets = int(f.sets.max()) + 1
        out.append(f"sparse fixed factor {f.name}: {f.n_levels} levels, {int(f.zeroed.sum())} set to zero, "
                   f"{sets} connected set{'s' if sets > 1 else ''} (estimates: fixed_levels('{f.name}'))")
    return out


def _pval(p) -> str:
    if not np.isfinite(p):
        return "NA"
    return "< 2e-16" if p < 2e-16 else f"{p:.3g}"


def _stars(p) -> str:
    if not np.isfinite(p):
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else "." if p < 0.1 else ""


def random_effects_table(v: View) -> pd.DataFrame:
    rows = []
    for g, zn, S in zip(v.core.term_names, v.core.z_names, v.core.covariances):
        sd = np.sqrt(np.diag(S))
        for a, name in enumerate(zn):
            corr = [S[a, b] / (sd[a] * sd[b]) if sd[a] * sd[b] > 0 else np.nan for b in range(a)]
            rows.append({"Groups": g if a == 0 else "", "Name": name, "Variance": S[a, a], "Std.Dev.": sd[a],
                         "Corr": " ".join(f"{c:5.2f}" for c in corr)})
    if v.family is None:
        rows.append({"Groups": "Residual", "Name": "", "Variance": v.core.sigma ** 2, "Std.Dev.": v.core.sigma,
                     "Corr": ""})
    return pd.DataFrame(rows)


def fixed_effects_table(v: View) -> pd.DataFrame:
    ct = v.coef_table.copy()
    for col in ("Pr(>|t|)", "Pr(>|z|)"):
        if col in ct:
            ct[""] = [_stars(p) for p in ct[col]]
    return ct


def _header(v: View) -> list:
    core = v.core
    if v.family is not None:
        how = "Laplace Approximation" if v.nAGQ == 1 else f"Adaptive Gauss-Hermite Quadrature, nAGQ = {v.nAGQ}"
        return [f"Generalized linear mixed model fit by maximum likelihood ({how}) (fastmme)",
                f" Family: {v.family}", f"Formula: {v.formula}",
                f"{'AIC':>10} {'BIC':>10} {'logLik':>10} {'deviance':>10} {'df.resid':>9}",
                f"{core.aic:10.1f} {core.bic:10.1f} {core.loglik:10.1f} {core.minus2loglik:10.1f} {core.df_resid:9d}"]
        # (glmer's summary prints devCrit, −2 log L, under "deviance"; fit.deviance is deviance())
    fit_by = f"Linear mixed model fit by {'REML' if core.reml else 'maximum likelihood'} (fastmme)"
    lines = [fit_by] if v.formula is None else [f"{fit_by}; t-tests use Satterthwaite's method", f"Formula: {v.formula}"]
    if v.weights:
        lines.append("Weights: prior weights")
    if core.reml:
        lines.append(f"REML criterion at convergence: {core.deviance:.4f}")
    else:
        lines.append(f"{'AIC':>10} {'BIC':>10} {'logLik':>10} {'deviance':>10}")
        lines.append(f"{core.aic:10.1f} {core.bic:10.1f} {core.loglik:10.1f} {core.deviance:10.1f}")
    return lines


def _messages(v: View) -> list:
    out = []
    if v.n_dropped:
        out.append(f"{v.n_dropped} observation(s) with missing values dropped")
    out += sparse_fixed_lines(v.core)
    if v.core.dropped:
        out.append(f"fixed-effect columns dropped as aliased: {', '.join(v.core.dropped)}")
    if v.core.singular:
        out.append("boundary (singular) fit: a variance is estimated as 0 or a correlation as ±1")
    return out + optimizer_lines(v.core)


# the fixed-effects table's columns: (column, width, format; "p" for a p-value with its stars)
_EST = [("Estimate", 11, ".5g"), ("Std. Error", 11, ".4g")]
FIXED_COLUMNS = {"z": _EST + [("z value", 8, ".3f"), ("Pr(>|z|)", 9, "p")],
                 "df": _EST + [("df", 9, ".2f"), ("t value", 8, ".3f"), ("Pr(>|t|)", 9, "p")],
                 "t": _EST + [("t value", 8, ".3f")]}


def _fixed_effects_lines(fe: pd.DataFrame, w: int) -> list:
    cols = FIXED_COLUMNS["z" if "z value" in fe else "df" if "df" in fe else "t"]
    stars = cols[-1][2] == "p"
    out = [f"{'':<{w}} " + " ".join(f"{c:>{width}}" for c, width, _ in cols)]
    for name, r in fe.iterrows():
        cells = [f"{_pval(r[c]) if f == 'p' else format(r[c], f):>{width}}" for c, width, f in cols]
        out.append(f"{name:<{w}} " + " ".join(cells) + (f" {r['']}" if stars else ""))
    if stars:
        out.append("---\nSignif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1")
    return out


def summary_text(fit) -> str:
    """The summary of a MixedFit, or of a FitResult (anything else with a `core` is taken as a MixedFit)."""
    v = _view(fit)
    core = v.core
    lines = _header(v) + list(v.residual_lines) + ["", "Random effects:"]
    re = random_effects_table(v)
    lines.append(f" {'Groups':<12} {'Name':<14} {'Variance':>10} {'Std.Dev.':>9} Corr")
    for _, r in re.iterrows():
        lines.append(f" {r['Groups']:<12} {r['Name']:<14} {r['Variance']:>10.4g} {r['Std.Dev.']:>9.4g} {r['Corr']}")
    groups = ", ".join(f"{g}, {n}" for g, n in v.ngroups.items())
    lines.append(f"Number of obs: {core.nobs}, groups:  {groups}")
    fe = fixed_effects_table(v)
    lines += ["", "Fixed effects:"]
    w = max([len(s) for s in fe.index] + [8])
    lines += _fixed_effects_lines(fe, w)
    p = len(core.beta)
    if 1 < p <= 12:
        se = np.array(core.beta_se)
        C = np.array(core.beta_cov) / np.outer(se, se)
        short = [n[:6] for n in core.x_names]
        lines += ["", "Correlation of Fixed Effects:", f"{'':<{w}} " + " ".join(f"{s:>6}" for s in short[:-1])]
        for i in range(1, p):
            lines.append(f"{core.x_names[i]:<{w}} " + " ".join(f"{C[i, j]:6.3f}" for j in range(i)))
    msgs = _messages(v)
    if msgs:
        lines.append("")
        lines += msgs
    return "\n".join(lines)


def summary_html(fit) -> str:
    v = _view(fit)
    head = "<br>".join(html.escape(s) for s in _header(v))
    re = random_effects_table(v).to_html(index=False, float_format=lambda x: f"{x:.4g}")
    fe = fixed_effects_table(v).to_html(float_format=lambda x: f"{x:.4g}")
    groups = ", ".join(f"{html.escape(str(g))}: {n}" for g, n in v.ngroups.items())
    msgs = "".join(f"<p><em>{html.escape(m)}</em></p>" for m in _messages(v))
    return (f"<div class='fastmme-summary'><p>{head}</p><h4>Random effects</h4>{re}"
            f"<p>Number of obs: {v.core.nobs}; groups: {groups}</p><h4>Fixed effects</h4>{fe}{msgs}</div>")
