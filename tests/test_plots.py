"""Plots render headlessly to PNG."""
import pytest

import fastmme

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")


@pytest.fixture(scope="module")
def fit():
    return fastmme.lmm("Reaction ~ Days + (Days | Subject)", fastmme.datasets.load("sleepstudy"))


def _png_size(path):
    from PIL import Image
    with Image.open(path) as im:
        return im.size


def test_caterpillar_png(fit, tmp_path):
    from fastmme.plots import caterpillar
    fig = caterpillar(fit)
    assert len(fig.axes) == 2 and [a.get_title() for a in fig.axes] == ["(Intercept)", "Days"]
    assert len(fig.axes[0].get_yticklabels()) == 18
    path = tmp_path / "cat.png"
    fig.savefig(path, dpi=60)
    w, h = _png_size(path)
    assert w > 200 and h > 150


def test_caterpillar_crossed_and_bad_group(tmp_path):
    from fastmme.plots import caterpillar
    fit = fastmme.lmm("diameter ~ 1 + (1 | plate) + (1 | sample)", fastmme.datasets.load("Penicillin"))
    caterpillar(fit, "sample").savefig(tmp_path / "s.png", dpi=50)
    with pytest.raises(fastmme.FastmmeError, match="no grouping factor"):
        caterpillar(fit, "nope")


def test_residuals_plot_png(fit, tmp_path):
    from fastmme.plots import residuals_vs_fitted
    path = tmp_path / "res.png"
    residuals_vs_fitted(fit).savefig(path, dpi=60)
    assert _png_size(path)[0] > 200
