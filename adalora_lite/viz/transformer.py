"""Figures for notebook 07 (AdaLoRA on MiniLM): where the rank went, and how the methods compare.

    rank_heatmap(ranks)          final rank of each adapted matrix, module x layer
    allocation_bars(ranks)       the same, averaged per module type and per layer
    accuracy_figure(runs)        held-out accuracy per method, one dot per seed, mean +- std
    results_table(runs)          the comparison as a fixed-width text table (for print)
    sweep_table(meta)            the recorded learning-rate sweep, as text
"""
import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..labs.transformer import allocation_summary, rank_grid, summarize
from .style import TEMPLATE

METHOD_LABELS = {"probe": "linear probe (frozen encoder)", "lora": "LoRA (uniform rank)",
                 "adalora": "AdaLoRA (adaptive rank)"}
METHOD_COLORS = {"probe": "#7f7f7f", "lora": "#1f77b4", "adalora": "#d62728"}


def rank_heatmap(ranks, *, title="Final rank of each adapted matrix", zmax=None, decimals=0):
    """Heatmap: rows are the six matrices of a block (W_q ... W_f2), columns the layers (1 = bottom).

    ranks: {module name: rank}, e.g. `allocator.ranks()`, or a mean over seeds (`decimals` > 0).
    """
    grid, labels, layers = rank_grid(ranks)
    text = [[f"{v:.{decimals}f}" for v in row] for row in grid]
    # Ranks of one run are integers: keep them integers in the figure too (a mean keeps 4 decimals).
    whole = decimals == 0 and np.all(np.isfinite(grid)) and np.all(grid == np.round(grid))
    fig = go.Figure(go.Heatmap(
        z=grid.astype(int) if whole else np.round(grid, 4), x=[f"layer {k}" for k in layers],
        y=labels, text=text, texttemplate="%{text}", colorscale="Reds", zmin=0, zmax=zmax,
        colorbar=dict(title=dict(text="rank<br>(triplets)")),
        hovertemplate="%{y}, %{x}: rank %{text}<extra></extra>"))
    fig.update_layout(title=title, xaxis_title="encoder layer (1 = next to the embeddings, 6 = top)",
                      yaxis_title="adapted matrix", yaxis_autorange="reversed",
                      template=TEMPLATE, height=380)
    return fig


def allocation_bars(ranks, *, title="Mean rank per matrix: by module type and by layer"):
    """Two bar charts: mean rank per module type (attention vs feed-forward colours) and per layer."""
    summary = allocation_summary(ranks)
    fig = make_subplots(rows=1, cols=2, subplot_titles=("by module type", "by layer"))
    modules = list(summary["per_module"])
    fig.add_bar(x=modules, y=[round(summary["per_module"][m], 4) for m in modules], row=1, col=1,
                name="per module type", showlegend=False,
                marker_color=["#d62728" if m.startswith("W_f") else "#1f77b4" for m in modules])
    layers = list(summary["per_layer"])
    fig.add_bar(x=[f"layer {k}" for k in layers], y=[round(summary["per_layer"][k], 4) for k in layers],
                row=1, col=2, name="per layer", showlegend=False, marker_color="#9467bd")
    fig.update_yaxes(title_text="mean rank (triplets per matrix)", row=1, col=1)
    fig.update_yaxes(title_text="mean rank (triplets per matrix)", row=1, col=2)
    fig.update_xaxes(title_text="matrix (red: feed-forward, blue: attention)", row=1, col=1)
    fig.update_xaxes(title_text="encoder layer (1 = bottom)", row=1, col=2)
    fig.update_layout(title=title, template=TEMPLATE, height=360)
    return fig


def accuracy_figure(runs, *, title="Held-out accuracy, one dot per seed", chance=0.5):
    """Strip plot of accuracy (%) per method, one dot per seed, a diamond at the mean +- std."""
    fig = go.Figure()
    for row in summarize(runs):
        method, label = row["method"], METHOD_LABELS.get(row["method"], row["method"])
        accs = [100 * r["accuracy"] for r in runs if r["method"] == method]
        fig.add_scatter(x=[label] * len(accs), y=np.round(accs, 3), mode="markers",
                        name=f"{label}: seeds", marker=dict(color=METHOD_COLORS.get(method), size=9,
                                                           opacity=0.6), legendgroup=method)
        fig.add_scatter(x=[label], y=[round(100 * row["mean"], 3)], mode="markers",
                        name=f"{label}: mean +- std", legendgroup=method,
                        marker=dict(color=METHOD_COLORS.get(method), symbol="diamond-wide", size=16,
                                    line=dict(color="black", width=1)),
                        error_y=dict(type="data", array=[round(100 * row["std"], 3)], width=12))
    if chance is not None:
        fig.add_hline(y=100 * chance, line_dash="dot", line_color="gray",
                      annotation_text="chance (balanced classes)", annotation_position="bottom right")
    fig.update_layout(title=title, xaxis_title="method", yaxis_title="test accuracy (%)",
                      template=TEMPLATE, legend_title="runs", height=420)
    return fig


def results_table(runs):
    """The comparison as text: accuracy mean +- std (min-max) over seeds, parameters, rank, time."""
    head = (f"{'method':<32}{'seeds':>6}{'accuracy % (mean +- std)':>27}{'min-max %':>15}"
            f"{'trained params':>16}{'adapter params at end':>23}{'total rank':>12}")
    lines = [head, "-" * len(head)]
    for row in summarize(runs):
        acc = f"{100 * row['mean']:.1f} +- {100 * row['std']:.1f}"
        spread = f"{100 * row['min']:.1f}-{100 * row['max']:.1f}"
        lines.append(f"{METHOD_LABELS.get(row['method'], row['method']):<32}{row['n']:>6}{acc:>27}"
                     f"{spread:>15}{row['trained_parameters']:>16,}"
                     f"{round(row['final_adapter_parameters']):>23,}{row['total_rank']:>12}")
    return "\n".join(lines)


def sweep_table(meta):
    """The recorded learning-rate sweep (benchmarks/run.py --only accuracy) as text: per method and
    learning rate, the training loss of the last epoch (the selection criterion) and test accuracy."""
    sweep = meta.get("lr_sweep") or []
    head = f"{'method':<10}{'lr':>8}{'train loss (last epoch)':>26}{'test accuracy %':>18}  chosen"
    lines = [head, "-" * len(head)]
    for row in sweep:
        mark = "<-" if meta["chosen_lr"][row["method"]] == row["lr"] else ""
        lines.append(f"{row['method']:<10}{row['lr']:>8g}{row['train_loss_last_epoch']:>26.3f}"
                     f"{100 * row['accuracy']:>18.1f}  {mark}")
    return "\n".join(lines)
