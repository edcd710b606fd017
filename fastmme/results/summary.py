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

from .rformat import SIGNIF_LEGEND, abbreviate, coef_cells, coef_matrix, format_real, print_matrix, print_named

DIGITS = 4          # lme4's summary: max(3, getOption("digits") - 3)
COR_MAX = 12        # lme4.summary.cor.max: the correlation of the fixed effects up to this many


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
    data_name: str | None = None    # lme4's "Data:" line
    ddf: str | None = "Satterthwaite"   # a formula fit's t-tests: "Satterthwaite" or "Kenward-Roger" (lmerTest), None: lme4's


def view_of_fit(fit, ddf: str = "Satterthwaite") -> View:
    """A MixedFit's summary: Satterthwaite's df (lmerTest), the scaled residuals' quantiles; ddf="lme4":
    t values only (lmerTest's summary(fit, ddf = "lme4")), which skips the df's derivatives."""
    if fit.partitioned:        # the residuals live on the cluster: quantiles would be another pass
        res = ("", f"Rows: {fit.nobs} assembled from {fit.design.frame.npartitions} partitions "
               "(scaled residuals: fit.scaled_residuals, a Dask series)")
    else:
        res = residual_lines(fit.scaled_residuals)
    if ddf not in ("Satterthwaite", "Kenward-Roger", "lme4"):
        from ..errors import FastmmeError
        raise FastmmeError(f"ddf must be 'Satterthwaite', 'Kenward-Roger' or 'lme4' (t values without df, as "
                           f"lmerTest's ddf = \"lme4\"); got {ddf!r}")
    table = {"Satterthwaite": lambda: fit.coef_table, "Kenward-Roger": fit.coef_table_kr,
             "lme4": lambda: t_table(fit.core)}[ddf]()
    return View(core=fit.core, coef_table=table, ngroups=fit.ngroups, formula=fit.formula,
                weights=fit.design.weights is not None, residual_lines=res, n_dropped=fit.n_dropped,
                partitioned=fit.partitioned, ddf=None if ddf == "lme4" else ddf, data_name=fit.data_name)


def t_table(res) -> pd.DataFrame:
    """Estimate, Std. Error, t value: lme4's table."""
    beta, se = np.array(res.beta), np.array(res.beta_se)
    return pd.DataFrame({"Estimate": beta, "Std. Error": se, "t value": beta / se}, index=list(res.x_names))


def view_of_glmm(fit) -> View:
    """A GlmmFit's summary: z-tests, the Pearson residuals' quantiles, no residual variance."""
    res = residual_lines(np.array(fit.pearson_residuals))
    return View(core=fit, coef_table=fit.coef_table, ngroups=fit.ngroups, formula=fit.formula,
                weights=False, residual_lines=res, n_dropped=fit.n_dropped,
                family=f"{fit.family}  ( {fit.link} )", nAGQ=fit.nAGQ, data_name=fit.data_name)


def residual_lines(x) -> tuple:
    """lme4's .prt.resids: the quantiles, zapsmall(·, digits + 1), printed with DIGITS."""
    q = np.quantile(np.asarray(x, dtype=float), [0, 0.25, 0.5, 0.75, 1])
    mx = float(np.max(np.abs(q)))
    # R 4.2's zapsmall: round(x, max(0, digits − log10(mx))), and round() takes the nearest whole digits
    q = np.round(q, int(np.floor(max(0.0, DIGITS + 1 - np.log10(mx)) + 0.5)) if mx > 0 else DIGITS + 1)
    return ("", "Scaled residuals:", *print_named(["Min", "1Q", "Median", "3Q", "Max"], format_real(q, DIGITS)))


def _view(fit) -> View:
    if hasattr(fit, "family") and hasattr(fit, "nAGQ"):
        return view_of_glmm(fit)
    return view_of_fit(fit) if hasattr(fit, "core") else view_of_result(fit)


