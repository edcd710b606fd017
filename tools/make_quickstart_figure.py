"""Render the quick start's figure into docs/img/sleepstudy_fitted.png.

    .venv/bin/python tools/make_quickstart_figure.py

sleepstudy by subject: the reaction times, each subject's fitted line from fit.coef (fixed plus
random effects) and the population line from fit.fixef, for the quick start's model
Reaction ~ Days + (Days | Subject).
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import fastmme  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "docs" / "img" / "sleepstudy_fitted.png"

data = fastmme.datasets.load("sleepstudy")
fit = fastmme.lmm("Reaction ~ Days + (Days | Subject)", data)
coef = fit.coef["Subject"]
b0, b1 = fit.fixef["(Intercept)"], fit.fixef["Days"]

# subjects ordered by their fitted slope, as a lattice plot would order its panels
subjects = list(coef.sort_values("Days").index)
fig, axes = plt.subplots(3, 6, figsize=(10, 5.4), sharex=True, sharey=True)
days = np.array([0.0, 9.0])
for ax, s in zip(axes.flat, subjects):
    rows = data[data["Subject"].astype(str) == str(s)]
    ax.plot(rows["Days"], rows["Reaction"], "o", ms=3, color="0.35")
    ax.plot(days, coef.loc[s, "(Intercept)"] + coef.loc[s, "Days"] * days, color="C0", lw=1.6,
            label="subject (fixed + random)")
    ax.plot(days, b0 + b1 * days, color="C1", lw=1, ls="--", label="population (fixed)")
    ax.set_title(f"Subject {s}", fontsize=8, pad=2)
    ax.tick_params(labelsize=7)
for ax in axes[-1]:
    ax.set_xlabel("Days", fontsize=8)
for ax in axes[:, 0]:
    ax.set_ylabel("Reaction (ms)", fontsize=8)
axes.flat[0].legend(fontsize=6, loc="upper left", frameon=False)
fig.suptitle("sleepstudy: Reaction ~ Days + (Days | Subject), fitted by fastmme.lmm", fontsize=10)
fig.tight_layout(rect=(0, 0, 1, 0.96))
fig.savefig(OUT, dpi=80)
print("wrote", OUT)
