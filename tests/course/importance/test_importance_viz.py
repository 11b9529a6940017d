"""adalora_lite.viz.importance: labelled figures that draw the run's own numbers."""
import numpy as np
import pytest
from scipy.stats import spearmanr

from adalora_lite.labs import importance as lab
from adalora_lite.labs.digits import mirrored_digits_task
from adalora_lite.viz import importance as viz


@pytest.fixture(scope="module")
def run():
    return lab.record_scores(mirrored_digits_task(), steps=30)


def test_score_traces_figure(run):
    scores = lab.all_scores(run)
    fig = viz.score_traces_figure(run, scores)
    assert len(fig.data) == 3 * 16
    assert [a.text for a in fig.layout.annotations] == list(lab.SCORE_NAMES)
    assert "β₁ = 0.85" in fig.layout.title.text
    trace = fig.data[16 + 5]  # sensitivity panel, triplet 5
    assert trace.name == "layers.0 #5"
    np.testing.assert_array_equal(trace.x, run.steps[::viz.STEP_EVERY])
    np.testing.assert_allclose(trace.y, scores["sensitivity I"][::viz.STEP_EVERY, 5], rtol=1e-3)
    assert fig.layout.xaxis.title.text and fig.layout.yaxis.title.text
    assert len(set(viz.triplet_colors(run))) == 16


def test_stability_figure(run):
    scores = lab.all_scores(run)
    fig = viz.stability_figure(run, scores)
    assert [t.name for t in fig.data] == list(lab.SCORE_NAMES)
    np.testing.assert_allclose(fig.data[1].y, lab.ranking_stability(scores["sensitivity I"]),
                               rtol=1e-3)
    assert fig.layout.xaxis.title.text and fig.layout.yaxis.title.text
    assert fig.layout.yaxis.range[0] <= np.nanmin(fig.data[1].y)


def test_stability_heatmap():
    table = np.array([[0.9, 0.95], [0.97, 0.99]])
    fig = viz.stability_heatmap(table, (0.5, 0.9), (0.6, 0.8))
    assert list(fig.data[0].y) == ["0.5", "0.9"] and list(fig.data[0].x) == ["0.6", "0.8"]
    assert fig.data[0].text[1][1] == "0.990"
    assert fig.layout.xaxis.title.text and fig.layout.yaxis.title.text and fig.layout.title.text


def test_score_terms_figure(run):
    terms = lab.score_terms(run.tracker)
    fig = viz.score_terms_figure(terms)
    S, *shares = fig.data
    np.testing.assert_allclose(S.y[8:], terms["layers.1"]["S"], rtol=1e-3)
    total = np.sum([s.y for s in shares], axis=0)
    np.testing.assert_allclose(total, 1.0, rtol=1e-3)  # the three shares fill S_i
    assert fig.layout.barmode == "stack"


def test_predictiveness_figure(run):
    truth = np.linspace(0, 1, 16)
    finals = {name: s[-1] for name, s in lab.all_scores(run).items()}
    fig = viz.predictiveness_figure(truth, finals)
    rho = spearmanr(finals["|λ|"], truth).statistic
    assert fig.layout.annotations[0].text == f"|λ|: ρ = {rho:.3f}"
    np.testing.assert_allclose(fig.data[2].y, truth, rtol=1e-3, atol=1e-12)
