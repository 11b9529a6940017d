"""Figures for notebook 02 (intrinsic dimension): state in, plotly figure out.

    intrinsic_dimension_figure(sweep)     test accuracy against subspace dimension d, with the
                                          full-training reference, the 90% line and d90
    relative_sweeps_figure({label: sweep})  several sweeps as a fraction of their own full accuracy
    truncated_update_figure(ranks, accs, full)  accuracy when Delta W keeps only its top r directions
"""
import plotly.graph_objects as go

from .rank import KEPT_COLOR
from .style import TEMPLATE


def intrinsic_dimension_figure(sweep, *, title=None):
    """sweep: an adalora_lite.labs.intrinsic.SweepResult."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=sweep.dims, y=sweep.accuracy, mode="lines+markers",
                             name="train only z (d numbers)", line=dict(color=KEPT_COLOR)))
    fig.add_hline(y=sweep.full_accuracy, line_color="black",
                  annotation_text=f"train all D = {sweep.num_params:,} parameters: "
                                  f"{sweep.full_accuracy:.3f}",
                  annotation_position="top left")
    fig.add_hline(y=sweep.threshold, line_dash="dash", line_color="#d62728",
                  annotation_text=f"{sweep.fraction:.0%} of it: {sweep.threshold:.3f}",
                  annotation_position="bottom right")
    if sweep.d90 is not None:
        # A trace, not add_vline: shapes on a log axis take log10 coordinates.
        fig.add_trace(go.Scatter(x=[sweep.d90, sweep.d90], y=[0, 1], mode="lines",
                                 line=dict(dash="dot", color="#d62728"),
                                 name=f"d90 = {sweep.d90}"))
    fig.update_layout(title=title or "Training in a random d-dimensional subspace: theta = theta0 + E z",
                      xaxis_title="subspace dimension d (log scale)", xaxis_type="log",
                      yaxis_title="test accuracy (fraction correct)", yaxis_range=[0, 1.02],
                      legend_title="what is trained", template=TEMPLATE)
    return fig


def relative_sweeps_figure(sweeps, *, fraction=0.9, title="Does pretraining lower the intrinsic dimension?"):
    """sweeps: {label: SweepResult}; each curve is accuracy / its own full-training accuracy."""
    fig = go.Figure()
    dashes = ["solid", "dash", "solid", "dash"]
    for i, (label, sweep) in enumerate(sweeps.items()):
        rel = [a / sweep.full_accuracy for a in sweep.accuracy]
        fig.add_trace(go.Scatter(x=sweep.dims, y=rel, mode="lines+markers",
                                 line=dict(dash=dashes[i % len(dashes)]),
                                 name=f"{label} (d90 = {sweep.d90})"))
    fig.add_hline(y=fraction, line_dash="dot", line_color="#d62728",
                  annotation_text=f"{fraction:.0%} of full training", annotation_position="bottom right")
    fig.update_layout(title=title, xaxis_title="subspace dimension d (log scale)", xaxis_type="log",
                      yaxis_title="accuracy / full-training accuracy", yaxis_range=[0, 1.05],
                      legend_title="task, starting point", template=TEMPLATE)
    return fig


def truncated_update_figure(ranks, accuracies, full_accuracy, *,
                            title="Keep only the top r directions of each update Delta W"):
    """Accuracy of W_pre + (Delta W)_r in every hidden layer against r."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=list(ranks), y=list(accuracies), mode="lines+markers",
                             name="W_pre + best rank-r part of Delta W", line=dict(color=KEPT_COLOR)))
    fig.add_hline(y=full_accuracy, line_color="black",
                  annotation_text=f"full fine-tuning: {full_accuracy:.3f}",
                  annotation_position="bottom right")
    fig.update_layout(title=title, xaxis_title="rank r kept in every hidden layer's Delta W",
                      yaxis_title="task-B test accuracy (fraction correct)", yaxis_range=[0, 1.02],
                      legend_title="weights", template=TEMPLATE)
    return fig
