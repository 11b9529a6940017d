"""adalora_lite.widgets.importance: the beta sliders replay the EMAs and redraw at once."""
import time

import numpy as np
import pytest

from adalora_lite.labs import importance as lab
from adalora_lite.labs.digits import mirrored_digits_task
from adalora_lite.viz.importance import STEP_EVERY
from adalora_lite.widgets.importance import ImportancePanel


@pytest.fixture(scope="module")
def run():
    return lab.record_scores(mirrored_digits_task(), steps=40)


def test_beta1_slider_redraws_smoothed_traces_stability_and_readout(run):
    panel = ImportancePanel(run)
    before_raw = np.array(panel.traces_fig.data[16].y)
    panel.beta1.value = 0.5  # observers fire synchronously, no kernel needed
    expected = lab.smoothed_scores(run, 0.5, 0.85)
    np.testing.assert_allclose(panel.traces_fig.data[32 + 3].y, expected[::STEP_EVERY, 3], rtol=1e-3)
    np.testing.assert_allclose(panel.stability_fig.data[2].y, lab.ranking_stability(expected),
                               rtol=1e-3)
    np.testing.assert_array_equal(panel.traces_fig.data[16].y, before_raw)  # beta-free score
    assert "β₁ = 0.5," in panel.traces_fig.layout.title.text
    assert "β₁ = 0.50, β₂ = 0.85" in panel.readout.value


def test_show_sets_both_and_truth_enters_the_readout(run):
    truth = np.arange(16.0)
    panel = ImportancePanel(run, truth, budget=4)
    panel.show(beta1=0.95, beta2=0.6)
    assert (panel.beta1.value, panel.beta2.value) == (0.95, 0.6)
    expected = lab.smoothed_scores(run, 0.95, 0.6)
    np.testing.assert_allclose(panel.traces_fig.data[47].y, expected[::STEP_EVERY, 15], rtol=1e-3)
    assert "top 4" in panel.readout.value and "masking loss" in panel.readout.value
    assert repr(panel) == "ImportancePanel(16 triplets x 40 steps; β₁=0.95, β₂=0.60)"


def test_callback_time(run):
    panel = ImportancePanel(run)
    times = []
    for b in (0.6, 0.7, 0.8, 0.9, 0.95):
        start = time.perf_counter()
        panel.beta2.value = b
        times.append(time.perf_counter() - start)
    assert np.median(times) < 0.25  # generous: a busy 2-core machine; typically ~25 ms
