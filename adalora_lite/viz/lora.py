"""Figures for notebook 03 (LoRA from scratch): state in, plotly figure out.

    loss_curves_figure(curves)             training loss against step, one line per run
    scale_figure(alpha, r, ranks, gains)   the scale alpha/r (or alpha) against r | the loss decrease
                                           of one Adam step against r, r marked (None: no marker)
    update_scale_figure(fig, ...)          move an existing scale figure to new alpha, r, gains
    scale_readout(alpha, r)                the one-line summary shown with it
    breakdown_figure(search)               the breakdown learning rate against r, per scaling,
                                           with the band that holds every seed's edge
    rank_ablation_figure(ablation)         test accuracy against r, with the frozen and the fully
                                           fine-tuned network as references
"""
import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .style import TEMPLATE

SCALING_LABELS = {"alpha/r": "scale alpha/r (LoRA)", "alpha": "scale alpha (no division by r)",
                  "alpha/sqrt(r)": "scale alpha/sqrt(r) (rsLoRA)"}
SCALING_COLORS = {"alpha/r": "#1f77b4", "alpha": "#d62728"}


def loss_curves_figure(curves, *, title="Training loss", xaxis_title="step",
                       yaxis_title="cross-entropy (nats)", log_y=False):
    """curves: {label: losses (steps,)}; later curves are dashed so identical runs stay visible."""
    fig = go.Figure()
    for k, (label, y) in enumerate(curves.items()):
        y = np.asarray(y, dtype=float)
        fig.add_trace(go.Scatter(x=np.arange(1, len(y) + 1), y=y, mode="lines", name=label,
                                 line=dict(dash="solid" if k == 0 else "dash", width=4 if k == 0 else 2)))
    fig.update_layout(title=title, xaxis_title=xaxis_title, yaxis_title=yaxis_title,
                      yaxis_type="log" if log_y else "linear", legend_title="run",
                      template=TEMPLATE)
    return fig


# -- the scale alpha/r and what it does to one Adam step ------------------------------------------

def _scale_traces(alpha, r, ranks, gains):
    """The x/y data of every trace of the scale figure, in trace order."""
    ranks = np.asarray(ranks, dtype=float)
    traces = []
    for scaling in ("alpha/r", "alpha"):
        scale = alpha / ranks if scaling == "alpha/r" else np.full_like(ranks, float(alpha))
        traces.append(dict(x=ranks, y=scale))
    for scaling in ("alpha/r", "alpha"):
        traces.append(dict(x=ranks, y=np.asarray(gains[scaling], dtype=float)))
    if r is None:  # no rank marked (the scale panel has no rank slider)
        return traces + [dict(x=[], y=[]), dict(x=[], y=[])]
    here = [float(alpha) / r, float(alpha)]
    traces.append(dict(x=[r, r], y=here))
    j = list(ranks).index(r) if r in list(ranks) else None
    traces.append(dict(x=[r, r], y=[] if j is None else [float(gains["alpha/r"][j]),
                                                         float(gains["alpha"][j])]))
    return traces


