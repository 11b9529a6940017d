"""Notebook 10's planted-update MiniLM: metrics, the plan, the teacher, one tiny distillation, the
recording's shape, and the figures on synthetic runs."""
import math

import numpy as np
import pytest
from scipy import stats

from adalora_lite.errors import ConfigError
from adalora_lite.labs import planted_transformer as pt
from adalora_lite.viz import planted_transformer as viz


def test_allocation_metrics_count_rank_against_the_truth():
    planted = {"a": 4, "b": 2}
    perfect = pt.allocation_metrics({"a": 4, "b": 2, "c": 0}, planted)
    assert perfect == {"precision": 1.0, "recall": 1.0, "on_planted": 1.0}
    # 3 of the 6 found ranks match the truth (2 on a, 1 on b); c is planted 0
    m = pt.allocation_metrics({"a": 2, "b": 1, "c": 3}, planted)
    assert m["precision"] == pytest.approx(0.5) and m["recall"] == pytest.approx(0.5)
    assert m["on_planted"] == pytest.approx(0.5)
    # more rank than planted on a planted matrix is on_planted but not matched
    m = pt.allocation_metrics({"a": 6, "b": 0}, planted)
    assert m["precision"] == pytest.approx(4 / 6) and m["on_planted"] == 1.0


def test_heterogeneity_is_zero_when_even_and_grows_with_concentration():
    assert pt.heterogeneity([2] * 18) == pytest.approx(0.0)
    assert pt.heterogeneity(pt.DESIGNS["heterogeneous"] | {m: 0 for m in pt.MATRICES[:3]}) == \
        pytest.approx(1 - 3 / 6)
    full = {m: pt.DESIGNS["heterogeneous"].get(m, 0) for m in pt.MATRICES}
    assert pt.heterogeneity(full) == pytest.approx(15 / 18)
    assert math.isnan(pt.heterogeneity([0, 0]))


def test_paired_interval_is_the_t_interval():
    d = [0.3, -0.1, 0.5, 0.2, 0.1]
    got = pt.paired_interval(d)
    low, high = stats.t.interval(0.95, len(d) - 1, loc=np.mean(d), scale=stats.sem(d))
    assert got["low"] == pytest.approx(low) and got["high"] == pytest.approx(high)
    assert got["outside"] == (low > 0 or high < 0)
    assert not pt.paired_interval([1.0])["outside"]


def test_seeds_for_power():
    assert pt.seeds_for_power(1.0, 10.0) <= 3  # df = 1 at n = 2: even a huge effect needs 3
    small, large = pt.seeds_for_power(1.0, 1.0), pt.seeds_for_power(1.0, 0.5)
    assert 8 <= small <= 12 and large > 3 * small  # about (1.96 + 0.84)^2 = 7.8 plus the t's cost
    assert pt.seeds_for_power(0.0, 0.5) == 2


def test_config_for_budgets_and_the_cap():
    assert [pt.config_for("adalora", b, 0).init_r for b in pt.BUDGETS] == [2, 3, 6]
    assert {pt.config_for("adalora_wide", b, 0).init_r for b in pt.BUDGETS} == {pt.WIDE_R}
    c = pt.config_for("lora", 36, 1)
    assert (c.method, c.r, c.seed, c.placement) == ("lora", 2, 1, "top")
    assert c.total_steps(3200) == 200
    assert pt.config_for("magnitude_wide", 72, 0).score == "magnitude"
    with pytest.raises(ConfigError):
        pt.config_for("lora", 20, 0)
    with pytest.raises(ConfigError):
        pt.config_for("nope", 18, 0)


def test_plan_puts_the_goal_first_and_has_no_duplicates():
    plan = pt.plan(range(5))
    assert len(plan) == len(set(plan)) == 5 * (len(pt.ARMS) + len(pt.CONTROL_ARMS)) * len(pt.BUDGETS)
    goal_arms = {"lora", "adalora", "random", "adalora_wide", "random_wide"}
    assert {(d, a, b) for d, a, b, _ in plan[:25]} == {("heterogeneous", a, 18) for a in goal_arms}
    assert all(b == pt.BUDGETS[0] for _, _, b, _ in plan[:55])
    assert sum(pt.DESIGNS["heterogeneous"].values()) == sum(pt.DESIGNS["homogeneous"].values()) == 36
    assert pt.BUDGETS[0] < 36 < pt.BUDGETS[-1]


