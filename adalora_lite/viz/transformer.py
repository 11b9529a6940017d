"""Figures for notebook 07 (AdaLoRA on MiniLM): where the rank went, and how the methods compare.

    rank_heatmap(ranks)          final rank of each adapted matrix, module x layer
    allocation_bars(ranks)       the same, averaged per module type and per layer
    accuracy_figure(runs)        held-out accuracy per method, one dot per seed, mean +- std
    results_table(runs)          the comparison as a fixed-width text table (for print)
    sweep_table(meta)            the recorded learning-rate sweep, as text

The recorded run replayed step by step (`labs.replay.RankReplay`, widgets.transformer):

    ReplayFrames(replay)                     per step, everything the three figures show
    replay_heatmap(frames, step, selected)   the rank heatmap at step t, the chosen matrix outlined
    replay_lambda_figure(frames, name, step) one matrix's |lambda| bars, kept vs masked
    replay_budget_figure(frames, step)       b(t), the schedule's phases, step t marked
Each has an `update_*` twin that only restyles what a step move changes.
"""
import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..labs.minilm_matrices import allocation_summary, rank_grid
from ..labs.transformer import summarize
from ..schedule import BudgetSchedule
from .budget import (kept_masked_bars, kept_masked_figure, lambda_range, mark_step,
                     schedule_figure, set_kept_masked)
from .style import TEMPLATE, batched

METHOD_LABELS = {"probe": "linear probe (frozen encoder)", "lora": "LoRA (uniform rank)",
                 "adalora": "AdaLoRA (adaptive rank)"}
METHOD_COLORS = {"probe": "#7f7f7f", "lora": "#1f77b4", "adalora": "#d62728"}


def rank_heatmap(ranks, *, title="Final rank of each adapted matrix", zmax=None, decimals=0):
    """Heatmap: rows are the six matrices of a block (W_q ... W_f2), columns the layers (1 = bottom).

    ranks: {module name: rank}, e.g. `allocator.ranks()`, or a mean over seeds (`decimals` > 0).
    """
    grid, labels, layers = rank_grid(ranks)
    return grid_heatmap(grid, labels, layers, title=title, zmax=zmax, decimals=decimals)


def grid_heatmap(grid, labels, layers, *, title, zmax=None, decimals=0):
    """The heatmap of a `rank_grid` (grid, module labels, layer numbers)."""
    fig = go.Figure(go.Heatmap(
        x=[f"layer {k}" for k in layers], y=labels, texttemplate="%{text}", colorscale="Reds",
        zmin=0, zmax=zmax, colorbar=dict(title=dict(text="rank<br>(triplets)")),
        hovertemplate="%{y}, %{x}: rank %{text}<extra></extra>"))
    fig.update_layout(title=title, xaxis_title="encoder layer (1 = next to the embeddings, 6 = top)",
                      yaxis_title="adapted matrix", yaxis_autorange="reversed",
                      template=TEMPLATE, height=380)
    set_grid(fig, grid, decimals)
    return fig


def set_grid(fig, grid, decimals=0):
    """Write `grid` into a `grid_heatmap`: colours and the number in every cell."""
    # Ranks of one run are integers: keep them integers in the figure too (a mean keeps 4 decimals).
    whole = decimals == 0 and np.all(np.isfinite(grid)) and np.all(grid == np.round(grid))
    fig.data[0].z = grid.astype(int) if whole else np.round(grid, 4)
    fig.data[0].text = [[f"{v:.{decimals}f}" for v in row] for row in grid]


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