def view_of_result(res) -> View:
    """A FitResult's summary: t values (no df without the formula fit's Satterthwaite computation)."""
    return View(core=res, coef_table=t_table(res), ngroups={nm: len(lv) for nm, lv in zip(res.term_names, res.levels)})


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
                f" Family: {v.family}", f"Formula: {v.formula}", *_data_line(v), "",
                *_aic_table(core.aic, core.bic, core.loglik, core.minus2loglik, core.df_resid)]
        # (glmer's summary prints devCrit, −2 log L, under "deviance"; fit.deviance is deviance())
    fit_by = f"Linear mixed model fit by {'REML' if core.reml else 'maximum likelihood'} (fastmme)"
    if v.formula is not None and v.ddf:
        fit_by += f"; t-tests use {v.ddf}'s method"
    lines = [fit_by] if v.formula is None else [fit_by, f"Formula: {v.formula}", *_data_line(v)]
    if v.weights:
        lines.append("Weights: prior weights")
    lines.append("")
    if core.reml:     # lme4: format(round(criterion, 1)); the full value is fit.deviance
        lines.append(f"REML criterion at convergence: {format_real([round(core.deviance, 1)], 7)[0]}")
    else:
        df_resid = core.nobs - (len(core.beta) + core.n_theta + 1)
        lines += _aic_table(core.aic, core.bic, core.loglik, core.deviance, df_resid)
    return lines


def _data_line(v: View) -> list:
    return [f"   Data: {v.data_name}"] if v.data_name else []


def _aic_table(aic, bic, loglik, deviance, df_resid) -> list:
    """lme4's .prt.aictab: AIC, BIC, logLik and deviance rounded to 1 decimal and formatted together,
    df.resid on its own."""
    cells = format_real([round(x, 1) for x in (aic, bic, loglik, deviance)], 7) + [str(int(df_resid))]
    return print_named(["AIC", "BIC", "logLik", "deviance", "df.resid"], [c.strip() for c in cells])


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


def random_effects_lines(v: View) -> list:
    """lme4's formatVC printed: every column left-justified."""
    return print_matrix(*random_effects_cells(v)[::-1], right=False)


def random_effects_cells(v: View) -> tuple:
    """lme4's formatVC: (header, cells); Variance and Std.Dev. each formatted as one vector with
    DIGITS, the correlations rounded to 2 decimals per term."""
    re = random_effects_table(v)
    var = format_real(re["Variance"].to_numpy(), DIGITS)
    sd = format_real(re["Std.Dev."].to_numpy(), DIGITS)
    ncor = max([len(zn) for zn in v.core.z_names] + [1]) - 1
    cor = []
    for zn, S in zip(v.core.z_names, v.core.covariances):
        r = len(zn)
        d = np.sqrt(np.diag(S))
        with np.errstate(invalid="ignore", divide="ignore"):
            C = np.asarray(S) / np.outer(d, d)
        cc = format_real(np.round(C, 2).ravel(), 7) if r > 1 else []       # format(round(x, 2), nsmall = 2)
        cc = [f"{float(c):.2f}".rjust(max(len(t.strip()) for t in cc)) if c.strip() not in ("NaN", "NA") else "NaN"
              for c in cc]
        for a in range(r):
            cor.append([cc[a * r + b] if b < a else "" for b in range(ncor)])
    cor += [[""] * ncor for _ in range(len(re) - len(cor))]
    cells = [[g, nm, va, s_] + c for g, nm, va, s_, c in zip(re["Groups"], re["Name"], var, sd, cor)]
    header = ["Groups", "Name", "Variance", "Std.Dev."] + (["Corr"] + [""] * (ncor - 1) if ncor else [])
    return header, cells


def correlation_lines(core, where: str = "fit.vcov") -> list:
    """lme4's "Correlation of Fixed Effects" (rows abbreviated to 11 characters, columns to 6, values
    to 3 decimals), or its note when p > COR_MAX."""
    p = len(core.beta)
    if p <= 1:
        return []
    if p > COR_MAX:
        return ["", f"Correlation matrix not shown by default, as p = {p} > {COR_MAX}.",
                f"Use {where} if you need it"]
    se = np.array(core.beta_se)
    C = np.array(core.beta_cov) / np.outer(se, se)
    f = format_real(np.round(C, 3).ravel(), 7)
    w = max(len(t) for t in f)
    cells = [[f"{C[i, j]:.3f}".rjust(w) if j < i else "" for j in range(p - 1)] for i in range(1, p)]
    names = list(core.x_names)
    return ["", "Correlation of Fixed Effects:",
            *print_matrix(cells, [abbreviate(n, 6) for n in names[:-1]], [abbreviate(n, 11) for n in names[1:]],
                          right=False)]


