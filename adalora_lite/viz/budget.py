"""Figures for notebook 06 (budget scheduling and pruning): state in, figure out, no widgets.

    schedule_figure(schedule, step=None)      the cubic budget b(t), its three phases shaded
    lambda_figure(trajectory, step)           every layer's |lambda| as bars, kept vs masked
    rank_figure(trajectory, step)             rank per layer (vs planted) | b(t) | held-out loss
    comparison_figure(results)                final loss per method and seed (the spread)
    allocation_figure(results, planted)       AdaLoRA's rank per layer, per seed, vs the planted rank

Shared with notebook 07's MiniLM replay (viz.transformer): `kept_masked_figure` and
`kept_masked_bars` (|lambda| bars in the KEPT and MASKED colours on a log axis), `lambda_range`,
and `schedule_figure` with `mark_step` (b(t) and the replayed step).

Every `*_figure` has an `update_*` twin that rewrites a figure (or FigureWidget) in place inside
one `batch_update`, so a slider move sends one message. The update functions only touch what
changes from step to step; `retarget_*` shows another trajectory with the same r (new data, same
bars); a new r rebuilds the figure through `*_figure`.
"""
import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..schedule import BudgetSchedule
from .style import TEMPLATE, batched

KEPT = "#0072B2"  # blue  (Okabe-Ito palette: distinguishable with colour-blindness)
MASKED = "#E69F00"  # orange
PLANTED = "#555555"
LAMBDA_FLOOR = 1e-4  # |lambda| below this is drawn at this height on the log axis (hover: exact)
PHASES = (("warm-up", "rgba(0,114,178,0.10)"), ("final", "rgba(230,159,0,0.15)"))


# ------------------------------------------------------------------ the cubic schedule
def schedule_curve(schedule):
    """(steps 0..T, b(t) for each) of a BudgetSchedule."""
    steps = np.arange(schedule.total_steps + 1)
    return steps, np.array([schedule.budget(int(t)) for t in steps])


