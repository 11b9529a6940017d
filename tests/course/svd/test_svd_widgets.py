"""adalora_lite.widgets.svd: the gamma slider and the init toggle swap the recorded runs in."""
import time

import numpy as np
import pytest

from adalora_lite.labs import svd as svd_lab
from adalora_lite.labs.digits import mirrored_digits_task
from adalora_lite.widgets.svd import GammaPanel


@pytest.fixture(scope="module")
def sweep():
    return svd_lab.gamma_sweep(mirrored_digits_task(), gammas=(0.0, 0.01, 0.3),
                               inits=("orthogonal", "gaussian"),
        settings=svd_lab.SVDSettings(total_steps=25))


def test_slider_redraws_both_figures_and_readout(sweep):
    panel = GammaPanel(sweep)
    assert panel.slider.value == 0.0 and "γ = 0," in panel.readout.value
    panel.slider.value = 0.3  # observers fire synchronously, no kernel needed
    run = sweep[("orthogonal", 0.3)]
    np.testing.assert_allclose(panel.orth_fig.data[0].y, run.orth_P[:, 0], rtol=1e-3)
    np.testing.assert_allclose(panel.sv_fig.data[1].y, run.sv[-1], rtol=1e-3)
    assert "gamma=0.3" in panel.orth_fig.layout.title.text
    assert "γ = 0.3," in panel.readout.value and f"{run.test_accuracy:.3f}" in panel.readout.value


def test_init_toggle_and_show(sweep):
    panel = GammaPanel(sweep, gamma=0.01)
    panel.init_toggle.value = "gaussian"
    run = sweep[("gaussian", 0.01)]
    np.testing.assert_allclose(panel.orth_fig.data[3].y, run.orth_Q[:, 1], rtol=1e-3)
    panel.show(gamma=0.0, init="orthogonal")
    assert (panel.slider.value, panel.init_toggle.value) == (0.0, "orthogonal")
    np.testing.assert_allclose(panel.orth_fig.data[0].y, sweep[("orthogonal", 0.0)].orth_P[:, 0],
                               rtol=1e-3)
    assert repr(panel) == "GammaPanel(6 recorded runs; γ=0, init=orthogonal)"


def test_figures_are_prebuilt_and_callback_is_fast(sweep):
    assert GammaPanel(sweep, prebuild=False)._built == {}
    panel = GammaPanel(sweep)
    assert set(panel._built) == set(sweep)  # every run's figures exist before any slider move
    times = []
    for g in (0.0, 0.01, 0.3) * 3:
        start = time.perf_counter()
        panel.slider.value = g
        times.append(time.perf_counter() - start)
    assert np.median(times) < 0.25  # generous: a busy 2-core machine; typically ~10 ms
