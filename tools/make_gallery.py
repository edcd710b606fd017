"""Render the example gallery's figures into docs/img (make gallery).

    .venv/bin/python tools/make_gallery.py
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import fastmme  # noqa: E402
from fastmme.plots import caterpillar, qq, residuals_vs_fitted  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "docs" / "img"
OUT.mkdir(parents=True, exist_ok=True)

sleep = fastmme.lmm("Reaction ~ Days + (Days | Subject)", fastmme.datasets.load("sleepstudy"))
caterpillar(sleep).savefig(OUT / "sleepstudy_caterpillar.png", dpi=80)
residuals_vs_fitted(sleep).savefig(OUT / "sleepstudy_residuals.png", dpi=80)
qq(sleep).savefig(OUT / "sleepstudy_qq.png", dpi=80)
pen = fastmme.lmm("diameter ~ 1 + (1 | plate) + (1 | sample)", fastmme.datasets.load("Penicillin"))
caterpillar(pen).savefig(OUT / "penicillin_both.png", dpi=80)
inst = fastmme.lmm("y ~ service + (1 | s) + (1 | d) + (1 | dept)", fastmme.datasets.load("InstEval"))
caterpillar(inst, "d").savefig(OUT / "insteval_d.png", dpi=80)
cbpp = fastmme.glmm("cbind(incidence, size - incidence) ~ period + (1 | herd)", fastmme.datasets.load("cbpp"))
caterpillar(cbpp).savefig(OUT / "cbpp_herd.png", dpi=80)
print("wrote", sorted(p.name for p in OUT.glob("*.png")))
