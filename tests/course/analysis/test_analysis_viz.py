"""Figures of notebook 08: init comparison and update-analysis figures."""
import numpy as np

from adalora_lite.viz.analysis import (init_accuracy_figure, init_loss_figure, init_table,
                                       quantity_heatmap, update_readout, update_spectrum_figure)
from test_analysis_lab import bert_like_adapters, fake_runs
from adalora_lite.labs.learned_update import snapshot, update_report


def trained_report(seed=0):
    rng = np.random.default_rng(seed)
    adapters = bert_like_adapters(rng)
    before = snapshot(adapters)
    for a in adapters.values():
        a.B = rng.standard_normal(a.B.shape)
    return update_report(adapters, before)


def test_init_figures_and_table():
    runs = fake_runs()
    fig = init_loss_figure(runs, window=1)
    means = [t for t in fig.data if t.name.endswith("mean")]
    assert len(means) == 3 and len(fig.data) == 6
    np.testing.assert_allclose(means[0].y[0], 0.71, atol=1e-4)  # mean over seeds 0.70, 0.71, 0.72
    band = fig.data[0]
    assert band.fill == "toself" and len(band.x) == 40
    assert fig.layout.xaxis.title.text and fig.layout.yaxis.title.text
    acc = init_accuracy_figure(runs)
    assert len(acc.data) == 6 and acc.data[1].y[0] == 81.0
    table = init_table(runs, first=5, last=5)
    assert table.count("\n") == 3 and "81.0 +- 1.0 (80.0-82.0)" in table


def test_quantity_heatmap_and_spectrum():
    report = trained_report()
    fig = quantity_heatmap(report, "w0_subspace_energy")
    assert np.asarray(fig.data[0].z).shape == (6, 2)
    assert list(fig.data[0].y) == ["W_q", "W_k", "W_v", "W_o", "W_f1", "W_f2"]
    name = "encoder.layer.1.intermediate.dense"
    spec = update_spectrum_figure(report[name], name)
    assert len(spec.data[0].y) == 4 and spec.data[0].y[0] == 1.0 and spec.data[0].y[3] == 0.0
    assert "given rank r = 2" in spec.layout.title.text
    assert "effective rank" in update_readout(report[name], name)
