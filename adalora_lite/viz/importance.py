"""Figures for notebook 05 (importance scoring): state in, plotly figure out.

    score_traces_figure(run, scores)          every triplet's score over training, one panel per score
    stability_figure(run, scores)             Spearman rank correlation of consecutive steps, per score
    stability_heatmap(table, beta1s, beta2s)  mean stability of the smoothed score over a beta grid
    score_terms_figure(terms)                 S_i per triplet, and the share of its three terms
    predictiveness_figure(truth, finals)      each final score against the measured loss increase
    traces_data / stability_data              the arrays a widget swaps in on a slider move
"""
import numpy as np
import plotly.graph_objects as go
from plotly.colors import sample_colorscale
from plotly.subplots import make_subplots
from scipy.stats import spearmanr

from ..labs.importance import ranking_stability
from .style import TEMPLATE
from .svd import sig

SCORE_COLORS = {"|λ|": "#1f77b4", "sensitivity I": "#7f7f7f", "EMA Ī alone": "#9467bd",
                "smoothed Ī·Ū": "#2ca02c"}
LAYER_SCALES = ("Blues", "Oranges", "Greens", "Purples")
STEP_EVERY = 2  # traces are drawn every 2nd step: half the points, the same picture


def triplet_colors(run):
    """One colour per triplet: a shade of blue for layers.0, of orange for layers.1, ..."""
    colors = []
    for k, (_, r, _) in enumerate(run.shapes):
        scale = LAYER_SCALES[k % len(LAYER_SCALES)]
        colors += sample_colorscale(scale, list(np.linspace(0.45, 0.95, r)))
    return colors


def traces_data(run, scores):
    """[(x, y)] per trace of `score_traces_figure`, in its order (score-major, then triplet)."""
    steps = run.steps[::STEP_EVERY]
    return [(steps, sig(values[::STEP_EVERY, i])) for values in scores.values()
            for i in range(run.n_triplets)]


def score_traces_figure(run, scores):
    """scores: {name: (T, n)}. One panel per score, one line per triplet (log scale)."""
    names = list(scores)
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=names, horizontal_spacing=0.07)
    labels, colors = run.triplet_labels(), triplet_colors(run)
    data = traces_data(run, scores)
    for n, name in enumerate(names):
        for i in range(run.n_triplets):
            x, y = data[n * run.n_triplets + i]
            fig.add_scatter(x=x, y=y, name=labels[i], legendgroup=labels[i], showlegend=n == 0,
                            line=dict(color=colors[i], width=1.3), row=1, col=n + 1)
        fig.update_yaxes(type="log", row=1, col=n + 1)
    fig.update_xaxes(title_text="training step")
    fig.update_yaxes(title_text="score (log scale)", row=1, col=1)
    fig.update_layout(title=traces_title(run), height=420, width=1150, template=TEMPLATE,
                      margin=dict(t=80, b=50),
                      legend=dict(title="triplet", font=dict(size=10)))
    return fig


def traces_title(run, beta1=None, beta2=None):
    beta1 = run.beta1 if beta1 is None else beta1
    beta2 = run.beta2 if beta2 is None else beta2
    return f"Every triplet's score over training (smoothed with β₁ = {beta1:g}, β₂ = {beta2:g})"


def stability_data(scores):
    """{name: (T-1,) Spearman of consecutive steps} for `stability_figure`."""
    return {name: ranking_stability(values) for name, values in scores.items()}


def stability_figure(run, scores, beta1=None, beta2=None):
    """Spearman rank correlation between the triplet ranking of step t-1 and of step t."""
    fig = go.Figure()
    lowest = 1.0
    for name, rho in stability_data(scores).items():
        fig.add_scatter(x=run.steps[1:], y=sig(rho), name=name,
                        line=dict(color=SCORE_COLORS.get(name)))
        lowest = min(lowest, float(np.nanmin(rho)))
    fig.update_layout(title=stability_title(run, scores, beta1, beta2), height=360,
                      template=TEMPLATE,
                      margin=dict(t=80, b=50), xaxis_title="training step t",
                      yaxis=dict(title="Spearman ρ(ranking at t−1, ranking at t)",
                                 range=[min(0.4, np.floor(lowest * 10) / 10), 1.02]),
                      legend=dict(title="score"))
    return fig


