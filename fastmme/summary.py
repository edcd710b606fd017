"""lme4-style summaries of a formula fit, as text (terminal) and HTML (notebooks).

The content of lme4's summary(lmer) with lmerTest's Satterthwaite p-values.  Tests:
tests/test_summary.py (a stable snapshot).
"""
from __future__ import annotations

import html

import numpy as np
import pandas as pd

from .results import optimizer_lines, sparse_fixed_lines


def _pval(p) -> str:
    if not np.isfinite(p):
        return "NA"
    return "< 2e-16" if p < 2e-16 else f"{p:.3g}"


def _stars(p) -> str:
    if not np.isfinite(p):
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else "." if p < 0.1 else ""


def random_effects_table(fit) -> pd.DataFrame:
    rows = []
    for g, zn, S in zip(fit.core.term_names, fit.core.z_names, fit.core.covariances):
        sd = np.sqrt(np.diag(S))
        for a, name in enumerate(zn):
            corr = [S[a, b] / (sd[a] * sd[b]) if sd[a] * sd[b] > 0 else np.nan for b in range(a)]
            rows.append({"Groups": g if a == 0 else "", "Name": name, "Variance": S[a, a], "Std.Dev.": sd[a],
                         "Corr": " ".join(f"{c:5.2f}" for c in corr)})
    rows.append({"Groups": "Residual", "Name": "", "Variance": fit.sigma ** 2, "Std.Dev.": fit.sigma, "Corr": ""})
    return pd.DataFrame(rows)


def fixed_effects_table(fit) -> pd.DataFrame:
    ct = fit.coef_table.copy()
    ct[""] = [_stars(p) for p in ct["Pr(>|t|)"]]
    return ct


def _header(fit) -> list:
    lines = [f"Linear mixed model fit by {'REML' if fit.reml else 'maximum likelihood'} "
             f"(fastmme); t-tests use Satterthwaite's method", f"Formula: {fit.formula}"]
    if fit.design.weights is not None:
        lines.append("Weights: prior weights")
    if fit.reml:
        lines.append(f"REML criterion at convergence: {fit.deviance:.4f}")
    else:
        lines.append(f"{'AIC':>10} {'BIC':>10} {'logLik':>10} {'deviance':>10}")
        lines.append(f"{fit.aic:10.1f} {fit.bic:10.1f} {fit.loglik:10.1f} {fit.deviance:10.1f}")
    return lines


def _messages(fit) -> list:
    out = []
    if fit.n_dropped:
        out.append(f"{fit.n_dropped} observation(s) with missing values dropped")
    out += sparse_fixed_lines(fit.core)
    if fit.core.dropped:
        out.append(f"fixed-effect columns dropped as aliased: {', '.join(fit.core.dropped)}")
    if fit.singular:
        out.append("boundary (singular) fit: a variance is estimated as 0 or a correlation as ±1")
    return out + optimizer_lines(fit.core)


def summary_text(fit) -> str:
    lines = _header(fit)
    if fit.partitioned:        # the residuals live on the cluster: quantiles would be another pass
        lines += ["", f"Rows: {fit.nobs} assembled from {fit.design.frame.npartitions} partitions "
                  "(scaled residuals: fit.scaled_residuals, a Dask series)", "", "Random effects:"]
    else:
        q = np.quantile(fit.scaled_residuals, [0, 0.25, 0.5, 0.75, 1])
        lines += ["", "Scaled residuals:", "     Min       1Q   Median       3Q      Max",
                  " ".join(f"{v:8.4f}" for v in q), "", "Random effects:"]
    re = random_effects_table(fit)
    lines.append(f" {'Groups':<12} {'Name':<14} {'Variance':>10} {'Std.Dev.':>9} Corr")
    for _, r in re.iterrows():
        lines.append(f" {r['Groups']:<12} {r['Name']:<14} {r['Variance']:>10.4g} {r['Std.Dev.']:>9.4g} {r['Corr']}")
    groups = ", ".join(f"{g}, {n}" for g, n in fit.ngroups.items())
    lines.append(f"Number of obs: {fit.nobs}, groups:  {groups}")
    fe = fixed_effects_table(fit)
    lines += ["", "Fixed effects:"]
    w = max([len(s) for s in fe.index] + [8])
    lines.append(f"{'':<{w}} {'Estimate':>11} {'Std. Error':>11} {'df':>9} {'t value':>8} {'Pr(>|t|)':>9}")
    for name, r in fe.iterrows():
        lines.append(f"{name:<{w}} {r['Estimate']:>11.5g} {r['Std. Error']:>11.4g} {r['df']:>9.2f} "
                     f"{r['t value']:>8.3f} {_pval(r['Pr(>|t|)']):>9} {r['']}")
    lines.append("---\nSignif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1")
    p = len(fit.core.beta)
    if 1 < p <= 12:
        se = np.array(fit.core.beta_se)
        C = np.array(fit.core.beta_cov) / np.outer(se, se)
        short = [n[:6] for n in fit.core.x_names]
        lines += ["", "Correlation of Fixed Effects:", f"{'':<{w}} " + " ".join(f"{s:>6}" for s in short[:-1])]
        for i in range(1, p):
            lines.append(f"{fit.core.x_names[i]:<{w}} " + " ".join(f"{C[i, j]:6.3f}" for j in range(i)))
    msgs = _messages(fit)
    if msgs:
        lines.append("")
        lines += msgs
    return "\n".join(lines)


def summary_html(fit) -> str:
    head = "<br>".join(html.escape(s) for s in _header(fit))
    re = random_effects_table(fit).to_html(index=False, float_format=lambda v: f"{v:.4g}")
    fe = fixed_effects_table(fit).to_html(float_format=lambda v: f"{v:.4g}")
    groups = ", ".join(f"{html.escape(str(g))}: {n}" for g, n in fit.ngroups.items())
    msgs = "".join(f"<p><em>{html.escape(m)}</em></p>" for m in _messages(fit))
    return (f"<div class='fastmme-summary'><p>{head}</p><h4>Random effects</h4>{re}"
            f"<p>Number of obs: {fit.nobs}; groups: {groups}</p><h4>Fixed effects</h4>{fe}{msgs}</div>")
