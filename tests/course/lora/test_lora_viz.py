"""adalora_lite.viz.lora: each figure shows the data it was given, labelled."""
import numpy as np
import plotly.graph_objects as go
import pytest

from adalora_lite.labs.lora import RankAblation
from adalora_lite.viz import lora as V

RANKS = (1, 2, 4, 8)
GAINS = {"alpha/r": np.array([0.012, 0.011, 0.013, 0.012]), "alpha": np.array([0.012, 0.024, 0.05, 0.1])}


def test_loss_curves_figure():
    fig = V.loss_curves_figure({"NumPy": [3.0, 2.0, 1.0], "torch": [3.0, 2.0, 1.0]}, title="t")
    assert [t.name for t in fig.data] == ["NumPy", "torch"]
    assert list(fig.data[0].x) == [1, 2, 3] and fig.data[1].line.dash == "dash"
    assert fig.layout.title.text == "t" and fig.layout.xaxis.title.text and fig.layout.yaxis.title.text


def test_scale_figure_shows_both_scalings_and_the_chosen_rank():
    fig = V.scale_figure(8, 4, RANKS, GAINS, lr=1e-3)
    np.testing.assert_allclose(fig.data[0].y, [8, 4, 2, 1])  # alpha / r
    np.testing.assert_allclose(fig.data[1].y, [8, 8, 8, 8])  # alpha, not divided
    np.testing.assert_allclose(fig.data[2].y, GAINS["alpha/r"])
    np.testing.assert_allclose(fig.data[3].y, GAINS["alpha"])
    assert list(fig.data[4].x) == [4, 4] and list(fig.data[4].y) == [2, 8]
    assert list(fig.data[5].y) == [0.013, 0.05]
    assert "alpha/r = 2" in fig.layout.title.text
    assert "0.001" in fig.layout.yaxis2.title.text and fig.layout.xaxis.title.text == "rank r"


def test_update_scale_figure_moves_marker_and_title():
    fig = go.FigureWidget(V.scale_figure(8, 4, RANKS, GAINS))
    gains = {k: 2 * v for k, v in GAINS.items()}
    V.update_scale_figure(fig, 16, 8, RANKS, gains)
    np.testing.assert_allclose(fig.data[0].y, [16, 8, 4, 2])
    np.testing.assert_allclose(fig.data[3].y, 2 * GAINS["alpha"])
    assert list(fig.data[4].y) == [2, 16] and list(fig.data[5].y) == [0.024, 0.2]
    assert fig.layout.title.text == "alpha = 16, r = 8: alpha/r = 2"


def test_scale_figure_without_a_rank_has_no_marker():
    fig = V.scale_figure(8, None, RANKS, GAINS)
    assert list(fig.data[4].x) == [] and not fig.data[4].showlegend
    assert V.scale_readout(8, None, GAINS, RANKS).startswith("alpha = 8: with alpha/r")


def test_scale_readout():
    text = V.scale_readout(8, 2, GAINS, RANKS)
    assert "alpha/r = 4" in text and "0.0110" in text and "0.0240" in text


def test_rank_ablation_figure():
    ab = RankAblation((1, 2), np.array([[0.8, 0.9], [0.9, 0.95]]), (100, 200), 0.5, 0.97, 9000)
    fig = V.rank_ablation_figure(ab)
    np.testing.assert_allclose(fig.data[1].y, [85, 92.5])
    assert list(fig.data[0].x) == [1, 1, 2, 2]
    assert fig.data[1].text == ("100 trainable parameters", "200 trainable parameters")
    lines = sorted(s.y0 for s in fig.layout.shapes)
    assert lines == pytest.approx([50, 97])
    assert fig.layout.yaxis.title.text == "test accuracy (%)"


def test_breakdown_figure_has_one_line_per_scaling_and_a_band_holding_every_seed():
    from adalora_lite.labs.lora_scale import BreakdownSearch

    trained = np.array([[[-4.0, -3.5], [-4.0, -4.0]], [[-4.0, -4.0], [-6.0, -5.5]]])
    s = BreakdownSearch(("alpha/r", "alpha"), (1, 16), (0, 1), trained, trained + 0.25, 0.25, 1.0, 16)
    fig = V.breakdown_figure(s)
    lines = [t for t in fig.data if t.showlegend is not False]
    assert [t.name for t in lines] == [V.SCALING_LABELS["alpha/r"], V.SCALING_LABELS["alpha"]]
    upper, lower, line = fig.data[3:6]  # the second scaling: band top, band bottom, mean line
    np.testing.assert_allclose(line.y, 2.0 ** np.array([-3.875, -5.625]))
    np.testing.assert_allclose(lower.y, 2.0 ** np.array([-4.0, -6.0]))
    np.testing.assert_allclose(upper.y, 2.0 ** np.array([-3.75, -5.25]))
    assert lower.fill == "tonexty" and upper.showlegend is False and lower.showlegend is False
    assert fig.layout.xaxis.type == fig.layout.yaxis.type == "log"
    assert "rank" in fig.layout.xaxis.title.text and "learning rate" in fig.layout.yaxis.title.text
