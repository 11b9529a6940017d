"""adalora_lite.widgets.panel: a panel's display is the live widget plus a static figure of its
state, so a saved notebook or a course-site page shows the figure without a kernel."""
import numpy as np

from adalora_lite.widgets.panel import PLOTLY_MIMETYPE
from adalora_lite.widgets.rank import CompressionPanel

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def test_display_carries_the_widget_and_a_static_figure_of_its_state():
    rng = np.random.default_rng(1)
    panel = CompressionPanel(np.clip(0.5 + rng.standard_normal((30, 50)) / 9, 0, 1), r=4, step=1)
    bundle = panel._repr_mimebundle_()
    assert WIDGET_VIEW in bundle and bundle["text/plain"] == repr(panel)
    static = bundle[PLOTLY_MIMETYPE]
    assert [t["type"] for t in static["data"]] == [t.type for t in panel.figure.data]
    assert static["layout"]["title"]["text"] == panel.figure.layout.title.text
    panel.slider.value = 11  # the figure shows the state at display time
    later = panel._repr_mimebundle_()[PLOTLY_MIMETYPE]
    assert later["layout"]["title"]["text"] != static["layout"]["title"]["text"]
