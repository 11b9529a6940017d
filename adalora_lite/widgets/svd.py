"""Widgets for notebook 04: the orthogonality regularizer's weight gamma on a slider.

    GammaPanel(sweep)   a slider over the recorded gammas and a toggle for the P, Q init; two live
                        figures (||P^T P - I||, ||Q Q^T - I|| over training; |lambda| vs the true
                        singular values at the end) and a one-line readout.
                        panel.show(gamma, init) is the callback, callable directly.

Every (init, gamma) run is recorded once beforehand (`svd_lab.gamma_sweep`) and its figures are
built when the panel is made, so moving the slider only swaps precomputed arrays into the figures:
no training and no figure building happens in a callback (measured: about 5 ms median per move).
"""
import ipywidgets as widgets
import numpy as np

from ..labs.svd import lambda_sv_gap
from ..viz.svd import orthogonality_figure, singular_values_figure, update_figure
from .figure import FigureWidget
from .panel import Panel


def gamma_readout(run):
    """One line of text: the numbers behind the two figures for one run."""
    gaps = lambda_sv_gap(run)
    return (f"γ = {run.meta['gamma']:g}, init = {run.meta['init']}: "
            f"final ||PᵀP − I|| = {np.mean(run.orth_P[-1]):.3f}, "
            f"||QQᵀ − I|| = {np.mean(run.orth_Q[-1]):.3f} (mean over layers); "
            f"λ vs σ gap = {np.mean(list(gaps.values())):.3f}; "
            f"test accuracy = {run.test_accuracy:.3f}")


class GammaPanel(Panel):
    """sweep: {(init, gamma): SVDRun} from `svd_lab.gamma_sweep`."""
    main_figure = "sv_fig"

    def __init__(self, sweep, gamma=0.0, init="orthogonal", *, prebuild=True):
        self.sweep = sweep
        gammas = sorted({g for _, g in sweep})
        inits = sorted({i for i, _ in sweep}, key=lambda s: s != "orthogonal")
        self.slider = widgets.SelectionSlider(
            options=[(f"{g:g}", g) for g in gammas], value=float(gamma), description="γ",
            continuous_update=True, layout=widgets.Layout(width="500px"))
        self.init_toggle = widgets.ToggleButtons(options=inits, value=init,
                                                 description="P, Q init")
        run = sweep[(init, float(gamma))]
        self.orth_fig = FigureWidget(orthogonality_figure(run))
        self.sv_fig = FigureWidget(singular_values_figure(run))
        self.readout = widgets.HTML(gamma_readout(run))
        self._quiet = False
        self._built = {}
        if prebuild:  # about 80 ms per run, once, so that every slider move is a swap (~5 ms)
            for key in sweep:
                self._build(key)
        self.slider.observe(self._on_change, names="value")
        self.init_toggle.observe(self._on_change, names="value")
        super().__init__([widgets.HBox([self.slider, self.init_toggle]), self.readout,
                          self.orth_fig, self.sv_fig])
        self.add_class("adalora-gamma-panel")  # CSS hooks for browser checks
        self.slider.add_class("adalora-gamma")

    @property
    def run(self):
        return self.sweep[(self.init_toggle.value, self.slider.value)]

    def show(self, gamma=None, init=None):
        """Display the run for (init, gamma); with no argument, redraw the current one."""
        self._quiet = True  # set both controls first, then redraw once
        try:
            if gamma is not None:
                self.slider.value = float(gamma)
            if init is not None:
                self.init_toggle.value = init
        finally:
            self._quiet = False
        self.redraw()

    def redraw(self):
        """The callback of both controls: swap the selected run's arrays into the figures."""
        orth, sv, text = self._build((self.init_toggle.value, self.slider.value))
        update_figure(self.orth_fig, orth)
        update_figure(self.sv_fig, sv)
        self.readout.value = text

    def _build(self, key):
        """The figures and readout of run `key`, built once; later visits only swap data."""
        if key not in self._built:
            run = self.sweep[key]
            self._built[key] = (orthogonality_figure(run), singular_values_figure(run),
                                gamma_readout(run))
        return self._built[key]

    def _on_change(self, change):
        if not self._quiet:
            self.redraw()

    def __repr__(self):  # stable text (the default VBox repr drags in widget ids)
        return (f"GammaPanel({len(self.sweep)} recorded runs; γ={self.slider.value:g}, "
                f"init={self.init_toggle.value})")
