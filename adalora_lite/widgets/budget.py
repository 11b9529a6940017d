"""Widgets for notebook 06: the budget schedule panel and the AdaLoRA dashboard.

    SchedulePanel()      sliders for warm-up, final steps, initial and target budget -> b(t)
    BudgetDashboard()    sliders for r, alpha, beta1, beta2, target budget (re-record, cached) and
                         the training step t (replay only): every layer's lambdas, kept vs masked,
                         and the rank per layer, the budget and the loss at step t

Every slider callback is a plain method (`show_step`, `rerecord`, `update`) that a test can call
directly, or trigger by setting `slider.value`: observers run synchronously without a kernel.
The step slider and the target-budget slider carry the CSS classes "adalora-step" and
"adalora-target-budget" (and the dashboard "adalora-dashboard") so a browser test can find them.
"""
import ipywidgets as widgets

from ..errors import ConfigError
from ..schedule import BudgetSchedule
from ..labs.budget import TrajectoryParams, recorded
from ..labs.planted import PLANTED_SCHEDULE
from ..viz.budget import (lambda_figure, rank_figure, retarget_lambda_figure,
                          retarget_rank_figure, schedule_figure, update_lambda_figure,
                          update_rank_figure, update_schedule_figure)
from .figure import FigureWidget
from .panel import Panel, ReplayPanel

_WIDE = widgets.Layout(width="460px")
_STYLE = {"description_width": "120px"}


class _Guard:
    """A re-entrancy flag: while held, slider observers do nothing (bounds are being fixed)."""

    def __init__(self):
        self.held = False

    def __enter__(self):
        self.held = True

    def __exit__(self, *exc):
        self.held = False


def _int_slider(description, value, low, high, css=None, continuous=False):
    s = widgets.IntSlider(value=value, min=low, max=high, description=description,
                          continuous_update=continuous, layout=_WIDE, style=_STYLE)
    if css:
        s.add_class(css)
    return s


def _float_slider(description, value, low, high, step, css=None):
    s = widgets.FloatSlider(value=value, min=low, max=high, step=step, description=description,
                            continuous_update=False, readout_format=".2f", layout=_WIDE,
                            style=_STYLE)
    if css:
        s.add_class(css)
    return s


class SchedulePanel(Panel):
    """The cubic schedule b(t) with sliders for its four knobs (total steps fixed)."""

    def __init__(self, total_steps=PLANTED_SCHEDULE["total_steps"], init_budget=32,
                 target_budget=12, warmup_steps=PLANTED_SCHEDULE["warmup_steps"],
                 final_steps=PLANTED_SCHEDULE["final_steps"], max_budget=64):
        self.total_steps = int(total_steps)
        self._guard = _Guard()
        T = self.total_steps
        self.warmup_slider = _int_slider("warm-up steps", warmup_steps, 0, T - 1 - final_steps,
                                         "adalora-warmup", continuous=True)
        self.final_slider = _int_slider("final steps", final_steps, 0, T - 1 - warmup_steps,
                                        "adalora-final", continuous=True)
        self.init_slider = _int_slider("initial budget", init_budget, 1, max_budget,
                                       "adalora-init-budget", continuous=True)
        self.target_slider = _int_slider("target budget", target_budget, 1, init_budget,
                                         "adalora-schedule-target", continuous=True)
        self.readout = widgets.HTML()
        self.figure = FigureWidget(schedule_figure(self.schedule))
        for s in self.sliders:
            s.observe(self._on_change, names="value")
        self.update()
        super().__init__([widgets.HBox([widgets.VBox(self.sliders[:2]),
                                        widgets.VBox(self.sliders[2:])]),
                          self.readout, self.figure])
        self.add_class("adalora-schedule-panel")

    @property
    def sliders(self):
        return [self.warmup_slider, self.final_slider, self.init_slider, self.target_slider]

    @property
    def schedule(self):
        return BudgetSchedule(total_steps=self.total_steps, init_budget=self.init_slider.value,
                              target_budget=self.target_slider.value,
                              warmup_steps=self.warmup_slider.value,
                              final_steps=self.final_slider.value)

    def _fix_bounds(self):
        """Keep every combination of slider values a valid schedule: target <= initial and
        warm-up + final < total steps (a slider's value follows when its bound moves)."""
        T = self.total_steps
        with self._guard:
            self.target_slider.max = self.init_slider.value
            self.final_slider.max = T - 1 - self.warmup_slider.value
            self.warmup_slider.max = T - 1 - self.final_slider.value

    def update(self):
        """Redraw b(t) for the current slider values (the callback of every slider)."""
        self._fix_bounds()
        schedule = self.schedule
        update_schedule_figure(self.figure, schedule)
        self.readout.value = schedule_readout(schedule)

    def _on_change(self, change):
        if not self._guard.held:
            self.update()

    def __repr__(self):  # stable text (the default VBox repr drags in widget ids)
        s = self.schedule
        return (f"SchedulePanel(T={s.total_steps}, warm-up={s.warmup_steps}, final={s.final_steps},"
                f" b0={s.init_budget}, bT={s.target_budget})")


def schedule_readout(schedule):
    """One line of text: where the three phases start and how many triplets go."""
    gone = schedule.init_budget - schedule.target_budget
    return (f"Masking from step {schedule.warmup_steps + 1} to {schedule.final_start}; "
            f"{gone} of {schedule.init_budget} triplets removed in "
            f"{schedule.final_start - schedule.warmup_steps} steps; "
            f"the last {schedule.final_steps} steps train the frozen allocation.")


