"""Widgets for notebook 07 (and classroom mode): one AdaLoRA run on MiniLM, replayed step by step.

    RankReplayPanel(replay)   a step slider and Play over a recorded `labs.replay.RankReplay`:
                              the 6 x 6 rank heatmap at step t, the chosen matrix's |lambda| bars
                              (kept vs masked) and the budget b(t) with step t marked. The matrix
                              is chosen in a dropdown or by a click on its heatmap cell.

Nothing trains here: the run was recorded once (`benchmarks/minilm_replay.py`) and every figure's
data per step is precomputed (`viz.transformer.ReplayFrames`), so a step move only restyles.
CSS classes for a browser test: "adalora-replay" (the panel), "adalora-replay-step" (the step
slider), "adalora-replay-matrix" (the dropdown).
"""
import ipywidgets as widgets
import numpy as np

from ..labs.replay import load_rank_replay
from ..viz.transformer import (ReplayFrames, replay_budget_figure, replay_heatmap,
                               replay_lambda_figure, select_cell, update_replay_budget_figure,
                               update_replay_heatmap, update_replay_lambda_figure)
from .figure import FigureWidget
from .panel import ReplayPanel


class RankReplayPanel(ReplayPanel):
    """A recorded MiniLM AdaLoRA run (default: the one shipped in the package), by step."""
    main_figure = "heatmap_fig"

    def __init__(self, replay=None, *, step=None, matrix=None):
        self.frames = ReplayFrames(load_rank_replay() if replay is None else replay)
        replay = self.frames.replay
        T = replay.n_steps
        step_row = self.step_controls(T, T if step is None else step, "adalora-replay-step",
                                      width="620px", play_step=1, interval=150)
        self.matrix_menu = widgets.Dropdown(
            options=[(self.frames.matrix_label(n), n) for n in replay.recording.layer_names],
            value=matrix or most_pruned(replay), description="matrix",
            layout=widgets.Layout(width="260px"), style={"description_width": "60px"})
        self.matrix_menu.add_class("adalora-replay-matrix")
        self.status = widgets.HTML()
        self.heatmap_fig = FigureWidget(replay_heatmap(self.frames, self.step, self.matrix))
        self.lambda_fig = FigureWidget(replay_lambda_figure(self.frames, self.matrix, self.step))
        self.budget_fig = FigureWidget(replay_budget_figure(self.frames, self.step))
        self.status.value = replay_status(replay, self.step)
        self.matrix_menu.observe(self._on_matrix, names="value")
        self.heatmap_fig.data[0].on_click(self._on_cell_click)
        super().__init__([widgets.HBox([step_row, self.matrix_menu]), self.status,
                          widgets.HBox([self.heatmap_fig, self.lambda_fig]), self.budget_fig])
        self.add_class("adalora-replay")

    @property
    def matrix(self):
        """The name of the matrix whose |lambda| bars are shown."""
        return self.matrix_menu.value

    def show_step(self, step):
        """Step `step` of the recording: the heatmap, the bars, the budget marker, the status."""
        update_replay_heatmap(self.heatmap_fig, self.frames, step)
        update_replay_lambda_figure(self.lambda_fig, self.frames, self.matrix, step)
        update_replay_budget_figure(self.budget_fig, self.frames, step)
        self.status.value = replay_status(self.frames.replay, step)

    def show_matrix(self, name):
        """Show matrix `name`'s bars and outline its heatmap cell (the dropdown's callback)."""
        select_cell(self.heatmap_fig, self.frames, name)
        update_replay_lambda_figure(self.lambda_fig, self.frames, name, self.step)

    def select_cell(self, label, layer):
        """Choose the matrix of heatmap cell (module label, layer number), e.g. ("W_f1", 6)."""
        self.matrix_menu.value = self.frames.name_of[(label, int(layer))]

    def _on_matrix(self, change):
        self.show_matrix(change["new"])

    def _on_cell_click(self, trace, points, state):
        if points.xs:  # x reads "layer k", y the module label
            self.select_cell(points.ys[0], points.xs[0].removeprefix("layer "))

    def __repr__(self):  # stable text (the default VBox repr drags in widget ids)
        return (f"RankReplayPanel({len(self.frames.recording.layer_names)} matrices, "
                f"{self.frames.n_steps} steps, step={self.step}, matrix={self.matrix!r})")


def most_pruned(replay):
    """The matrix that ends with the fewest triplets (the first of a tie): where masking shows."""
    final = replay.rank_history()[-1]
    return replay.recording.layer_names[int(np.argmin(final))]


def replay_status(replay, step, window=10):
    """One line: the step, the budget, the triplets kept, the training loss around the step."""
    recording = replay.recording
    losses = recording.losses[max(1, step - window + 1):step + 1]
    loss = (f"training loss {np.mean(losses):.3f} (mean of steps {max(1, step - window + 1)}-{step})"
            if step else "before training")
    kept = int(recording.masks[step].sum())
    return (f"<b>Step t = {step} of {replay.n_steps}</b>: budget b(t) = {int(recording.budgets[step])}, "
            f"{kept} of {replay.n_triplets} triplets kept; {loss}. "
            f"Held-out accuracy at the end: {100 * replay.accuracy:.1f}%.")
