"""Widgets for notebook 05: the EMA weights beta1 and beta2 on sliders.

    ImportancePanel(run, truth)   sliders for beta1 and beta2; live figures of every triplet's
                                  score over training (|lambda|, raw sensitivity, smoothed) and of
                                  the ranking stability; a readout of the numbers.
                                  panel.show(beta1, beta2) is the callback, callable directly.

The training run is recorded once (`importance_lab.record_scores`); a slider move replays only
the two EMAs over the recorded sensitivities with the library's `smooth` (no retraining): the
smoothing does not change the training when nothing is masked.
"""
import ipywidgets as widgets
import numpy as np
from scipy.stats import spearmanr

from ..labs.importance import (SCORE_NAMES, all_scores, ranking_stability, smoothed_scores,
                              topb_turnover)
from ..viz.importance import (stability_title, traces_title, score_traces_figure,
                              stability_figure, traces_data)
from ..viz.svd import sig
from .figure import FigureWidget
from .panel import Panel

SMOOTHED = SCORE_NAMES[2]


def importance_readout(run, smoothed, beta1, beta2, *, truth=None, budget=8, skip=20):
    """One line: stability, top-b turnover and (with `truth`) predictiveness of the smoothed score."""
    rho = np.nanmean(ranking_stability(smoothed)[skip:])
    turnover = topb_turnover(smoothed, budget)[skip:].mean()
    text = (f"β₁ = {beta1:.2f}, β₂ = {beta2:.2f}: mean ρ(t−1, t) = {rho:.3f}; "
            f"triplets entering the top {budget} per step = {turnover:.3f}")
    if truth is not None:
        text += f"; ρ with the measured masking loss = {spearmanr(smoothed[-1], truth).statistic:.3f}"
    return text


class ImportancePanel(Panel):
    """run: a ScoreRun; truth: optional (n,) measured loss increase of masking each triplet."""
    main_figure = "traces_fig"

    def __init__(self, run, truth=None, *, beta1=0.85, beta2=0.85, budget=8):
        self.run, self.truth, self.budget = run, truth, budget
        slider = dict(min=0.5, max=0.99, step=0.01, continuous_update=True, readout_format=".2f",
                      layout=widgets.Layout(width="420px"))
        self.beta1 = widgets.FloatSlider(value=beta1, description="β₁", **slider)
        self.beta2 = widgets.FloatSlider(value=beta2, description="β₂", **slider)
        scores = all_scores(run, beta1, beta2)
        self.traces_fig = FigureWidget(score_traces_figure(run, scores))
        self.stability_fig = FigureWidget(stability_figure(run, scores, beta1, beta2))
        self._fixed = {name: scores[name] for name in SCORE_NAMES[:2]}  # beta-free: kept
        self.readout = widgets.HTML(importance_readout(run, scores[SMOOTHED], beta1, beta2,
                                                       truth=truth, budget=budget))
        self._quiet = False
        self.beta1.observe(self._on_change, names="value")
        self.beta2.observe(self._on_change, names="value")
        super().__init__([widgets.HBox([self.beta1, self.beta2]), self.readout,
                          self.traces_fig, self.stability_fig])
        self.add_class("adalora-importance-panel")  # CSS hooks for browser checks
        self.beta1.add_class("adalora-beta1")
        self.beta2.add_class("adalora-beta2")

    def show(self, beta1=None, beta2=None):
        """Set the betas (either or both) and redraw once."""
        self._quiet = True
        try:
            if beta1 is not None:
                self.beta1.value = beta1
            if beta2 is not None:
                self.beta2.value = beta2
        finally:
            self._quiet = False
        self.redraw()

    def redraw(self):
        """The sliders' callback: replay the EMAs with the current betas, swap in the smoothed
        score's traces, its stability line and the titles. The other two scores do not depend
        on the betas and are left as they are."""
        b1, b2 = self.beta1.value, self.beta2.value
        smoothed = smoothed_scores(self.run, b1, b2)
        scores = dict(self._fixed, **{SMOOTHED: smoothed})
        n = self.run.n_triplets
        fresh = traces_data(self.run, {SMOOTHED: smoothed})
        with self.traces_fig.batch_update():
            for trace, (_, y) in zip(self.traces_fig.data[2 * n:], fresh):
                trace.y = y
            self.traces_fig.layout.title.text = traces_title(self.run, b1, b2)
        with self.stability_fig.batch_update():
            self.stability_fig.data[2].y = sig(ranking_stability(smoothed))
            self.stability_fig.layout.title.text = stability_title(self.run, scores, b1, b2)
        self.readout.value = importance_readout(self.run, smoothed, b1, b2, truth=self.truth,
                                                budget=self.budget)

    def _on_change(self, change):
        if not self._quiet:
            self.redraw()

    def __repr__(self):  # stable text (the default VBox repr drags in widget ids)
        return (f"ImportancePanel({self.run.n_triplets} triplets x {len(self.run.losses)} steps; "
                f"β₁={self.beta1.value:.2f}, β₂={self.beta2.value:.2f})")
