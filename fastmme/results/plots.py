"""Diagnostic plots (optional extra `fastmme[plot]`, matplotlib).

caterpillar(fit): conditional modes with prediction intervals per grouping factor, levels sorted by
their mode — lme4's dotplot(ranef(fit, condVar = TRUE)).  qq(fit, what): normal QQ plots of the
scaled residuals or of the modes (lme4's qqmath).  residuals_vs_fitted(fit).
Tests: tests/test_plots.py (rendered headlessly to PNG).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..errors import FastmmeError
from ..lazy import scipy_stats

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _plt():
    try:
        import matplotlib
        if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
            import os
            if not os.environ.get("DISPLAY"):
                matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise FastmmeError("plots need matplotlib: pip install 'fastmme[plot]'") from exc
    return plt


LABEL_LIMIT = 60      # levels up to this many are labelled one by one; beyond, ...
NAMED = 9             # ... this many at evenly spaced ranks, the smallest and the largest among them


def caterpillar(fit, group=None, level: float = 0.95, max_levels: int | None = None) -> Figure:
    """Figure of the conditional modes ± z·√condVar, levels sorted by their mode (lme4's
    dotplot(ranef(fit, condVar = TRUE)); MixedModels.jl's caterpillar).

    group: a grouping factor's name, a list of names, or None: every grouping factor, one row of
    panels each (a column per random effect).  Every level is drawn: up to LABEL_LIMIT levels each has
    its label; beyond that the y axis is the rank of the mode, and NAMED levels at evenly spaced
    ranks (the smallest and the largest among them) are labelled.  max_levels: draw only the max_levels // 2 smallest and largest modes (of the first
    column); the title then says how many levels are left out."""
    plt = _plt()
    ranef = fit.ranef
    groups = list(ranef) if group is None else [group] if isinstance(group, str) else list(group)
    for g in groups:
        if g not in ranef:
            raise FastmmeError(f"no grouping factor {g!r}; the fit has {', '.join(ranef)}")
    if not groups:
        raise FastmmeError("no grouping factor given; the fit has " + ", ".join(ranef))
    if max_levels is not None and (int(max_levels) != max_levels or max_levels < 2):
        raise FastmmeError(f"max_levels must be a whole number of at least 2 (or None: every level); got {max_levels!r}")
    z = scipy_stats().norm.ppf(0.5 + level / 2)
    shown = {g: len(ranef[g]) if max_levels is None else min(len(ranef[g]), int(max_levels)) for g in groups}
    height = {g: max(2.6, min(0.2 * shown[g] + 1.4, 12.0)) for g in groups}
    width = 3.2 * max(ranef[g].shape[1] for g in groups) + 1.4
    fig = plt.figure(figsize=(width, sum(height.values()) + 0.5), layout="constrained")
    subs = [fig] if len(groups) == 1 else fig.subfigures(len(groups), 1, height_ratios=[height[g] for g in groups])
    rows = [_caterpillar_row(sub, ranef[g], g, z, shown[g]) for g, sub in zip(groups, subs)]
    head = f"{fit.formula}\nconditional modes with {100 * level:.0f}% prediction intervals"
    if len(groups) == 1:
        fig.suptitle(f"{head}; {rows[0]}", fontsize=9)
    else:
        for sub, text in zip(subs, rows):
            sub.suptitle(text, fontsize=9)
        fig.suptitle(head, fontsize=9)
    return fig


def _caterpillar_row(sub, df, group, z, n_shown):
    cv = df.attrs["cond_var"]
    n = len(df)
    axes = sub.subplots(1, df.shape[1], sharey=True, squeeze=False)[0]
    order = np.argsort(df.iloc[:, 0].to_numpy(), kind="stable")
    if n_shown < n:                           # the extremes, where the interest is
        order = np.concatenate([order[:n_shown // 2], order[n - (n_shown - n_shown // 2):]])
    ypos = np.arange(len(order))
    many = len(order) > LABEL_LIMIT
    for a, col in enumerate(df.columns):
        ax = axes[a]
        mode = df[col].to_numpy()[order]
        half_width = z * np.sqrt(np.maximum(cv[order, a, a], 0))
        ax.errorbar(mode, ypos, xerr=half_width, fmt="o", ms=1.5 if many else 3, color="C0", ecolor="0.6",
                    lw=0.5 if many else 1)
        ax.axvline(0, color="0.3", lw=0.8, ls="--")
        ax.set_title(str(col), fontsize=9)
        ax.set_xlabel("conditional mode")
    labels = [str(v) for v in df.index[order]]
    if many:                                  # by rank; evenly spaced ranks named (the extremes among them)
        ticks = np.unique(np.round(np.linspace(0, len(order) - 1, NAMED)).astype(int))
        axes[0].set_yticks(ticks)
        axes[0].set_yticklabels([labels[i] for i in ticks], fontsize=7)
        axes[0].set_ylabel(f"{group} (levels by rank; {len(ticks)} named)")
    else:
        axes[0].set_yticks(ypos)
        axes[0].set_yticklabels(labels, fontsize=7 if len(order) > 30 else 9)
        axes[0].set_ylabel(group)
    what = f"all {n:,} levels" if n_shown == n else \
        f"the {n_shown // 2:,} smallest and {n_shown - n_shown // 2:,} largest of {n:,} levels ({n - n_shown:,} not shown)"
    return f"{group}: {what}"


def qq(fit, what: str = "residuals") -> Figure:
    """Normal QQ plot of the scaled residuals (what="residuals") or of a grouping factor's conditional
    modes (what = its name; a panel per random effect), as lme4's qqmath(fit) / qqmath(ranef(fit))."""
    plt = _plt()
    stats = scipy_stats()
    if what == "residuals":
        samples, title = [("scaled residuals", np.asarray(fit.scaled_residuals))], "scaled residuals"
    elif what in fit.ranef:
        df = fit.ranef[what]
        samples, title = [(str(c), df[c].to_numpy()) for c in df.columns], f"conditional modes of {what}"
    else:
        raise FastmmeError(f"qq: what={what!r} is neither 'residuals' nor a grouping factor of the fit "
                           f"({', '.join(fit.ranef)})")
    fig, axes = plt.subplots(1, len(samples), figsize=(3.6 * len(samples) + 0.6, 3.8), squeeze=False,
                             layout="constrained")
    for ax, (name, x) in zip(axes[0], samples):
        x = np.sort(x[np.isfinite(x)])
        p = (np.arange(1, x.size + 1) - 0.5) / x.size
        q = stats.norm.ppf(p)
        ax.plot(q, x, "o", ms=2 if x.size > 500 else 3, color="C0", alpha=0.7)
        q1, q3 = np.quantile(x, [0.25, 0.75])          # R's qqline: through the quartiles
        zq = stats.norm.ppf([0.25, 0.75])
        slope = (q3 - q1) / (zq[1] - zq[0])
        ax.axline((zq[0], q1), slope=slope if np.isfinite(slope) else 0.0, color="C3", lw=1)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("standard normal quantiles")
    axes[0, 0].set_ylabel("sample quantiles")
    fig.suptitle(f"{fit.formula}\nnormal QQ plot: {title}", fontsize=9)
    return fig


def residuals_vs_fitted(fit) -> Figure:
    """Figure of the scaled residuals against the fitted values, with a running mean."""
    plt = _plt()
    fitted = np.array(fit.core.fitted)
    res = fit.scaled_residuals
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.scatter(fitted, res, s=8, alpha=0.6, color="C0", edgecolors="none")
    ax.axhline(0, color="0.3", lw=0.8, ls="--")
    o = np.argsort(fitted)
    k = max(5, len(o) // 10)
    if len(o) > k:
        smooth = np.convolve(res[o], np.ones(k) / k, mode="valid")
        ax.plot(fitted[o][k // 2:k // 2 + len(smooth)], smooth, color="C3", lw=1.5, label=f"running mean ({k})")
        ax.legend(loc="best", fontsize=8)
    ax.set_xlabel("fitted values")
    ax.set_ylabel("scaled residuals")
    ax.set_title(fit.formula, fontsize=9)
    fig.tight_layout()
    return fig