class BudgetDashboard(ReplayPanel):
    """AdaLoRA on the planted-rank task, recorded once per parameter set and replayed by step."""
    main_figure = "lambda_fig"

    def __init__(self, params=None, *, step=None, r_max=12, progress=True):
        params = TrajectoryParams() if params is None else params
        self._guard = _Guard()
        self.base_params = params
        n_layers = len(params.planted_ranks)
        T = params.total_steps
        self.r_slider = _int_slider("initial rank r", params.r, 1, r_max, "adalora-r")
        self.alpha_slider = _float_slider("alpha", params.alpha, 1.0, 32.0, 1.0, "adalora-alpha")
        self.beta1_slider = _float_slider("beta1", params.beta1, 0.5, 0.99, 0.01, "adalora-beta1")
        self.beta2_slider = _float_slider("beta2", params.beta2, 0.5, 0.99, 0.01, "adalora-beta2")
        self.budget_slider = _int_slider("target budget", params.target_budget, 1,
                                         n_layers * params.r, "adalora-target-budget")
        step_row = self.step_controls(T, T if step is None else step, "adalora-step")
        self.progress = widgets.IntProgress(value=0, min=0, max=T, description="recording",
                                            bar_style="", style=_STYLE, layout=_WIDE)
        self.progress.add_class("adalora-progress")
        self.status = widgets.HTML()
        self._show_progress = progress
        self.trajectory = None
        self._record(self.params)
        self.lambda_fig = FigureWidget(lambda_figure(self.trajectory, self.step))
        self.rank_fig = FigureWidget(rank_figure(self.trajectory, self.step))
        for s in self.param_sliders:
            s.observe(self._on_params, names="value")
        controls = widgets.HBox([
            widgets.VBox([self.r_slider, self.alpha_slider, self.budget_slider]),
            widgets.VBox([self.beta1_slider, self.beta2_slider, self.progress])])
        super().__init__([controls, step_row, self.status,
                          self.lambda_fig, self.rank_fig])
        self.add_class("adalora-dashboard")

    # -------------------------------------------------------------- state
    @property
    def param_sliders(self):
        return [self.r_slider, self.alpha_slider, self.beta1_slider, self.beta2_slider,
                self.budget_slider]

    @property
    def params(self):
        """The TrajectoryParams the sliders describe (everything else from `base_params`)."""
        from dataclasses import replace
        return replace(self.base_params, r=self.r_slider.value, alpha=self.alpha_slider.value,
                       beta1=round(self.beta1_slider.value, 4),
                       beta2=round(self.beta2_slider.value, 4),
                       target_budget=self.budget_slider.value)

    # -------------------------------------------------------------- callbacks
    def show_step(self, step):
        """Replay step `step` of the recorded trajectory: no training, two figure updates."""
        update_lambda_figure(self.lambda_fig, self.trajectory, step)
        update_rank_figure(self.rank_fig, self.trajectory, step)

    def rerecord(self):
        """Record (or fetch from the cache) the trajectory for the current sliders, then redraw."""
        old_r = self.trajectory.params.r
        self._record(self.params)
        if self.trajectory.params.r != old_r:
            # A new r moves every bar and tick: rewrite traces and layout.
            _refresh(self.lambda_fig, lambda_figure(self.trajectory, self.step))
            _refresh(self.rank_fig, rank_figure(self.trajectory, self.step))
        else:  # same bars: swap the data and the few axis settings that depend on the run
            retarget_lambda_figure(self.lambda_fig, self.trajectory, self.step)
            retarget_rank_figure(self.rank_fig, self.trajectory, self.step)

    def _on_params(self, change):
        if self._guard.held:
            return
        if change["owner"] is self.r_slider:
            # The target budget can not exceed the initial one (n_layers * r).
            with self._guard:
                self.budget_slider.max = len(self.base_params.planted_ranks) * self.r_slider.value
        self.rerecord()

    def _record(self, params):
        def tick(step, total):
            self.progress.value = step

        self.progress.bar_style = "info"
        self.progress.value = 0
        self.trajectory = recorded(params, progress=tick if self._show_progress else False)
        self.progress.value = self.progress.max
        self.progress.bar_style = "success"
        self.status.value = dashboard_status(self.trajectory)

    def __repr__(self):  # stable text (the default VBox repr drags in widget ids)
        p = self.params
        return (f"BudgetDashboard(r={p.r}, alpha={p.alpha:g}, beta1={p.beta1:g}, beta2={p.beta2:g}, "
                f"target_budget={p.target_budget}, step={self.step})")


def dashboard_status(trajectory):
    """One line on the recorded run: its parameters and where the budget ended up."""
    p = trajectory.params
    final = trajectory.final_ranks()
    planted = trajectory.planted_ranks
    ranks = ", ".join(f"{n}: {final[n]} (planted {planted[n]})" for n in trajectory.layer_names)
    return (f"<b>Recorded</b> r={p.r}, alpha={p.alpha:g}, beta1={p.beta1:g}, beta2={p.beta2:g}, "
            f"budget {p.init_budget} &rarr; {p.target_budget} over {p.total_steps} steps. "
            f"Final ranks: {ranks}. Held-out loss: {trajectory.test_losses[-1]:.3g} "
            f"(frozen network: {trajectory.start_loss:.3g}).")


def _refresh(fig, new):
    """Rewrite FigureWidget `fig` with the traces and layout of figure `new` (same trace types)."""
    if [t.type for t in fig.data] != [t.type for t in new.data]:
        raise ConfigError("a dashboard figure must keep its traces when it is redrawn")
    with fig.batch_update():
        for old, fresh in zip(fig.data, new.data):
            props = fresh.to_plotly_json()
            props.pop("type", None)
            old.update(props, overwrite=True)
        fig.layout.update(new.layout.to_plotly_json(), overwrite=True)