def stability_title(run, scores, beta1=None, beta2=None, skip=20):
    beta1 = run.beta1 if beta1 is None else beta1
    beta2 = run.beta2 if beta2 is None else beta2
    means = ", ".join(f"{name} {np.nanmean(rho[skip:]):.3f}"
                      for name, rho in stability_data(scores).items())
    return (f"How stable is the ranking of triplets from one step to the next? "
            f"(β₁ = {beta1:g}, β₂ = {beta2:g})<br><sup>mean ρ after step {skip + 1}: {means}</sup>")


def stability_heatmap(table, beta1s, beta2s):
    """Mean consecutive-step Spearman of the smoothed score for every (beta1, beta2)."""
    fig = go.Figure(go.Heatmap(z=sig(table), x=[f"{b:g}" for b in beta2s],
                               y=[f"{b:g}" for b in beta1s], colorscale="Viridis",
                               text=[[f"{v:.3f}" for v in row] for row in table],
                               texttemplate="%{text}", colorbar=dict(title="mean ρ")))
    fig.update_layout(title=("Ranking stability of Ī·Ū for each (β₁, β₂): "
                             "mean Spearman ρ of consecutive steps"),
                      xaxis_title="β₂ (uncertainty EMA)", yaxis_title="β₁ (sensitivity EMA)",
                      height=380, template=TEMPLATE, margin=dict(t=60, b=50))
    return fig


TERM_NAMES = (("s_lam", "s(λᵢ)"), ("mean_s_P", "mean over j of s(Pⱼᵢ)"),
              ("mean_s_Q", "mean over j of s(Qᵢⱼ)"))


def score_terms_figure(terms):
    """terms: `labs.importance.score_terms(allocator)`. Left: S_i per triplet (log); right: the
    share of S_i each of the three terms contributes."""
    labels, S, parts = [], [], {key: [] for key, _ in TERM_NAMES}
    for name, t in terms.items():
        labels += [f"{name} #{i}" for i in range(len(t["S"]))]
        S += list(t["S"])
        for key, _ in TERM_NAMES:
            parts[key] += list(t[key])
    S = np.array(S)
    fig = make_subplots(rows=1, cols=2, subplot_titles=("triplet score Sᵢ (log scale)",
                                                        "share of Sᵢ from each term"))
    fig.add_bar(x=labels, y=sig(S), name="Sᵢ", marker_color="#2ca02c", row=1, col=1)
    colors = ("#1f77b4", "#ff7f0e", "#9467bd")
    for (key, label), color in zip(TERM_NAMES, colors):
        share = np.divide(parts[key], S, out=np.zeros_like(S), where=S > 0)
        fig.add_bar(x=labels, y=sig(share), name=label, marker_color=color, row=1, col=2)
    fig.update_yaxes(type="log", title_text="Sᵢ", row=1, col=1)
    fig.update_yaxes(title_text="fraction of Sᵢ", range=[0, 1], row=1, col=2)
    fig.update_xaxes(title_text="triplet")
    fig.update_layout(barmode="stack", height=420, template=TEMPLATE,
                      margin=dict(t=80, b=50),
                      title="Sᵢ = s(λᵢ) + mean s(P.ᵢ) + mean s(Qᵢ.), with s = Ī·Ū, at the last step",
                      legend=dict(title="term"))
    return fig


def predictiveness_figure(truth, finals):
    """finals: {score name: (n,) the score at the last step}. Each against the measured training
    loss increase when that triplet alone is masked, with Spearman's rho in the panel title."""
    names = list(finals)
    titles = [f"{name}: ρ = {spearmanr(values, truth).statistic:.3f}"
              for name, values in finals.items()]
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=titles, horizontal_spacing=0.08)
    for n, name in enumerate(names):
        fig.add_scatter(x=sig(finals[name]), y=sig(truth), mode="markers", name=name,
                        marker=dict(color=SCORE_COLORS.get(name), size=8), row=1, col=n + 1)
        fig.update_xaxes(type="log", title_text=f"{name} (log)", row=1, col=n + 1)
    fig.update_yaxes(title_text="loss increase when masked (nats)", row=1, col=1)
    fig.update_layout(title="Does the score rank triplets like masking them really does?",
                      height=380, template=TEMPLATE, margin=dict(t=80, b=50),
                      showlegend=False)
    return fig