def _vcov_hint(fit) -> str:
    """Where the covariance of β̂ is, for lme4's note above p = 12: a formula or GLMM fit's vcov, a FitResult's beta_cov."""
    return "fit.vcov" if hasattr(fit, "vcov") else "fit.beta_cov"


def summary_text(fit, ddf: str = "Satterthwaite") -> str:
    """The summary of a MixedFit, or of a FitResult (anything else with a `core` is taken as a MixedFit):
    lme4's and lmerTest's layout and number formats (R's format and printCoefmat, fastmme.results.rformat).
    ddf (a formula fit): "Satterthwaite" (lmerTest), "Kenward-Roger" (lmerTest with pbkrtest) or "lme4"
    (t values only)."""
    v = view_of_fit(fit, ddf) if ddf != "Satterthwaite" and hasattr(fit, "core") and not hasattr(fit, "nAGQ") \
        else _view(fit)
    core = v.core
    lines = _header(v) + list(v.residual_lines) + ["", "Random effects:"] + random_effects_lines(v)
    groups = "; ".join(f"{g}, {n}" for g, n in v.ngroups.items())
    lines.append(f"Number of obs: {core.nobs}, groups:  {groups}")
    lines += ["", "Fixed effects:"] + coef_matrix(v.coef_table, DIGITS) + correlation_lines(core, _vcov_hint(fit))
    msgs = _messages(v)
    if msgs:
        lines.append("")
        lines += msgs
    return "\n".join(lines)


def summary_html(fit) -> str:
    """The notebook view: the text summary's sections and strings (summary_text), the tables as HTML."""
    v = _view(fit)
    esc = html.escape

    def pre(lines) -> str:
        return f"<pre>{esc(chr(10).join(lines))}</pre>" if lines else ""

    head = "<br>".join(esc(s) for s in _header(v))
    title = [ln for ln in v.residual_lines if ln.endswith(":") and not ln.startswith(" ")][:1]
    res = "".join(f"<h4>{esc(t.rstrip(':'))}</h4>" for t in title) + pre([ln for ln in v.residual_lines[1:]
                                                                         if ln and ln not in title])
    re_header, re_cells = random_effects_cells(v)
    re = pd.DataFrame([[c.strip() for c in row] for row in re_cells], columns=re_header).to_html(index=False)
    header, cells, signif = coef_cells(v.coef_table, DIGITS)
    fe = pd.DataFrame([[c.strip() for c in row] for row in cells], columns=header, index=list(v.coef_table.index))
    if signif is not None:
        fe[""] = signif
    fe = fe.to_html()
    if signif is not None:
        fe += f"<p><small>{esc(SIGNIF_LEGEND)}</small></p>"
    groups = "; ".join(f"{g}, {n}" for g, n in v.ngroups.items())
    cor = correlation_lines(v.core, _vcov_hint(fit))
    if len(cor) > 1 and cor[1] == "Correlation of Fixed Effects:":
        cor_html = "<h4>Correlation of Fixed Effects</h4>" + pre(cor[2:])
    else:
        cor_html = "".join(f"<p>{esc(ln)}</p>" for ln in cor if ln)
    msgs = "".join(f"<p><em>{esc(m)}</em></p>" for m in _messages(v))
    return (f"<div class='fastmme-summary'><p>{head}</p>{res}<h4>Random effects</h4>{re}"
            f"<p>Number of obs: {v.core.nobs}, groups:  {esc(groups)}</p><h4>Fixed effects</h4>{fe}{cor_html}"
            f"{msgs}</div>")
