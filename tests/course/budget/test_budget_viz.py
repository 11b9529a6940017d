"""adalora_lite.viz.budget: the schedule, lambda and rank figures show what the records say."""
import numpy as np
import plotly.graph_objects as go
import pytest

from adalora_lite import BudgetSchedule, budget_schedule
from adalora_lite.labs.planted import RunResult
from adalora_lite.labs.budget import TrajectoryParams, recorded
from adalora_lite.viz.budget import (LAMBDA_FLOOR, allocation_figure, comparison_figure,
                                     lambda_figure, rank_figure, retarget_lambda_figure,
                                     retarget_rank_figure, schedule_figure, step_curve,
                                     triplet_positions, update_lambda_figure, update_rank_figure,
                                     update_schedule_figure)

SMALL = TrajectoryParams(r=4, target_budget=5, total_steps=80, warmup_steps=15, final_steps=25,
                         planted_ranks=(1, 3, 2), width=10)
KW = dict(total_steps=100, init_budget=20, target_budget=6, warmup_steps=10, final_steps=30)


@pytest.fixture(scope="module")
def traj():
    return recorded(SMALL, progress=False)


def test_schedule_figure_draws_b_of_t_and_its_phases():
    fig = schedule_figure(BudgetSchedule(**KW), step=40)
    np.testing.assert_array_equal(fig.data[0].x, np.arange(101))
    assert list(fig.data[0].y) == [budget_schedule(t, **KW) for t in range(101)]
    assert list(fig.data[1].x) == [40] and list(fig.data[1].y) == [budget_schedule(40, **KW)]
    warm, final = fig.layout.shapes
    assert (warm.x0, warm.x1, final.x0, final.x1) == (0, 10, 70, 100)
    assert fig.layout.xaxis.title.text and fig.layout.yaxis.title.text and fig.layout.title.text
    update_schedule_figure(fig, BudgetSchedule(**dict(KW, target_budget=2)))
    assert fig.data[0].y[-1] == 2 and len(fig.data[1].x) == 0


def test_lambda_figure_has_one_kept_and_one_masked_bar_trace(traj):
    for step in (0, 20, 50, 80):
        fig = lambda_figure(traj, step)
        kept, masked = fig.data
        assert (kept.name, masked.name) == ("kept", "masked")
        assert kept.marker.color != masked.marker.color
        mask = traj.masks[step]
        assert len(kept.x) == mask.sum() and len(masked.x) == (~mask).sum()
        x = triplet_positions(traj)
        np.testing.assert_array_equal(kept.x, x[mask])
        np.testing.assert_array_equal(masked.x, x[~mask])
        np.testing.assert_allclose(kept.y, np.maximum(np.abs(traj.lambdas[step][mask]), LAMBDA_FLOOR))
        np.testing.assert_allclose(masked.y, np.maximum(np.abs(traj.lambdas_tilde[step][~mask]),
                                                        LAMBDA_FLOOR))
        assert f"budget b(t) = {traj.budgets[step]}" in fig.layout.title.text
        assert fig.layout.yaxis.type == "log"
        # The floor sits above the axis bottom: a floored bar stays visible.
        assert fig.layout.yaxis.range[0] < np.log10(LAMBDA_FLOOR)


def test_triplet_positions_leave_a_gap_between_layers(traj):
    x = triplet_positions(traj)
    assert list(x) == [0, 1, 2, 3, 5, 6, 7, 8, 10, 11, 12, 13]


def test_update_lambda_figure_in_place_on_a_figure_widget(traj):
    fig = go.FigureWidget(lambda_figure(traj, 0))
    update_lambda_figure(fig, traj, 60)
    assert len(fig.data[1].x) == traj.n_masked(60)
    assert "Step t = 60 of 80" in fig.layout.title.text


def test_rank_figure_shows_ranks_planted_budget_and_loss(traj):
    fig = go.FigureWidget(rank_figure(traj, 30))
    assert list(fig.data[0].y) == list(traj.ranks_at(30).values())
    assert list(fig.data[1].y) == [1, 3, 2] and fig.data[1].name == "planted rank"
    # The curves hold only their change points (drawn "hv"): expanding them gives every step back.
    for trace, series in ((fig.data[2], traj.budgets), (fig.data[4], traj.test_losses)):
        assert trace.line.shape == "hv" and trace.x[0] == 0 and trace.x[-1] == 80
        expanded = np.asarray(trace.y)[np.searchsorted(trace.x, np.arange(81), side="right") - 1]
        np.testing.assert_array_equal(expanded, series)
    assert len(fig.data[4].x) <= 80 // SMALL.eval_interval + 2
    assert list(fig.data[3].x) == [30] and list(fig.data[3].y) == [traj.budgets[30]]
    assert list(fig.data[5].y) == [traj.test_losses[30]]
    update_rank_figure(fig, traj, 80)
    assert list(fig.data[0].y) == list(traj.ranks_at(80).values())
    assert sum(fig.data[0].y) == 5 and list(fig.data[3].x) == [80]
    for axis in ("xaxis", "yaxis", "xaxis2", "yaxis2", "xaxis3", "yaxis3"):
        assert fig.layout[axis].title.text


def _results():
    out = []
    for seed in range(3):
        out.append(RunResult("AdaLoRA", seed, 0.01 * (seed + 1), 1.0,
                             {"layers.0": 1, "layers.1": 2 + seed % 2}, 100))
        out.append(RunResult("LoRA uniform", seed, 0.05, 1.0, {"layers.0": 2, "layers.1": 2}, 96))
    return out


def test_comparison_figure_one_box_per_method_every_seed_a_point():
    fig = comparison_figure(_results())
    assert [t.name for t in fig.data] == ["AdaLoRA", "LoRA uniform"]
    np.testing.assert_allclose(fig.data[0].y, [0.01, 0.02, 0.03])
    assert fig.data[0].boxpoints == "all" and fig.layout.yaxis.type == "log"


def test_step_curve_keeps_first_changes_and_last():
    x, y = step_curve([5, 5, 3, 3, 3, 1, 1])
    assert list(x) == [0, 2, 5, 6] and list(y) == [5, 3, 1, 1]
    x, y = step_curve([2.0])
    assert list(x) == [0] and list(y) == [2.0]


def test_allocation_figure_planted_bars_and_one_trace_per_seed():
    fig = allocation_figure(_results(), (1, 3))
    assert list(fig.data[0].y) == [1, 3]
    assert [t.name for t in fig.data[1:]] == [f"AdaLoRA, seed {s}" for s in range(3)]
    assert list(fig.data[2].y) == [1, 3]


def test_retarget_matches_a_fresh_figure_for_another_run_with_the_same_r(traj):
    other = recorded(TrajectoryParams(**{**SMALL.__dict__, "alpha": 2.0, "target_budget": 3}),
                     progress=False)
    for build, retarget in ((lambda_figure, retarget_lambda_figure),
                            (rank_figure, retarget_rank_figure)):
        fig = go.FigureWidget(build(traj, 70))
        retarget(fig, other, 70)
        fresh = build(other, 70)
        for a, b in zip(fig.data, fresh.data):
            for key in ("x", "y"):
                if a[key] is not None:
                    assert list(np.asarray(a[key]).tolist()) == list(np.asarray(b[key]).tolist())
        assert fig.layout.to_plotly_json().get("shapes") == fresh.layout.to_plotly_json().get("shapes")
        assert fig.layout.yaxis.range == fresh.layout.yaxis.range
        assert fig.layout.annotations == fresh.layout.annotations
