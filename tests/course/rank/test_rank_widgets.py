"""adalora_lite.widgets.rank: moving the slider redraws the figure and the readout at once."""
import numpy as np

from adalora_lite.widgets.rank import CompressionPanel


def _image():
    rng = np.random.default_rng(1)
    return np.clip(0.5 + rng.standard_normal((30, 50)).cumsum(axis=0) / 20, 0, 1)


def test_slider_moves_image_spectrum_and_readout():
    panel = CompressionPanel(_image(), r=4, step=1)
    assert len(panel.figure.data[2].x) == 4
    panel.slider.value = 11  # observers fire synchronously, no kernel needed
    fig = panel.figure
    assert len(fig.data[2].x) == 11 and len(fig.data[3].x) == 30 - 11
    expected = np.clip(np.round(panel.approx.approx(11) * 255), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(fig.data[1].z, expected)
    rel = f"{panel.approx.relative_error(11):.2%}"
    assert rel in fig.layout.title.text and rel in panel.readout.value
    assert "(d + k) r = 880" in panel.readout.value
    assert repr(panel) == "CompressionPanel(image 30x50, r=11)"


def test_set_rank_is_the_callback_and_error_falls_with_r():
    panel = CompressionPanel(_image(), r=1, step=1, max_rank=20)
    assert panel.slider.max == 20
    errors = []
    for r in (1, 5, 20):
        panel.set_rank(r)
        errors.append(float(panel.readout.value.split("= ")[2].split("%")[0]))
    assert errors[0] > errors[1] > errors[2]