def schedule_figure(schedule, step=None):
    """b(t) over the whole run, warm-up and final phases shaded; a marker at `step` if given."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(name="budget b(t)", mode="lines", line=dict(color=KEPT, width=3),
                             line_shape="hv"))
    fig.add_trace(go.Scatter(name="step t", mode="markers", marker=dict(color=MASKED, size=12),
                             showlegend=step is not None))
    fig.update_layout(xaxis_title="training step t", yaxis_title="budget b(t) (triplets kept)",
                      height=380, template=TEMPLATE, margin=dict(t=60, b=50, l=70, r=20),
                      legend=dict(x=0.75, y=0.95))
    update_schedule_figure(fig, schedule, step)
    return fig


def update_schedule_figure(fig, schedule, step=None):
    steps, budgets = schedule_curve(schedule)
    T, t_w, t_f = schedule.total_steps, schedule.warmup_steps, schedule.final_start
    with batched(fig):
        fig.data[0].x, fig.data[0].y = steps, budgets
        mark_step(fig, step, None if step is None else schedule.budget(int(step)))
        fig.layout.shapes = [
            dict(type="rect", xref="x", yref="paper", x0=0, x1=t_w, y0=0, y1=1, line_width=0,
                 fillcolor=PHASES[0][1], layer="below"),
            dict(type="rect", xref="x", yref="paper", x0=t_f, x1=T, y0=0, y1=1, line_width=0,
                 fillcolor=PHASES[1][1], layer="below"),
        ]
        fig.layout.annotations = [
            dict(x=t_w / 2, y=1.0, xref="x", yref="paper", yanchor="bottom", showarrow=False,
                 text="warm-up: no masking"),
            dict(x=(t_w + t_f) / 2, y=1.0, xref="x", yref="paper", yanchor="bottom",
                 showarrow=False, text="cubic decay: mask to b(t)"),
            dict(x=(t_f + T) / 2, y=1.0, xref="x", yref="paper", yanchor="bottom",
                 showarrow=False, text="final: allocation frozen"),
        ]
        fig.layout.title.text = (f"Cubic budget schedule: b = {schedule.init_budget} until step "
                                 f"{t_w}, then down to {schedule.target_budget} at step {t_f}")
        fig.layout.yaxis.range = [0, schedule.init_budget * 1.1 + 1]
        fig.layout.xaxis.range = [0, T]


def mark_step(fig, step, budget):
    """Move the "step t" marker of a `schedule_figure` to (step, budget); step None hides it."""
    marker = fig.data[1]
    marker.x, marker.y = ([], []) if step is None else ([step], [budget])


# ------------------------------------------------------------------ |lambda| bars, kept vs masked
def kept_masked_figure(hover, y_range, **layout):
    """Two bar traces, "kept" (blue) and "masked" (orange), overlaid on a log |lambda| axis spanning
    `y_range` (see `lambda_range`); `layout` adds to or overrides the rest of the layout."""
    fig = go.Figure([go.Bar(name="kept", marker_color=KEPT, hovertemplate=hover),
                     go.Bar(name="masked", marker_color=MASKED, hovertemplate=hover)])
    fig.update_layout(
        barmode="overlay", bargap=0.15, height=420, template=TEMPLATE,
        margin=dict(t=70, b=60, l=70, r=20),
        yaxis=dict(type="log", range=y_range, title="|lambda_i| (log scale)", exponentformat="power"),
        legend=dict(orientation="h", x=0, y=1.0, yanchor="bottom"))
    fig.update_layout(**layout)
    return fig


def kept_masked_bars(x, heights, keep, customdata):
    """What the "kept" and "masked" traces show: {"kept": dict(x, y, customdata), "masked": ...},
    every bar at least LAMBDA_FLOOR high (a zero would vanish from the log axis)."""
    height = np.maximum(np.abs(heights), LAMBDA_FLOOR)
    return {name: dict(x=x[sel], y=height[sel], customdata=customdata[sel])
            for name, sel in (("kept", keep), ("masked", ~keep))}


def set_kept_masked(fig, bars):
    """Write `kept_masked_bars` into the first two traces of a `kept_masked_figure`."""
    for trace in fig.data[:2]:
        b = bars[trace.name]
        trace.x, trace.y, trace.customdata = b["x"], b["y"], b["customdata"]


def lambda_range(top):
    """Log-axis range for |lambda| up to `top` (fixed while scrubbing, so bars never rescale). It
    starts half a decade below the floor, so a floored bar is a visible stub."""
    top = max(float(top), 10 * LAMBDA_FLOOR)
    return [np.log10(LAMBDA_FLOOR) - 0.5, float(np.log10(top * 2))]


# ------------------------------------------------------------------ the dashboard
def triplet_positions(trajectory):
    """x position of every triplet: layer k's r triplets side by side, a one-bar gap between layers."""
    r, n_layers = trajectory.params.r, len(trajectory.layer_names)
    return (np.arange(n_layers)[:, None] * (r + 1) + np.arange(r)[None, :]).reshape(-1)


def lambda_bars(trajectory, step):
    """What the kept and masked traces show at `step`: two dicts of x, y, customdata."""
    x = triplet_positions(trajectory)
    keep = trajectory.masks[step]
    # Kept triplets: |lambda| as the model uses it. Masked ones: |lambda-tilde|, the value the
    # SGD step gave them just before the mask zeroed it again (their lambda itself is 0).
    height = np.where(keep, trajectory.lambdas[step], trajectory.lambdas_tilde[step])
    r, n_layers = trajectory.params.r, len(trajectory.layer_names)
    layer, index = np.repeat(np.arange(n_layers), r), np.tile(np.arange(r), n_layers)
    custom = np.stack([layer, index, trajectory.lambdas[step], trajectory.lambdas_tilde[step],
                       trajectory.scores[step]], axis=1)
    return kept_masked_bars(x, height, keep, custom)


def _lambda_title(trajectory, step):
    kept = int(trajectory.masks[step].sum())
    return (f"Step t = {step} of {trajectory.n_steps}: budget b(t) = {int(trajectory.budgets[step])}"
            f" triplets, {kept} kept, {trajectory.n_triplets - kept} masked")