@pytest.fixture(scope="module")
def tiny_data():
    import torch

    torch.set_num_threads(1)
    texts = pt.load_texts(n_train=48, n_test=16)
    return pt.make_data("heterogeneous", 0, texts)


def test_planted_updates_have_the_planted_rank_and_scale():
    import torch

    from adalora_lite.data import load_minilm

    model, _ = load_minilm()
    for name, dW in pt.planted_updates("heterogeneous", 0).items():
        W = model.get_submodule(f"encoder.{name}").weight
        s = torch.linalg.svdvals(dW)
        k = pt.DESIGNS["heterogeneous"][name]
        assert torch.allclose(s[:k], pt.STRENGTH * torch.linalg.matrix_norm(W, ord=2) * torch.ones(k), rtol=1e-4)
        assert float(s[k]) < 1e-4 * float(s[0])


def test_top_layers_reproduce_the_model_and_the_teacher_differs(tiny_data):
    import torch

    from adalora_lite.data import load_minilm

    model, _ = load_minilm()
    texts = pt.load_texts(n_train=48, n_test=16)
    with torch.no_grad():
        full = model(input_ids=texts[1]).last_hidden_state
        top = pt.TopLayers(model.encoder.layer[pt.FIRST_ADAPTED:])(tiny_data["test_hidden"])
    assert torch.allclose(top.last_hidden_state, full, atol=1e-4)
    assert float(((tiny_data["test_target"] - full) ** 2).mean()) > 1e-3


def test_a_tiny_distillation_learns_and_meets_its_budget(tiny_data):
    run = pt.record_run("heterogeneous", "adalora_wide", 18, 0, tiny_data, steps=6, batch_size=8)
    assert sum(run["ranks"].values()) == 18 and set(run["ranks"]) == set(pt.MATRICES)
    assert run["loss"] < run["start_loss"] and len(run["losses"]) == 6
    assert 0 <= run["precision"] <= 1 and run["init_r"] == pt.WIDE_R


def _synthetic_runs():
    rng = np.random.default_rng(0)
    runs = []
    for design, arm, budget, seed in pt.plan(range(3)):
        good = arm.startswith("adalora") and design == "heterogeneous"
        ranks = {m: budget // 18 for m in pt.MATRICES}
        if good:
            ranks = {m: (budget // 3 if m in pt.DESIGNS[design] else 0) for m in pt.MATRICES}
        rel = (0.3 if good else 0.5) + 0.01 * rng.standard_normal()
        runs.append({"design": design, "arm": arm, "budget": budget, "seed": seed, "relative_loss": rel,
                     "ranks": ranks, "init_r": 2, **pt.allocation_metrics(ranks, pt.DESIGNS[design])})
    return runs


def test_goal_and_tables_on_synthetic_runs():
    runs = _synthetic_runs()
    g = viz.goal(runs)
    assert g["adalora"]["met"] == {"beats_lora": True, "beats_random": True, "finds_planted": True,
                                   "control_not_better": True}
    text = viz.summary_table(viz.summary_rows(runs))
    assert "uniform LoRA" in text and len(text.splitlines()) == 1 + len(pt.ARMS) * len(pt.BUDGETS)
    assert "yes" in viz.comparison_table(runs, "heterogeneous", [("adalora", "lora")])


def test_figures_build():
    runs = _synthetic_runs()
    assert len(viz.budget_figure(runs).data) >= len(pt.ARMS)
    assert len(viz.rank_map_figure(runs).data) == 3
    live = dict(runs[30], loss=0.1, on_planted=0.5)
    assert len(viz.live_figure(live).data) == 2
    spectra = {"tasks": {"binary": {"matrices": {m: {"r90": 100} for m in pt.MATRICES}}},
               "planted": {d: pt.planted_spectra(d) for d in pt.DESIGNS}}
    assert len(viz.heterogeneity_figure(spectra).data) == 3


def test_the_recording_matches_its_plan():
    from adalora_lite import results

    if not results.path(pt.RESULTS_FILE).exists():
        pytest.skip("no recording yet")
    meta, runs = pt.load_recording()
    plan = pt.plan(meta["seeds"])
    assert meta["planned"] == len(plan) and meta["done"] == len(runs)
    assert [pt.run_key(r) for r in runs] == [job for job in plan if job in {pt.run_key(r) for r in runs}]
    for r in runs:
        assert sum(r["ranks"].values()) == r["budget"] and r["loss"] < r["start_loss"]
