"""Widgets for notebook 03: how alpha and r set the size of a LoRA update.

    ScalePanel(task, alpha=8, r=4)   sliders for alpha and r + a live figure: the factor alpha/r
                                     (and alpha, without the division) against r, and the measured
                                     loss decrease of one Adam step at each rank with each scaling.
                                     panel.draw(alpha, r) is what both sliders call; call it
                                     directly, or set panel.alpha_slider.value / rank_slider.value.
"""
import ipywidgets as widgets

from ..errors import ConfigError
from ..lora_lab import SCALINGS, first_step_gain
from ..viz.lora import scale_figure, scale_readout, update_scale_figure
from .figure import FigureWidget

RANKS = (1, 2, 4, 8, 16, 32)
ALPHAS = (1, 2, 4, 8, 16, 32, 64)


class ScalePanel(widgets.VBox):
    """Moving r only moves the marker; moving alpha measures the one-step gains anew (a fraction of
    a second: one Adam step per rank, scaling and seed), cached per alpha."""

    def __init__(self, task, *, alpha=8, r=4, ranks=RANKS, lr=1e-3, seeds=(0, 1, 2)):
        if r not in ranks:
            raise ConfigError(f"r must be one of {tuple(ranks)}, got {r!r}")
        self.task, self.ranks, self.lr, self.seeds = task, tuple(ranks), lr, tuple(seeds)
        self._gains = {}
        self.alpha_slider = widgets.SelectionSlider(options=ALPHAS, value=alpha, description="alpha",
                                                    continuous_update=False,
                                                    layout=widgets.Layout(width="420px"))
        self.rank_slider = widgets.SelectionSlider(options=self.ranks, value=r, description="rank r",
                                                   continuous_update=False,
                                                   layout=widgets.Layout(width="420px"))
        gains = self.gains(alpha)
        self.readout = widgets.HTML(scale_readout(alpha, r, gains, self.ranks))
        self.figure = FigureWidget(scale_figure(alpha, r, self.ranks, gains, lr=lr))
        self.alpha_slider.observe(self._on_slider, names="value")
        self.rank_slider.observe(self._on_slider, names="value")
        super().__init__([widgets.HBox([self.alpha_slider, self.rank_slider]), self.readout,
                          self.figure])

    @property
    def alpha(self):
        return self.alpha_slider.value

    @property
    def r(self):
        return self.rank_slider.value

    def gains(self, alpha):
        """{scaling: loss decrease of one Adam step per rank}, measured once per alpha."""
        if alpha not in self._gains:
            self._gains[alpha] = {s: first_step_gain(self.task, ranks=self.ranks, alpha=alpha,
                                                     scaling=s, lr=self.lr, seeds=self.seeds)
                                  for s in SCALINGS}
        return self._gains[alpha]

    def draw(self, alpha, r):
        """Draw alpha and r (the callback both sliders end in)."""
        gains = self.gains(alpha)
        update_scale_figure(self.figure, alpha, r, self.ranks, gains)
        self.readout.value = scale_readout(alpha, r, gains, self.ranks)

    def _on_slider(self, change):
        self.draw(self.alpha, self.r)

    def __repr__(self):  # stable text (the default VBox repr drags in widget ids)
        return f"ScalePanel(alpha={self.alpha}, r={self.r}, lr={self.lr:g})"
