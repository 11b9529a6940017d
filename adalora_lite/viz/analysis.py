"""Figures for notebook 08: data-aware initialization and what a trained adapter's Delta W looks like.

    init_loss_figure(runs)        training loss per step, mean over seeds with a min-max band, per init
    init_accuracy_figure(runs)    held-out accuracy per init, one dot per seed, mean +- std
    init_table(runs)              the comparison as fixed-width text
    quantity_heatmap(report, key) one update quantity (effective rank, energy share, amplification...)
                                  per adapted matrix, module x layer
    update_spectrum_figure(entry, name)   singular values of one Delta W against the rank it was given
    update_readout(entry, name)   the numbers of one matrix, as HTML (the widget's readout)
"""
import numpy as np
import plotly.graph_objects as go

from ..labs.analysis import summarize_runs
from ..labs.data_aware_init import INIT_METHODS
from ..labs.learned_update import QUANTITIES, report_grid
from .style import TEMPLATE

INIT_LABELS = {"standard": "standard (A random, B = 0)",
               "pissa": "PiSSA (W0's top singular triplets, residual W0)",
               "covariance": "covariance / EVA (A = top eigvecs of E[x x^T], B = 0)"}
INIT_COLORS = {"standard": "#1f77b4", "pissa": "#d62728", "covariance": "#2ca02c"}
_FILL = {"standard": "rgba(31,119,180,0.15)", "pissa": "rgba(214,39,40,0.15)",
         "covariance": "rgba(44,160,44,0.15)"}


def _smooth(y, window):
    y = np.asarray(y, np.float64)
    if window <= 1:
        return y
    return np.array([y[max(0, k - window + 1):k + 1].mean() for k in range(len(y))])


def init_loss_figure(runs, *, window=5, title=None):
    """Mean training loss over seeds (trailing mean over `window` steps), band = min..max over seeds."""
    fig = go.Figure()
    for init in INIT_METHODS:
        curves = [_smooth(r["losses"], window) for r in runs if r["init"] == init]
        if not curves:
            continue
        curves = np.array(curves)
        steps = list(range(1, curves.shape[1] + 1))
        label = INIT_LABELS[init]
        fig.add_scatter(x=steps + steps[::-1], y=np.round(np.r_[curves.max(0), curves.min(0)[::-1]], 4),
                        fill="toself", fillcolor=_FILL[init], line=dict(width=0), hoverinfo="skip",
                        name=f"{init}: min-max over {len(curves)} seeds", legendgroup=init)
        fig.add_scatter(x=steps, y=np.round(curves.mean(0), 4), mode="lines", name=f"{label}: mean",
                        line=dict(color=INIT_COLORS[init], width=2), legendgroup=init)
    fig.add_hline(y=round(float(np.log(2)), 4), line_dash="dot", line_color="gray",
                  annotation_text="ln 2 (chance)", annotation_position="top right")
    fig.update_layout(title=title or f"Training loss over the first steps (trailing mean of {window} steps)",
                      xaxis_title="training step (batch of tweets)", yaxis_title="cross-entropy (nats)",
                      template=TEMPLATE, height=420, legend=dict(font=dict(size=10)))
    return fig


def init_accuracy_figure(runs, *, title="Held-out accuracy at equal budget, one dot per seed"):
    fig = go.Figure()
    for row in summarize_runs(runs):
        init = row["init"]
        accs = [100 * r["accuracy"] for r in runs if r["init"] == init]
        fig.add_scatter(x=[init] * len(accs), y=np.round(accs, 3), mode="markers", name=f"{init}: seeds",
                        marker=dict(color=INIT_COLORS[init], size=9, opacity=0.6), legendgroup=init)
        fig.add_scatter(x=[init], y=[round(100 * row["acc_mean"], 3)], mode="markers",
                        name=f"{init}: mean +- std", legendgroup=init,
                        marker=dict(color=INIT_COLORS[init], symbol="diamond-wide", size=16,
                                    line=dict(color="black", width=1)),
                        error_y=dict(type="data", array=[round(100 * row["acc_std"], 3)], width=12))
    fig.add_hline(y=50, line_dash="dot", line_color="gray", annotation_text="chance (balanced classes)",
                  annotation_position="bottom right")
    fig.update_layout(title=title, xaxis_title="initialization", yaxis_title="test accuracy (%)",
                      template=TEMPLATE, height=400)
    return fig


