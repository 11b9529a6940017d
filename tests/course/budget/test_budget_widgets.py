"""adalora_lite.widgets.budget: slider moves redraw the figures from the recorded trajectory."""
import numpy as np
import plotly.graph_objects as go
import pytest

from adalora_lite import budget_schedule
from adalora_lite.labs import budget as tr
from adalora_lite.labs.budget import TrajectoryParams
from adalora_lite.widgets.budget import BudgetDashboard, SchedulePanel

SMALL = TrajectoryParams(r=4, target_budget=5, total_steps=80, warmup_steps=15, final_steps=25,
                         planted_ranks=(1, 3, 2), width=10)


def test_schedule_panel_redraws_on_every_slider():
    panel = SchedulePanel(total_steps=100, init_budget=20, target_budget=6, warmup_steps=10,
                          final_steps=30)
    panel.warmup_slider.value = 25
    kw = dict(total_steps=100, init_budget=20, target_budget=6, warmup_steps=25, final_steps=30)
    assert list(panel.figure.data[0].y) == [budget_schedule(t, **kw) for t in range(101)]
    panel.target_slider.value = 3
    assert panel.figure.data[0].y[-1] == 3
    assert "from step 26 to 70" in panel.readout.value
    assert repr(panel) == "SchedulePanel(T=100, warm-up=25, final=30, b0=20, bT=3)"


def test_schedule_panel_keeps_the_schedule_valid():
    panel = SchedulePanel(total_steps=100, init_budget=20, target_budget=12, warmup_steps=10,
                          final_steps=30)
    panel.init_slider.value = 8  # below the target: the target follows
    assert panel.target_slider.value == 8 and panel.schedule.target_budget == 8
    panel.warmup_slider.value = 90  # warm-up + final must stay below T
    assert panel.warmup_slider.value == 69 and panel.final_slider.max == 30
    assert panel.figure.data[0].y[0] == 8


@pytest.fixture
def dash():
    return BudgetDashboard(SMALL, step=0, progress=True)


def test_dashboard_figures_are_figure_widgets_and_sliders_are_findable(dash):
    assert isinstance(dash.lambda_fig, go.FigureWidget) and isinstance(dash.rank_fig, go.FigureWidget)
    assert "adalora-step" in dash.step_slider._dom_classes
    assert "adalora-target-budget" in dash.budget_slider._dom_classes
    assert "adalora-dashboard" in dash._dom_classes
    assert [s.description for s in dash.param_sliders] == [
        "initial rank r", "alpha", "beta1", "beta2", "target budget"]
    assert dash.step_slider.description == "step t" and dash.step_slider.max == 80
    assert dash.step_slider.continuous_update and not dash.r_slider.continuous_update
    assert dash.progress.value == dash.progress.max and dash.progress.bar_style == "success"
    assert repr(dash) == ("BudgetDashboard(r=4, alpha=8, beta1=0.85, beta2=0.85, "
                          "target_budget=5, step=0)")


def test_moving_the_step_slider_shows_that_steps_masks(dash):
    traj = dash.trajectory
    for t in (0, 16, 30, 47, 80, 3):
        dash.step_slider.value = t  # observers fire synchronously
        kept, masked = dash.lambda_fig.data
        assert len(masked.x) == traj.n_masked(t)
        assert len(kept.x) == traj.n_triplets - traj.n_masked(t)
        assert list(dash.rank_fig.data[0].y) == list(traj.ranks_at(t).values())
        assert list(dash.rank_fig.data[3].x) == [t]
        assert f"Step t = {t} of 80" in dash.lambda_fig.layout.title.text
    assert dash.trajectory is traj  # scrubbing never re-records


def test_show_step_is_the_callback(dash):
    dash.show_step(50)
    assert len(dash.lambda_fig.data[1].x) == dash.trajectory.n_masked(50)


def test_changing_the_budget_records_anew_and_the_cache_serves_a_return(dash):
    first = dash.trajectory
    dash.step_slider.value = 80
    dash.budget_slider.value = 3
    assert dash.trajectory is not first and dash.trajectory.params.target_budget == 3
    assert len(dash.lambda_fig.data[0].x) == 3  # at the end only 3 triplets are kept
    assert sum(dash.rank_fig.data[0].y) == 3
    assert "budget 12 &rarr; 3" in dash.status.value
    hits = tr.cache_info()["hits"]
    dash.budget_slider.value = 5
    assert dash.trajectory is first and tr.cache_info()["hits"] == hits + 1


def test_beta_and_alpha_sliders_reach_the_recording(dash):
    dash.beta1_slider.value = 0.7
    dash.beta2_slider.value = 0.6
    dash.alpha_slider.value = 4.0
    p = dash.trajectory.params
    assert (p.beta1, p.beta2, p.alpha) == (0.7, 0.6, 4.0)


def test_changing_r_rebuilds_bars_and_bounds_the_target_budget(dash):
    dash.budget_slider.value = 12  # = 3 layers x r=4: no pruning at all
    dash.r_slider.value = 2
    assert dash.budget_slider.max == 6 and dash.budget_slider.value == 6
    assert dash.trajectory.params.r == 2 and dash.trajectory.params.target_budget == 6
    dash.step_slider.value = 80
    assert len(dash.lambda_fig.data[0].x) + len(dash.lambda_fig.data[1].x) == 6
    assert list(dash.lambda_fig.layout.xaxis.tickvals) == [0.5, 3.5, 6.5]
    dash.r_slider.value = 5
    assert dash.budget_slider.max == 15 and dash.budget_slider.value == 6
    assert dash.trajectory.n_triplets == 15


def test_step_updates_are_fast(dash):
    dash.step_slider.value = 33
    timing = dash.time_step_updates(n=60)
    assert dash.step == 33 and "Step t = 33 " in dash.lambda_fig.layout.title.text
    assert timing["n"] == 60
    assert timing["median_ms"] < 50  # the dashboard's aim (Python side; typically a few ms)
    assert timing["p95_ms"] >= timing["median_ms"]