def lambda_figure(trajectory, step=0):
    """Every adapted layer's |lambda_i| as bars: "kept" (blue) and "masked" (orange) traces."""
    hover = ("layers.%{customdata[0]:d}, triplet %{customdata[1]:d}<br>lambda = %{customdata[2]:.4g}"
             "<br>lambda before masking = %{customdata[3]:.4g}<br>score S = %{customdata[4]:.3g}"
             "<extra>%{fullData.name}</extra>")
    x, r = triplet_positions(trajectory), trajectory.params.r
    names = trajectory.layer_names
    planted = trajectory.planted_ranks
    sigma = _sigma(trajectory)
    fig = kept_masked_figure(
        hover, _lambda_range(trajectory),
        xaxis=dict(title="triplet i, grouped by layer", range=[-1, x[-1] + 1],
                   tickvals=[k * (r + 1) + (r - 1) / 2 for k in range(len(names))],
                   ticktext=[f"{n} (planted rank {planted[n]})" for n in names]),
        shapes=[dict(type="line", xref="x", yref="paper", x0=k * (r + 1) - 1, x1=k * (r + 1) - 1,
                     y0=0, y1=1, line=dict(color="#bbbbbb", width=1)) for k in range(1, len(names))]
        + [dict(type="line", xref="paper", yref="y", x0=0, x1=1, y0=sigma, y1=sigma,
                line=dict(color=PLANTED, width=1.5, dash="dot"))],
        annotations=[dict(xref="paper", yref="y", x=1, y=np.log10(sigma), xanchor="right",
                          yanchor="bottom", showarrow=False,
                          text="planted singular value, in units of alpha/r")],
    )
    update_lambda_figure(fig, trajectory, step)
    return fig


def _sigma(trajectory):
    """Where a recovered direction's |lambda| should end: lam * alpha/r = planted singular value."""
    p = trajectory.params
    return p.singular_value * p.r / p.alpha


def _lambda_range(trajectory):
    """The |lambda| axis of a whole run, the planted singular value included."""
    return lambda_range(max(float(np.abs(trajectory.lambdas).max()),
                            float(np.abs(trajectory.lambdas_tilde).max()), _sigma(trajectory)))


def retarget_lambda_figure(fig, trajectory, step):
    """Show another trajectory with the same r (same bar positions): data, y range, sigma line."""
    sigma = _sigma(trajectory)
    with batched(fig):
        update_lambda_figure(fig, trajectory, step)
        fig.layout.yaxis.range = _lambda_range(trajectory)
        fig.layout.shapes[-1].update(y0=sigma, y1=sigma)
        fig.layout.annotations[0].y = float(np.log10(sigma))


def update_lambda_figure(fig, trajectory, step):
    with batched(fig):
        set_kept_masked(fig, lambda_bars(trajectory, step))
        fig.layout.title.text = _lambda_title(trajectory, step)


def rank_figure(trajectory, step=0):
    """Three panels: rank per layer at `step` (vs planted), b(t), held-out loss."""
    names = list(trajectory.layer_names)
    planted = [trajectory.planted_ranks[n] for n in names]
    fig = make_subplots(rows=1, cols=3, column_widths=[0.36, 0.32, 0.32], horizontal_spacing=0.09,
                        subplot_titles=("rank per layer at step t", "budget b(t)",
                                        "held-out loss"))
    fig.add_trace(go.Bar(name="rank at step t", x=names, marker_color=KEPT), row=1, col=1)
    fig.add_trace(go.Scatter(name="planted rank", x=names, y=planted, mode="markers",
                             marker=dict(symbol="diamond-wide", size=18, color=PLANTED,
                                         line=dict(color="white", width=1))), row=1, col=1)
    fig.add_trace(go.Scatter(name="b(t)", mode="lines", line=dict(color=KEPT, width=2),
                             line_shape="hv", showlegend=False), row=1, col=2)
    fig.add_trace(go.Scatter(name="step t", mode="markers", marker=dict(color=MASKED, size=11)),
                  row=1, col=2)
    fig.add_trace(go.Scatter(name="held-out loss", mode="lines", line=dict(color=PLANTED, width=2),
                             line_shape="hv", showlegend=False), row=1, col=3)
    fig.add_trace(go.Scatter(name="step t ", mode="markers", showlegend=False,
                             marker=dict(color=MASKED, size=11)), row=1, col=3)
    fig.update_yaxes(title_text="triplets kept", range=[0, trajectory.params.r + 0.5], dtick=1, row=1, col=1)
    fig.update_yaxes(title_text="triplets (all layers)", rangemode="tozero", row=1, col=2)
    fig.update_yaxes(title_text="0.5 * MSE (log scale)", type="log", exponentformat="power",
                     row=1, col=3)
    fig.update_xaxes(title_text="adapted layer", row=1, col=1)
    fig.update_xaxes(title_text="training step t", row=1, col=2)
    fig.update_xaxes(title_text="training step t", row=1, col=3)
    fig.update_layout(height=360, margin=dict(t=60, b=60, l=60, r=20), barmode="overlay",
                      template=TEMPLATE,
                      legend=dict(orientation="h", x=0, y=-0.3))
    retarget_rank_figure(fig, trajectory, step)
    return fig