def init_table(runs, *, first=10, last=10):
    """Text table: accuracy mean +- std (min-max), loss over the first/last steps, step-0 change."""
    lines = [f"{'init':<11}{'seeds':>6}{'accuracy % mean +- std (min-max)':>36}"
             f"{f'loss, first {first} steps':>22}{f'loss, last {last} steps':>21}{'step-0 |logit change|':>24}"]
    for row in summarize_runs(runs, first=first, last=last):
        acc = (f"{100 * row['acc_mean']:.1f} +- {100 * row['acc_std']:.1f} "
               f"({100 * row['acc_min']:.1f}-{100 * row['acc_max']:.1f})")
        lines.append(f"{row['init']:<11}{row['n']:>6}{acc:>36}"
                     f"{row['loss_first_mean']:>13.3f} +- {row['loss_first_std']:.3f}"
                     f"{row['loss_last_mean']:>12.3f} +- {row['loss_last_std']:.3f}"
                     f"{row['step0_max_logit_change']:>24.1e}")
    return "\n".join(lines)


def quantity_heatmap(report, key, *, title=None, decimals=2, zmin=None, zmax=None):
    """Heatmap of report[name][key] over the 36 matrices (rows W_q ... W_f2, columns layers 1-6)."""
    grid, labels, layers = report_grid(report, key)
    text = [[f"{v:.{decimals}f}" for v in row] for row in grid]
    fig = go.Figure(go.Heatmap(
        z=np.round(grid, 4), x=[f"layer {k}" for k in layers], y=labels, text=text, texttemplate="%{text}",
        colorscale="Viridis", zmin=zmin, zmax=zmax, colorbar=dict(title=dict(text=key.replace("_", "<br>"))),
        hovertemplate="%{y}, %{x}: %{text}<extra></extra>"))
    fig.update_layout(title=title or QUANTITIES.get(key, key),
                      xaxis_title="encoder layer (1 = next to the embeddings, 6 = top)",
                      yaxis_title="adapted matrix", yaxis_autorange="reversed", template=TEMPLATE,
                      height=360)
    return fig


def update_spectrum_figure(entry, name, *, title=None):
    """Bars: the stored singular values of Delta W (first 2r), normalised by the largest; a dotted
    line after index r (the rank the adapter was given), a dashed one at the effective rank."""
    s = np.asarray(entry["spectrum"], np.float64)
    norm = s / s[0] if s.size and s[0] > 0 else s
    fig = go.Figure(go.Bar(x=list(range(1, len(s) + 1)), y=np.round(norm, 4), name="sigma_i / sigma_1",
                           marker_color="#9467bd",
                           hovertemplate="sigma_%{x} / sigma_1 = %{y}<extra></extra>"))
    fig.add_vline(x=entry["r"] + 0.5, line_dash="dot", line_color="gray",
                  annotation_text=f"given rank r = {entry['r']}", annotation_position="top left")
    fig.add_vline(x=entry["effective_rank"] + 0.5, line_dash="dash", line_color="#d62728",
                  annotation_text=f"effective rank {entry['effective_rank']:.2f}",
                  annotation_position="top right")
    fig.update_layout(title=title or f"Spectrum of Delta W: {name} (given rank r = {entry['r']})",
                      xaxis_title="singular value index i", yaxis_title="sigma_i / sigma_1 (relative)",
                      yaxis_range=[0, 1.05], template=TEMPLATE, height=340, showlegend=False)
    return fig


def update_readout(entry, name):
    """HTML summary of one matrix's update (the widget's text)."""
    return (f"<b>{name}</b> ({entry['shape'][0]} x {entry['shape'][1]}, given rank {entry['r']}): "
            f"effective rank <b>{entry['effective_rank']:.2f}</b>, 90% of the energy in "
            f"<b>{entry['energy_rank_90']}</b> direction(s); "
            f"share of ||Delta W||^2 in W0's top-{entry['r']} subspace <b>{entry['w0_subspace_energy']:.4f}</b> "
            f"(random: {entry['random_baseline']:.4f}); amplification <b>{entry['amplification']:.1f}</b>; "
            f"||Delta W||_F = {entry['delta_norm']:.4f} vs ||W0||_F = {entry['w0_norm']:.2f}")
