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


@pytest.fixture(scope="module")
def insteval_like():
    """Many levels: 400 groups of a crossed design (fast), with a second small factor."""
    import numpy as np
    import pandas as pd
    rng = np.random.default_rng(3)
    n = 4000
    g, h = rng.integers(0, 400, n), rng.integers(0, 12, n)
    y = rng.normal(size=400)[g] + 0.5 * rng.normal(size=12)[h] + rng.normal(size=n)
    return fastmme.lmm("y ~ 1 + (1 | g) + (1 | h)", pd.DataFrame({"y": y, "g": g.astype(str), "h": h.astype(str)}))


def test_caterpillar_draws_every_level_and_says_so(insteval_like, tmp_path):
    from fastmme.plots import caterpillar
    fig = caterpillar(insteval_like, "g")
    ax = fig.axes[0]
    (points,) = [ln for ln in ax.get_lines() if ln.get_marker() == "o"]
    assert len(points.get_xdata()) == 400                      # no level left out
    assert "all 400 levels" in fig._suptitle.get_text()
    assert len(ax.get_yticklabels()) == 9                      # 9 evenly spaced ranks named, not 400 labels
    modes = insteval_like.ranef["g"].iloc[:, 0]
    assert ax.get_yticklabels()[-1].get_text() == str(modes.idxmax())
    assert ax.get_yticklabels()[0].get_text() == str(modes.idxmin())
    fig.savefig(tmp_path / "g.png", dpi=40)


def test_caterpillar_with_max_levels_says_what_it_leaves_out(insteval_like):
    from fastmme.plots import caterpillar
    fig = caterpillar(insteval_like, "g", max_levels=50)
    (points,) = [ln for ln in fig.axes[0].get_lines() if ln.get_marker() == "o"]
    assert len(points.get_xdata()) == 50
    assert "25 smallest and 25 largest of 400 levels (350 not shown)" in fig._suptitle.get_text()
    with pytest.raises(fastmme.FastmmeError, match="max_levels"):
        caterpillar(insteval_like, "g", max_levels=1)


def test_caterpillar_of_every_grouping_factor(insteval_like, tmp_path):
    from fastmme.plots import caterpillar
    fig = caterpillar(insteval_like)
    assert len(fig.axes) == 2 and len(fig.subfigs) == 2
    assert [sf._suptitle.get_text() for sf in fig.subfigs] == ["g: all 400 levels", "h: all 12 levels"]
    assert len(fig.axes[1].get_yticklabels()) == 12            # few levels: each labelled
    fig.savefig(tmp_path / "both.png", dpi=40)


def test_qq_plots_of_residuals_and_modes(fit, tmp_path):
    import numpy as np
    from fastmme.plots import qq
    fig = qq(fit)
    (pts,) = [ln for ln in fig.axes[0].get_lines() if ln.get_marker() == "o"]
    res = np.sort(np.asarray(fit.scaled_residuals))
    np.testing.assert_allclose(pts.get_ydata(), res)
    assert pts.get_xdata()[0] < -2.5 and pts.get_xdata()[-1] > 2.5      # 180 normal quantiles
    fig2 = qq(fit, "Subject")
    assert [a.get_title() for a in fig2.axes] == ["(Intercept)", "Days"]
    fig2.savefig(tmp_path / "qq.png", dpi=40)
    with pytest.raises(fastmme.FastmmeError, match="neither"):
        qq(fit, "nope")
