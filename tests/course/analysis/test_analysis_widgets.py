"""UpdateExplorer: the callbacks, called directly and through the controls."""
import numpy as np
import pytest

from adalora_lite.errors import ConfigError
from adalora_lite.widgets.analysis import UpdateExplorer, index_report
from test_analysis_viz import trained_report


def test_index_report():
    index = index_report(trained_report())
    assert index[(1, "W_q")] == "encoder.layer.0.attention.self.query"
    assert index[(2, "W_f2")] == "encoder.layer.1.output.dense"
    with pytest.raises(ConfigError):
        index_report({"something.else": {}})


def test_pick_layer_and_module_redraws_spectrum_and_outline():
    report = trained_report()
    ex = UpdateExplorer(report, layer=2, module="W_f1")
    name = "encoder.layer.1.intermediate.dense"
    assert name in ex.readout.value and ex.name == name
    ex.module_pick.value = "W_k"  # observer fires synchronously
    name = "encoder.layer.1.attention.self.key"
    s = np.asarray(report[name]["spectrum"])
    np.testing.assert_allclose(ex.spectrum.data[0].y, np.round(s / s[0], 4))
    assert name in ex.spectrum.layout.title.text and name in ex.readout.value
    assert list(ex.heatmap.data[1].y) == ["W_k"] and list(ex.heatmap.data[1].x) == ["layer 2"]
    ex.layer_pick.value = 1
    assert list(ex.heatmap.data[1].x) == ["layer 1"] and "layer.0.attention.self.key" in ex.readout.value
    ex.show(2, "W_o")
    assert "layer.1.attention.output.dense" in ex.readout.value
    with pytest.raises(ConfigError):
        ex.show(7, "W_q")


def test_quantity_buttons_redraw_the_heatmap():
    report = trained_report()
    ex = UpdateExplorer(report, layer=1, module="W_q")
    ex.quantity_pick.value = "amplification"
    expected = np.round([[report[f"encoder.layer.{k}.{m}"]["amplification"] for k in range(2)]
                         for m in ("attention.self.query", "attention.self.key", "attention.self.value",
                                   "attention.output.dense", "intermediate.dense", "output.dense")], 4)
    np.testing.assert_allclose(np.asarray(ex.heatmap.data[0].z), expected)
    assert "amplification" in ex.heatmap.layout.title.text
    with pytest.raises(ConfigError):
        UpdateExplorer(report, layer=6)


def test_repr_is_stable():
    ex = UpdateExplorer(trained_report(), layer=2, module="W_v")
    assert repr(ex) == "UpdateExplorer(layer=2, module='W_v', quantity='effective_rank', matrices=12)"
