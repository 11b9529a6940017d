"""adalora_lite.widgets.lora: the sliders redraw the figure (observers fire synchronously)."""
import numpy as np
import pytest

from adalora_lite import ConfigError
from adalora_lite.widgets import lora as W


@pytest.fixture
def fake_gains(monkeypatch):
    """Replace the measurement by a formula: the wiring is what is tested here."""
    calls = []

    def gain(task, *, ranks, alpha, scaling, lr, seeds):
        calls.append((alpha, scaling))
        ranks = np.asarray(ranks, dtype=float)
        return alpha * lr * (np.ones_like(ranks) if scaling == "alpha/r" else ranks)

    monkeypatch.setattr(W, "first_step_gain", gain)
    return calls


def test_there_is_no_rank_slider_and_no_marker(fake_gains):
    panel = W.ScalePanel(task=None, alpha=8, ranks=(1, 2, 4, 8), lr=1e-3)
    assert not hasattr(panel, "rank_slider") and len(fake_gains) == 2
    assert list(panel.figure.data[4].x) == [] and list(panel.figure.data[5].x) == []
    assert panel.figure.layout.title.text.startswith("alpha = 8:")
    assert "0.0080 to 0.0080" in panel.readout.value and "0.0640 at r = 8" in panel.readout.value


def test_alpha_slider_measures_once_per_alpha(fake_gains):
    panel = W.ScalePanel(task=None, alpha=8, ranks=(1, 2, 4, 8))
    panel.alpha_slider.value = 32
    np.testing.assert_allclose(panel.figure.data[0].y, [32, 16, 8, 4])
    np.testing.assert_allclose(panel.figure.data[2].y, [0.032] * 4)
    panel.alpha_slider.value = 8
    panel.alpha_slider.value = 32
    assert [a for a, _ in fake_gains] == [8, 8, 32, 32]
    assert repr(panel) == "ScalePanel(alpha=32, lr=0.001)"


def test_draw_is_the_callback(fake_gains):
    panel = W.ScalePanel(task=None, alpha=8, ranks=(1, 2, 4, 8))
    panel.draw(4)
    assert panel.figure.layout.title.text.startswith("alpha = 4:")


def test_alpha_must_be_offered(fake_gains):
    with pytest.raises(ConfigError):
        W.ScalePanel(task=None, alpha=3, ranks=(1, 2, 4))


def test_panel_on_the_real_task_shows_a_flat_alpha_over_r_curve():
    from adalora_lite.labs.lora import digits_lora_task

    panel = W.ScalePanel(digits_lora_task(), alpha=8, ranks=(1, 4, 16), seeds=(0, 1, 2))
    over_r, plain = np.asarray(panel.figure.data[2].y), np.asarray(panel.figure.data[3].y)
    assert over_r.max() / over_r.min() < 1.3
    assert plain[-1] / plain[0] > 8