def step_curve(values):
    """(x, y) of a piecewise-constant series for a line_shape="hv" trace: the first step, every
    step where the value changes, and the last. Exact, and far fewer points for the browser to
    redraw than one per step (the budget changes a few dozen times, the held-out loss every
    `eval_interval` steps)."""
    values = np.asarray(values)
    last = len(values) - 1
    x = np.union1d([0, last], np.flatnonzero(np.diff(values)) + 1)
    return x, values[x]


def retarget_rank_figure(fig, trajectory, step):
    """Show a trajectory with the same layers and steps: its budget and loss curves, and `step`."""
    bx, by = step_curve(trajectory.budgets)
    lx, ly = step_curve(trajectory.test_losses)
    with batched(fig):
        fig.data[2].x, fig.data[2].y = bx, by
        fig.data[4].x, fig.data[4].y = lx, ly
        update_rank_figure(fig, trajectory, step)


def update_rank_figure(fig, trajectory, step):
    ranks = trajectory.ranks_at(step)
    with batched(fig):
        fig.data[0].y = [ranks[n] for n in trajectory.layer_names]
        fig.data[3].x, fig.data[3].y = [step], [int(trajectory.budgets[step])]
        fig.data[5].x, fig.data[5].y = [step], [float(trajectory.test_losses[step])]


# ------------------------------------------------------------------ AdaLoRA vs LoRA
METHOD_COLORS = {"AdaLoRA": KEPT, "LoRA uniform": MASKED, "LoRA planted": PLANTED}


def comparison_figure(results, title="Same budget, five seeds: held-out loss at the end"):
    """One box per method of the relative held-out loss (loss / frozen network's), every seed a dot."""
    methods = list(dict.fromkeys(r.method for r in results))
    fig = go.Figure()
    for m in methods:
        rs = [r for r in results if r.method == m]
        fig.add_trace(go.Box(name=m, y=[r.relative_loss for r in rs], boxpoints="all", pointpos=0,
                             jitter=0.3, marker_color=METHOD_COLORS.get(m), line_width=1.5,
                             text=[f"seed {r.seed}, ranks {list(r.ranks.values())}" for r in rs],
                             hovertemplate="%{y:.3g}<br>%{text}<extra>%{fullData.name}</extra>"))
    fig.update_layout(title=title, yaxis=dict(type="log", exponentformat="power",
                                              title="held-out loss / loss of the frozen network "
                                                    "(log scale)"),
                      xaxis_title="method (same number of trainable parameters at the end)",
                      showlegend=False, height=420, template=TEMPLATE,
                      margin=dict(t=60, b=60, l=80, r=20))
    return fig


def allocation_figure(results, planted_ranks, title="Where AdaLoRA put its triplets, per seed"):
    """Planted rank per layer (grey bars) and AdaLoRA's final rank per layer (one dot per seed)."""
    ada = [r for r in results if r.method == "AdaLoRA"]
    names = list(ada[0].ranks) if ada else [f"layers.{k}" for k in range(len(planted_ranks))]
    fig = go.Figure(go.Bar(name="planted rank", x=list(range(len(names))), y=list(planted_ranks),
                           marker_color="#cccccc"))
    offsets = np.linspace(-0.3, 0.3, max(len(ada), 1))
    for off, r in zip(offsets, ada):
        fig.add_trace(go.Scatter(name=f"AdaLoRA, seed {r.seed}", mode="markers",
                                 x=[k + off for k in range(len(names))], y=list(r.ranks.values()),
                                 marker=dict(size=10, line=dict(color="white", width=1))))
    fig.update_layout(title=title, height=380, margin=dict(t=60, b=60, l=60, r=20),
                      template=TEMPLATE,
                      yaxis=dict(title="rank (triplets kept)", dtick=1),
                      xaxis=dict(title="adapted layer", tickvals=list(range(len(names))),
                                 ticktext=names))
    return fig
