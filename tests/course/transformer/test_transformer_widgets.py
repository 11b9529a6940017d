"""adalora_lite.widgets.transformer: the recorded MiniLM run, replayed by step (never retrained)."""
from types import SimpleNamespace

import numpy as np
import plotly.graph_objects as go
import pytest

from adalora_lite.labs.minilm_matrices import rank_grid
from adalora_lite.labs.replay import load_rank_replay
from adalora_lite.widgets.transformer import RankReplayPanel, most_pruned, replay_status


@pytest.fixture(scope="module")
def replay():
    return load_rank_replay()


@pytest.fixture
def panel(replay):
    return RankReplayPanel(replay)


def test_panel_starts_at_the_end_on_the_most_pruned_matrix(panel, replay):
    assert panel.step == replay.n_steps == 125 and panel.step_slider.max == 125
    name = most_pruned(replay)
    assert panel.matrix == name and replay.ranks(125)[name] == min(replay.ranks(125).values())
    assert all(isinstance(f, go.FigureWidget)
               for f in (panel.heatmap_fig, panel.lambda_fig, panel.budget_fig))
    assert "adalora-replay" in panel._dom_classes
    assert "adalora-replay-step" in panel.step_slider._dom_classes
    assert "adalora-replay-matrix" in panel.matrix_menu._dom_classes
    assert panel.step_slider.continuous_update and panel.play.max == 125
    assert len(panel.matrix_menu.options) == 36
    assert repr(panel) == f"RankReplayPanel(36 matrices, 125 steps, step=125, matrix={name!r})"


def test_play_and_step_slider_are_linked_in_the_kernel(panel, replay):
    # widgets.link, not jslink: one kernel message per slider move (the Play follows in the kernel)
    panel.play.value = 61
    assert panel.step_slider.value == 61 and "Step t = 61 of 125" in panel.status.value
    panel.step_slider.value = 30
    assert panel.play.value == 30


def test_moving_the_step_redraws_heatmap_bars_budget_and_status(panel, replay):
    cut = replay.recording.slices()[panel.matrix]
    for t in (0, 30, 61, 125, 7):
        panel.step_slider.value = t  # observers fire synchronously
        np.testing.assert_array_equal(panel.heatmap_fig.data[0].z, rank_grid(replay.ranks(t))[0])
        assert len(panel.lambda_fig.data[1].x) == (~replay.recording.masks[t, cut]).sum()
        assert list(panel.budget_fig.data[1].x) == [t]
        assert f"step t = {t}:" in panel.lambda_fig.layout.title.text
        assert f"Step t = {t} of 125" in panel.status.value


def test_masked_bars_appear_as_the_budget_shrinks(panel):
    panel.step_slider.value = 0
    assert len(panel.lambda_fig.data[1].x) == 0
    panel.step_slider.value = 125
    assert len(panel.lambda_fig.data[1].x) > 0


def test_dropdown_and_heatmap_click_choose_the_matrix(panel, replay):
    panel.step_slider.value = 125
    name = "bert.encoder.layer.5.intermediate.dense"
    panel.matrix_menu.value = name
    assert "W_f1 of layer 6 at step t = 125" in panel.lambda_fig.layout.title.text
    (box,) = panel.heatmap_fig.layout.shapes
    assert (box.x0, box.y0) == (4.5, 3.5)
    click = SimpleNamespace(xs=["layer 2"], ys=["W_k"])  # what plotly hands on_click
    panel._on_cell_click(panel.heatmap_fig.data[0], click, None)
    assert panel.matrix == "bert.encoder.layer.1.attention.self.key"
    assert "W_k of layer 2" in panel.lambda_fig.layout.title.text
    assert (panel.heatmap_fig.layout.shapes[0].x0, panel.heatmap_fig.layout.shapes[0].y0) == (0.5, 0.5)
    keep = replay.recording.masks[125, replay.recording.slices()[panel.matrix]]
    assert len(panel.lambda_fig.data[0].x) == keep.sum()


def test_status_reads_budget_kept_and_loss(replay):
    assert "before training" in replay_status(replay, 0)
    line = replay_status(replay, 125)
    assert "b(t) = 144, 144 of 216 triplets kept" in line and "steps 116-125" in line


def test_step_moves_are_fast_on_the_recorded_run(panel):
    panel.time_step_updates(n=10, seed=1)  # warm-up: plotly's first validations
    panel.step_slider.value = 40
    timing = panel.time_step_updates(n=60)
    assert panel.step == 40 and timing["n"] == 60
    assert timing["median_ms"] < 50  # the aim (Python side; a few ms here, even on a busy machine)
    assert timing["p95_ms"] >= timing["median_ms"]


def test_static_figure_is_the_heatmap(panel):
    assert "Rank of each matrix" in panel.static_figure().layout.title.text
