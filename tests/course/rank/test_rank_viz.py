"""adalora_lite.viz.rank: figures show what they claim (labels, kept/discarded split, readout)."""
import numpy as np
import plotly.graph_objects as go
import pytest

from adalora_lite.labs.rank import LowRankApprox, singular_values
from adalora_lite.viz.rank import (compression_figure, compression_readout,
                                   cumulative_energy_figure, eckart_young_figure, spectrum_figure,
                                   truncations_figure,
                                   update_compression_figure)


@pytest.fixture
def image():
    rng = np.random.default_rng(0)
    return np.clip(0.5 + 0.1 * rng.standard_normal((40, 60)).cumsum(axis=1) / 8, 0, 1)


def test_compression_figure_splits_the_spectrum_at_r(image):
    approx = LowRankApprox(image)
    fig = compression_figure(approx, 7, step=1)
    original, low, kept, dropped = fig.data
    assert list(kept.x) == list(range(1, 8)) and len(dropped.x) == approx.n - 7
    np.testing.assert_allclose(kept.y, approx.sigma[:7])
    np.testing.assert_array_equal(original.z, np.round(image * 255).astype(np.uint8))
    expected = np.clip(np.round(approx.approx(7) * 255), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(low.z, expected)
    assert "r = 7 of 40" in fig.layout.title.text
    assert fig.layout.yaxis3.title.text == "singular value sigma_i"
    assert fig.layout.annotations[1].text == "best rank-7 approximation"


def test_update_moves_every_part_of_the_figure(image):
    approx = LowRankApprox(image)
    fig = compression_figure(approx, 3, step=2)
    update_compression_figure(fig, approx, 12, step=2)
    assert len(fig.data[2].x) == 12 and len(fig.data[3].x) == approx.n - 12
    assert fig.data[1].z.shape == (20, 30)
    assert fig.layout.title.text == compression_readout(approx, 12)
    assert fig.layout.annotations[1].text == "best rank-12 approximation"


def test_readout_reports_error_and_parameter_count(image):
    approx = LowRankApprox(image)
    text = compression_readout(approx, 10)
    assert f"{approx.relative_error(10):.2%}" in text
    assert "(d + k) r = 1,000" in text and "d k = 2,400" in text and "(41.7%)" in text


def test_line_figures_are_labelled():
    s = singular_values(np.random.default_rng(0).standard_normal((20, 10)))
    fig = spectrum_figure({"a": s, "b": s / 2}, normalize=True, marks={"r=3": 3})
    assert [t.name for t in fig.data] == ["a", "b"] and fig.data[0].y[0] == 1.0
    assert fig.layout.title.text and fig.layout.xaxis.title.text and fig.layout.yaxis.title.text
    energy = cumulative_energy_figure({"a": s}, level=0.9)
    assert energy.data[0].y[-1] == pytest.approx(1.0)
    assert np.all(np.diff(energy.data[0].y) >= 0)
    ey = eckart_young_figure([1, 2], [3.0, 2.0], [3.0, 2.0], random=[4.0, 3.0])
    assert len(ey.data) == 3 and ey.layout.xaxis.title.text == "rank r"
    assert all(isinstance(f, go.Figure) for f in (fig, energy, ey))


def test_paired_traces_share_a_colour_and_the_control_is_dashed():
    s = np.array([3.0, 2.0, 1.0])
    fig = spectrum_figure({"trained": s, "random": s, "trained 2": s, "random 2": s}, paired=True)
    colours = [t.line.color for t in fig.data]
    assert colours[0] == colours[1] != colours[2] == colours[3]
    assert [t.line.dash for t in fig.data] == ["solid", "dash", "solid", "dash"]
    energy = cumulative_energy_figure({"a": s, "b": s}, paired=True)
    assert energy.data[0].line.color == energy.data[1].line.color


def test_truncations_figure_titles_each_rank_with_its_error():
    W = np.random.default_rng(0).uniform(size=(20, 30))
    U, sigma, Vt = np.linalg.svd(W, full_matrices=False)
    fig = truncations_figure(W, {r: (U[:, :r] * sigma[:r]) @ Vt[:r] for r in (1, 20)})
    titles = [a.text for a in fig.layout.annotations]
    assert titles[0] == "original" and titles[1].startswith("rank 1: relative error")
    assert titles[2] == "rank 20: relative error 0.0%" and len(fig.data) == 3