def scale_figure(alpha, r, ranks, gains, *, lr=None):
    """Left: the factor multiplying B A at each rank, with and without dividing by r. Right: the
    measured loss decrease of one Adam step (gains = {"alpha/r": (len(ranks),), "alpha": ...})."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12, subplot_titles=(
        "the factor in front of B A", "what one Adam step does (measured)"))
    data = _scale_traces(alpha, r, ranks, gains)
    for k, scaling in enumerate(("alpha/r", "alpha")):
        fig.add_trace(go.Scatter(**data[k], mode="lines+markers", name=SCALING_LABELS[scaling],
                                 legendgroup=scaling, line=dict(color=SCALING_COLORS[scaling])),
                      row=1, col=1)
    for k, scaling in enumerate(("alpha/r", "alpha")):
        fig.add_trace(go.Scatter(**data[2 + k], mode="lines+markers", name=SCALING_LABELS[scaling],
                                 legendgroup=scaling, showlegend=False,
                                 line=dict(color=SCALING_COLORS[scaling])), row=1, col=2)
    for k, col in ((4, 1), (5, 2)):
        fig.add_trace(go.Scatter(**data[k], mode="markers", name="your r",
                                 marker=dict(size=16, color="rgba(0,0,0,0)",
                                             line=dict(width=3, color="black")),
                                 showlegend=col == 1 and r is not None, legendgroup="yours"),
                      row=1, col=col)
    step = "" if lr is None else f" (lr = {lr:g})"
    fig.update_xaxes(type="log", tickvals=list(ranks), title_text="rank r")
    fig.update_yaxes(type="log", title_text="scale (multiplies B A)", row=1, col=1)
    fig.update_yaxes(title_text=f"loss decrease after one step{step} (nats)", row=1, col=2)
    fig.update_layout(title=_scale_title(alpha, r), legend_title="scaling",
                      template=TEMPLATE, height=420)
    return fig


def update_scale_figure(fig, alpha, r, ranks, gains):
    """Move an existing `scale_figure` (a FigureWidget in the panel) to alpha, r and new gains."""
    data = _scale_traces(alpha, r, ranks, gains)
    with fig.batch_update():
        for trace, d in zip(fig.data, data):
            trace.x, trace.y = d["x"], d["y"]
        fig.layout.title.text = _scale_title(alpha, r)


def _scale_title(alpha, r):
    if r is None:
        return f"alpha = {alpha:g}: the factor and one Adam step at every rank"
    return f"alpha = {alpha:g}, r = {r}: alpha/r = {alpha / r:.4g}"


def scale_readout(alpha, r, gains, ranks):
    """One line: the two scales at this rank and what one Adam step gained with each (r = None:
    the range over all ranks)."""
    if r is None:
        a, b = np.asarray(gains["alpha/r"]), np.asarray(gains["alpha"])
        return (f"alpha = {alpha:g}: with alpha/r one Adam step lowers the loss by {a.min():.4f} to "
                f"{a.max():.4f} nats at every rank from {ranks[0]} to {ranks[-1]}; without dividing "
                f"by r by {b[0]:.4f} nats at r = {ranks[0]} up to {b[-1]:.4f} at r = {ranks[-1]}.")
    j = list(ranks).index(r)
    return (f"r = {r}: LoRA multiplies B A by alpha/r = {alpha / r:.4g} and one Adam step lowers the "
            f"loss by {gains['alpha/r'][j]:.4f} nats; without dividing by r the factor is {alpha:g} and "
            f"the same step lowers it by {gains['alpha'][j]:.4f} nats.")


# -- where training breaks down -------------------------------------------------------------------

def breakdown_figure(search, *, title="Where training breaks down: the learning rate against the rank (Adam)"):
    """The breakdown learning rate against r, one line per scaling (a `labs.lora_scale.BreakdownSearch`).

    Each point is 2**(mean over seeds of the bisection brackets' midpoints). The shaded band around a
    line holds every seed's edge: from the lowest learning rate that trained to the highest that
    broke down, over the seeds' final brackets. A run on the edge that flips moves a point or a band
    edge by about one bisection step; it never adds or removes one.
    """
    edge = search.edge()
    low, high = search.band()
    ranks = list(search.ranks)
    fig = go.Figure()
    for i, scaling in enumerate(search.scalings):
        color = SCALING_COLORS.get(scaling, "#2ca02c")
        fill = "rgba({}, {}, {}, 0.15)".format(*(int(color[k:k + 2], 16) for k in (1, 3, 5)))
        label = SCALING_LABELS.get(scaling, scaling)
        fig.add_trace(go.Scatter(x=ranks, y=2.0 ** high[i], mode="lines", line=dict(width=0, color=color),
                                 legendgroup=scaling, showlegend=False, hoverinfo="skip",
                                 name=f"{label}: highest lr that broke down"))
        fig.add_trace(go.Scatter(x=ranks, y=2.0 ** low[i], mode="lines", line=dict(width=0, color=color),
                                 fill="tonexty", fillcolor=fill, legendgroup=scaling, showlegend=False,
                                 hoverinfo="skip", name=f"{label}: lowest lr that trained"))
        fig.add_trace(go.Scatter(x=ranks, y=2.0 ** edge[i], mode="lines+markers", name=label,
                                 legendgroup=scaling, line=dict(color=color), marker=dict(size=10),
                                 hovertemplate="r = %{x}: breaks down near lr %{y:.4f}<extra></extra>"))
    fig.update_xaxes(type="log", tickvals=ranks, title_text="rank r")
    fig.update_yaxes(type="log", title_text=f"learning rate where a run ends above {search.max_loss:g} nat")
    fig.update_layout(title=title, template=TEMPLATE, height=420,
                      legend_title=f"scaling (line: mean of {len(search.seeds)} seeds; band: every seed's edge)")
    return fig


# -- rank ablation ---------------------------------------------------------------------------------

def rank_ablation_figure(ablation, *, title="LoRA rank ablation: digits 0-4 -> all ten digits"):
    """Mean test accuracy against r (each seed as a small dot), the frozen network and full
    fine-tuning as horizontal references; hover shows the trainable parameter count."""
    ranks = list(ablation.ranks)
    fig = go.Figure()
    seeds = ablation.accuracy.shape[1]
    fig.add_trace(go.Scatter(x=np.repeat(ranks, seeds), y=100 * ablation.accuracy.ravel(),
                             mode="markers", name="one seed", marker=dict(size=6, color="#aec7e8")))
    fig.add_trace(go.Scatter(x=ranks, y=100 * ablation.mean, mode="lines+markers",
                             name="LoRA, mean over seeds", marker=dict(size=10, color="#1f77b4"),
                             text=[f"{p} trainable parameters" for p in ablation.params],
                             hovertemplate="r = %{x}: %{y:.1f}%<br>%{text}<extra></extra>"))
    fig.add_hline(y=100 * ablation.full_accuracy, line_dash="dash", line_color="#2ca02c",
                  annotation_text=f"full fine-tuning ({ablation.full_params:,} parameters)",
                  annotation_position="bottom right")
    fig.add_hline(y=100 * ablation.start_accuracy, line_dash="dot", line_color="gray",
                  annotation_text="frozen pretrained network", annotation_position="top right")
    fig.update_xaxes(type="log", tickvals=ranks, title_text="rank r")
    fig.update_layout(title=title, yaxis_title="test accuracy (%)", legend_title="run",
                      template=TEMPLATE, height=420)
    return fig
