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


def test_rank_slider_moves_the_marker_without_measuring_again(fake_gains):
    panel = W.ScalePanel(task=None, alpha=8, r=4, ranks=(1, 2, 4, 8), lr=1e-3)
    assert len(fake_gains) == 2
    panel.rank_slider.value = 8
    assert list(panel.figure.data[4].x) == [8, 8] and list(panel.figure.data[4].y) == [1, 8]
    np.testing.assert_allclose(panel.figure.data[5].y, [0.008, 0.064])
    assert panel.figure.layout.title.text == "alpha = 8, r = 8: alpha/r = 1"
    assert "alpha/r = 1 " in panel.readout.value
    assert len(fake_gains) == 2  # cached


def test_alpha_slider_measures_once_per_alpha(fake_gains):
    panel = W.ScalePanel(task=None, alpha=8, r=2, ranks=(1, 2, 4, 8))
    panel.alpha_slider.value = 32
    np.testing.assert_allclose(panel.figure.data[0].y, [32, 16, 8, 4])
    np.testing.assert_allclose(panel.figure.data[2].y, [0.032] * 4)
    assert list(panel.figure.data[4].y) == [16, 32]
    panel.alpha_slider.value = 8
    panel.alpha_slider.value = 32
    assert [a for a, _ in fake_gains] == [8, 8, 32, 32]
    assert repr(panel) == "ScalePanel(alpha=32, r=2, lr=0.001)"


def test_draw_is_the_callback(fake_gains):
    panel = W.ScalePanel(task=None, alpha=8, r=2, ranks=(1, 2, 4, 8))
    panel.draw(4, 1)
    assert panel.figure.layout.title.text == "alpha = 4, r = 1: alpha/r = 4"


def test_rank_must_be_offered(fake_gains):
    with pytest.raises(ConfigError):
        W.ScalePanel(task=None, r=3, ranks=(1, 2, 4))


def test_panel_on_the_real_task_shows_a_flat_alpha_over_r_curve():
    from adalora_lite.labs.lora import digits_lora_task

    panel = W.ScalePanel(digits_lora_task(), alpha=8, r=4, ranks=(1, 4, 16), seeds=(0, 1, 2))
    over_r, plain = np.asarray(panel.figure.data[2].y), np.asarray(panel.figure.data[3].y)
    assert over_r.max() / over_r.min() < 1.3
    assert plain[-1] / plain[0] > 8
