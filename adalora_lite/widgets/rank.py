"""Widgets for notebook 01: compress a photograph to rank r with a slider.

    CompressionPanel(image, r=20)   slider for r + live figure (original | rank-r | spectrum) and a
                                    readout of the relative error and the parameter count.
                                    panel.set_rank(r) is the slider's callback, callable directly.
"""
import ipywidgets as widgets

from ..labs.rank import LowRankApprox
from ..viz.rank import compression_figure, compression_readout, update_compression_figure
from .figure import FigureWidget
from .panel import Panel


class CompressionPanel(Panel):
    """A grayscale image (d, k) in [0, 1], its SVD computed once, and a slider for the rank r."""

    def __init__(self, image, r=20, *, max_rank=None, step=2):
        self.approx = LowRankApprox(image)
        self.step = step
        max_rank = self.approx.n if max_rank is None else min(int(max_rank), self.approx.n)
        self.slider = widgets.IntSlider(value=r, min=1, max=max_rank, description="rank r",
                                        continuous_update=True,
                                        layout=widgets.Layout(width="600px"))
        self.readout = widgets.HTML(compression_readout(self.approx, r))
        self.figure = FigureWidget(compression_figure(self.approx, r, step=step))
        self.slider.observe(self._on_slider, names="value")
        super().__init__([self.slider, self.readout, self.figure])

    @property
    def r(self):
        return self.slider.value

    def set_rank(self, r):
        """Show rank r: image, highlighted spectrum, error and parameter count (the callback)."""
        update_compression_figure(self.figure, self.approx, r, step=self.step)
        self.readout.value = compression_readout(self.approx, r)

    def _on_slider(self, change):
        self.set_rank(change["new"])

    def __repr__(self):  # stable text (the default VBox repr drags in widget ids)
        d, k = self.approx.shape
        return f"CompressionPanel(image {d}x{k}, r={self.r})"