# ------------------------------------------------------------------------ the recorded run, replayed
class ReplayFrames:
    """Everything the replay figures show, for every step of a `RankReplay`, computed once: a step
    move then only looks rows up (the widget's < 50 ms per move)."""

    def __init__(self, replay):
        self.replay, self.recording = replay, replay.recording
        self.grids, self.labels, self.layers = replay.rank_grids()  # (T+1, 6, n_layers)
        self.schedule = BudgetSchedule(**replay.schedule)
        self.lambda_range = lambda_range(np.abs(self.recording.lambdas).max())
        self.slices = self.recording.slices()  # {matrix: its triplets in a row}
        # (label, layer number) of every matrix, and back: what a heatmap cell or the dropdown names
        self.cell = {name: _cell(name) for name in self.recording.layer_names}
        self.name_of = {cell: name for name, cell in self.cell.items()}

    @property
    def n_steps(self):
        return self.replay.n_steps

    def matrix_label(self, name):
        label, layer = self.cell[name]
        return f"{label} of layer {layer}"

    def bars(self, name, step):
        """`kept_masked_bars` of matrix `name` at `step`: triplets 1..init_r."""
        cut = self.slices[name]
        lam = self.recording.lambdas[step, cut]
        x = np.arange(1, len(lam) + 1)
        return kept_masked_bars(x, lam, self.recording.masks[step, cut], np.stack([x, lam], axis=1))


def _cell(name):
    """(module label, layer number) of one adapted matrix, as `rank_grid` places it."""
    grid, labels, layers = rank_grid({name: 1})
    return labels[int(np.flatnonzero(np.isfinite(grid[:, 0]))[0])], layers[0]


def _heatmap_title(frames, step):
    return (f"Rank of each matrix at step t = {step} of {frames.n_steps}<br>"
            f"budget b(t) = {int(frames.recording.budgets[step])} triplets")


def replay_heatmap(frames, step, selected):
    """The rank heatmap at `step` (colour scale 0..init_r, fixed), `selected` matrix outlined."""
    fig = grid_heatmap(frames.grids[step], frames.labels, frames.layers,
                       title=_heatmap_title(frames, step), zmax=frames.replay.init_r)
    # Widths fixed so that heatmap and bars fit side by side in a notebook's output area (~950 px).
    fig.update_layout(height=400, width=510, margin=dict(t=60, b=60, l=70, r=10))
    select_cell(fig, frames, selected)
    return fig


def select_cell(fig, frames, name):
    """Outline matrix `name`'s cell (x, y are categories: cell k spans k - 0.5 .. k + 0.5)."""
    label, layer = frames.cell[name]
    x, y = frames.layers.index(layer), frames.labels.index(label)
    fig.layout.shapes = [dict(type="rect", xref="x", yref="y", x0=x - 0.5, x1=x + 0.5, y0=y - 0.5,
                              y1=y + 0.5, line=dict(color="black", width=3))]


def update_replay_heatmap(fig, frames, step):
    with batched(fig):
        set_grid(fig, frames.grids[step])
        fig.layout.title.text = _heatmap_title(frames, step)


def _lambda_title(frames, name, step, bars):
    return (f"{frames.matrix_label(name)} at step t = {step}:<br>{len(bars['kept']['x'])} kept, "
            f"{len(bars['masked']['x'])} masked")


def replay_lambda_figure(frames, name, step):
    """|lambda_i| of matrix `name`'s init_r triplets at `step`: kept (blue) and masked (orange)."""
    hover = "triplet %{customdata[0]:d}<br>lambda = %{customdata[1]:.4g}<extra>%{fullData.name}</extra>"
    r = frames.replay.init_r
    fig = kept_masked_figure(
        hover, frames.lambda_range, height=400, width=430, margin=dict(t=110, b=60, l=70, r=10),
        xaxis=dict(title="triplet i of this matrix", tickvals=list(range(1, r + 1)),
                   range=[0.4, r + 0.6]))
    update_replay_lambda_figure(fig, frames, name, step)
    return fig


def update_replay_lambda_figure(fig, frames, name, step):
    bars = frames.bars(name, step)
    with batched(fig):
        set_kept_masked(fig, bars)
        fig.layout.title.text = _lambda_title(frames, name, step, bars)


def replay_budget_figure(frames, step):
    """The schedule the allocator followed, b(t) (the recorded budgets lie on it), step t marked."""
    fig = schedule_figure(frames.schedule, step)
    fig.update_layout(height=320)
    return fig


def update_replay_budget_figure(fig, frames, step):
    with batched(fig):
        mark_step(fig, step, int(frames.recording.budgets[step]))
