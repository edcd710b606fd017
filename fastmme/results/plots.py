"""Diagnostic plots (optional extra `fastmme[plot]`, matplotlib).

caterpillar(fit): conditional modes with prediction intervals per grouping factor, levels sorted by
their mode — lme4's dotplot(ranef(fit, condVar = TRUE)).  residuals_vs_fitted(fit).
Tests: tests/test_plots.py (rendered headlessly to PNG).
"""
from __future__ import annotations

import numpy as np

from ..errors import FastmmeError
from ..lazy import scipy_stats


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


def caterpillar(fit, group: str | None = None, level: float = 0.95, max_levels: int = 200):
    """Figure of the conditional modes ± z·√condVar of one grouping factor (default: the first)."""
    plt = _plt()
    ranef = fit.ranef
    group = group or next(iter(ranef))
    if group not in ranef:
        raise FastmmeError(f"no grouping factor {group!r}; the fit has {', '.join(ranef)}")
    df = ranef[group]
    cv = df.attrs["cond_var"]
    z = scipy_stats().norm.ppf(0.5 + level / 2)
    r = df.shape[1]
    fig, axes = plt.subplots(1, r, figsize=(3.2 * r + 1, max(3.0, min(0.22 * min(len(df), max_levels) + 1.2, 16))),
                             sharey=True, squeeze=False)
    order = np.argsort(df.iloc[:, 0].to_numpy())
    if len(order) > max_levels:        # keep the extremes, where the interest is
        half = max_levels // 2
        order = np.concatenate([order[:half], order[-half:]])
    ypos = np.arange(len(order))
    for a, col in enumerate(df.columns):
        ax = axes[0, a]
        mode = df[col].to_numpy()[order]
        half_width = z * np.sqrt(np.maximum(cv[order, a, a], 0))
        ax.errorbar(mode, ypos, xerr=half_width, fmt="o", ms=3, color="C0", ecolor="0.5", lw=1)
        ax.axvline(0, color="0.3", lw=0.8, ls="--")
        ax.set_title(str(col))
        ax.set_xlabel("conditional mode")
    axes[0, 0].set_yticks(ypos)
    axes[0, 0].set_yticklabels([str(v) for v in df.index[order]], fontsize=7 if len(order) > 30 else 9)
    axes[0, 0].set_ylabel(group)
    fig.suptitle(f"{fit.formula}\n{group}: conditional modes with {100 * level:.0f}% prediction intervals", fontsize=9)
    fig.tight_layout()
    return fig


def residuals_vs_fitted(fit):
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
