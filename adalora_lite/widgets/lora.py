"""Widgets for notebook 03: how alpha and r set the size of a LoRA update.

    ScalePanel(task, alpha=8)   a slider for alpha + a live figure: the factor alpha/r (and alpha,
                                without the division) against r, and the measured loss decrease of
                                one Adam step at each rank with each scaling. Every rank is on the
                                figure, so there is no rank slider (it would only move a marker).
                                panel.draw(alpha) is what the slider calls; call it directly, or
                                set panel.alpha_slider.value.
"""
import ipywidgets as widgets

from ..errors import ConfigError
from ..labs.lora_scale import SCALINGS, first_step_gain
from ..viz.lora import scale_figure, scale_readout, update_scale_figure
from .figure import FigureWidget
from .panel import Panel

RANKS = (1, 2, 4, 8, 16, 32)
ALPHAS = (1, 2, 4, 8, 16, 32, 64)


class ScalePanel(Panel):
    """Moving alpha measures the one-step gains anew (a fraction of a second: one Adam step per
    rank, scaling and seed), cached per alpha."""

    def __init__(self, task, *, alpha=8, ranks=RANKS, lr=1e-3, seeds=(0, 1, 2)):
        if alpha not in ALPHAS:
            raise ConfigError(f"alpha must be one of {ALPHAS}, got {alpha!r}")
        self.task, self.ranks, self.lr, self.seeds = task, tuple(ranks), lr, tuple(seeds)
        self._gains = {}
        self.alpha_slider = widgets.SelectionSlider(options=ALPHAS, value=alpha, description="alpha",
                                                    continuous_update=False,
                                                    layout=widgets.Layout(width="420px"))
        gains = self.gains(alpha)
        self.readout = widgets.HTML(scale_readout(alpha, None, gains, self.ranks))
        self.figure = FigureWidget(scale_figure(alpha, None, self.ranks, gains, lr=lr))
        self.alpha_slider.observe(self._on_slider, names="value")
        super().__init__([self.alpha_slider, self.readout, self.figure])

    @property
    def alpha(self):
        return self.alpha_slider.value

    def gains(self, alpha):
        """{scaling: loss decrease of one Adam step per rank}, measured once per alpha."""
        if alpha not in self._gains:
            self._gains[alpha] = {s: first_step_gain(self.task, ranks=self.ranks, alpha=alpha,
                                                     scaling=s, lr=self.lr, seeds=self.seeds)
                                  for s in SCALINGS}
        return self._gains[alpha]

    def draw(self, alpha):
        """Draw alpha (the slider's callback)."""
        gains = self.gains(alpha)
        update_scale_figure(self.figure, alpha, None, self.ranks, gains)
        self.readout.value = scale_readout(alpha, None, gains, self.ranks)

    def _on_slider(self, change):
        self.draw(self.alpha)

    def __repr__(self):  # stable text (the default VBox repr drags in widget ids)
        return f"ScalePanel(alpha={self.alpha}, lr={self.lr:g})"
