"""Figures for notebook 04 (LoRA's doublet vs AdaLoRA's triplet): state in, plotly figure out.

    orthogonality_figure(run)          ||P^T P - I||_F and ||Q Q^T - I||_F per layer over training
    singular_values_figure(run, step)  sorted |lambda| next to the true singular values of P diag(lam) Q
    gamma_summary_figure(sweep)        final orthogonality error, lambda/sigma gap and accuracy vs gamma
    regrowth_figure(regrowth)          a masked triplet grows back, a pruned LoRA doublet never does
    revival_figure(run, event)         a triplet masked by the allocator and later kept again
    init_figure(comparison, last_step) LoRA vs SVD with orthogonal vs Gaussian (PEFT) init
    update_figure(fig, new)            copy a freshly built figure's data into a live FigureWidget

Numbers drawn are rounded to 4 significant digits (`sig`): plenty for the eye, and it keeps the
stored notebook outputs small and stable.
"""
import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..labs.svd import lambda_sv_gap
from .style import TEMPLATE

LAYER_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728")
VARIANT_COLORS = {"LoRA": "#7f7f7f", "SVD, orthogonal init": "#1f77b4",
                  "SVD, Gaussian init (PEFT)": "#d62728"}


def sig(a, digits=4):
    """`a` rounded to `digits` significant digits (NaN and 0 pass through)."""
    a = np.asarray(a, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = np.where(np.isfinite(a) & (a != 0), np.floor(np.log10(np.abs(a))), 0)
        scale = 10.0 ** (digits - 1 - mag)
        return np.where(np.isfinite(a), np.round(a * scale) / scale, a)


def _run_label(run):
    return f"init={run.meta['init']}, gamma={run.meta['gamma']:g}"


def orthogonality_figure(run):
    """||P^T P - I||_F (solid) and ||Q Q^T - I||_F (dashed) of every layer, per training step."""
    fig = go.Figure()
    for k, name in enumerate(run.layer_names):
        color = LAYER_COLORS[k % len(LAYER_COLORS)]
        fig.add_scatter(x=run.steps, y=sig(run.orth_P[:, k]), name=f"{name}: ||PᵀP − I||",
                        line=dict(color=color))
        fig.add_scatter(x=run.steps, y=sig(run.orth_Q[:, k]), name=f"{name}: ||QQᵀ − I||",
                        line=dict(color=color, dash="dash"))
    fig.update_layout(
        title=f"Distance from orthonormal P and Q during training ({_run_label(run)})",
        xaxis_title="training step", height=380, template=TEMPLATE,
        margin=dict(t=60, b=50),
        yaxis=dict(title="Frobenius norm (log scale)", type="log", range=[-3, 1.3]),
        legend=dict(title="layer: quantity"))
    return fig


def singular_values_figure(run, step=-1):
    """Per layer, the triplets' |lambda| sorted (bars) next to the true singular values of
    P diag(lambda) Q at `step`; they coincide only when P and Q are orthonormal."""
    i = run.row(step)
    gaps = lambda_sv_gap(run, step)
    cats, lam, sv = [], [], []
    for name, cols in run.slices().items():
        cats += [f"{name} #{k + 1}" for k in range(cols.stop - cols.start)]
        lam += list(np.sort(np.abs(run.lambdas[i, cols]))[::-1])
        sv += list(run.sv[i, cols])
    fig = go.Figure()
    fig.add_bar(x=cats, y=sig(lam), name="|λ| (sorted)", marker_color="#1f77b4")
    fig.add_bar(x=cats, y=sig(sv), name="true singular value of P diag(λ) Q",
                marker_color="#ff7f0e")
    gap_text = ", ".join(f"{name} {gaps[name]:.3f}" for name in run.layer_names)
    fig.update_layout(
        barmode="group", height=380, template=TEMPLATE,
        margin=dict(t=80, b=50),
        title=(f"λ vs the singular values they stand for, step {int(run.steps[i])} "
               f"({_run_label(run)})<br><sup>relative gap ||sort|λ| − σ|| / ||σ||: {gap_text}</sup>"),
        xaxis_title="layer, triplet rank (largest first)", yaxis_title="value (no unit)",
        legend=dict(orientation="h", y=-0.25))
    return fig


def gamma_summary_figure(sweep):
    """For every init: the final orthogonality error, lambda/sigma gap and test accuracy vs gamma."""
    inits = sorted({init for init, _ in sweep}, key=lambda s: s != "orthogonal")
    gammas = sorted({g for _, g in sweep})
    labels = [f"{g:g}" for g in gammas]
    fig = make_subplots(rows=1, cols=3, subplot_titles=(
        "||PᵀP − I|| + ||QQᵀ − I|| (mean over layers)", "λ vs σ relative gap (mean over layers)",
        "test accuracy"))
    for n, init in enumerate(inits):
        color = LAYER_COLORS[n]
        runs = [sweep[(init, g)] for g in gammas]
        orth = [float((r.orth_P[-1] + r.orth_Q[-1]).mean()) for r in runs]
        gap = [float(np.mean(list(lambda_sv_gap(r).values()))) for r in runs]
        acc = [r.test_accuracy for r in runs]
        for col, ys in ((1, orth), (2, gap), (3, acc)):
            fig.add_scatter(x=labels, y=sig(ys), name=f"init={init}", legendgroup=init,
                            showlegend=col == 1, line=dict(color=color), mode="lines+markers",
                            row=1, col=col)
    fig.update_yaxes(type="log", title_text="Frobenius norm (log)", row=1, col=1)
    fig.update_yaxes(type="log", title_text="relative gap (log)", row=1, col=2)
    fig.update_yaxes(title_text="fraction correct", row=1, col=3)
    fig.update_xaxes(title_text="γ (regularizer weight)")
    fig.update_layout(title="After 300 steps: what the regularizer weight γ buys, and costs",
                      height=380, template=TEMPLATE, margin=dict(t=80, b=50),
                      legend=dict(title="P, Q init"))
    return fig


def regrowth_figure(rg):
    """Left: the size of the masked SVD triplet (|lambda_i|) and of the pruned LoRA doublet
    (||B_.j|| ||A_j.||); right: the gradient each receives. Dotted line: the masking step."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=(
        "size of the removed component", "gradient it receives"))
    svd_name = f"SVD triplet {rg.triplet} of {rg.layer}"
    lora_name = f"LoRA doublet {rg.doublet} of {rg.layer}"
    fig.add_scatter(x=rg.steps, y=sig(np.abs(rg.svd_lam)), name=f"{svd_name}: |λ|",
                    line=dict(color="#1f77b4"), row=1, col=1)
    fig.add_scatter(x=rg.steps, y=sig(rg.lora_norm), name=f"{lora_name}: ||B.ⱼ||·||Aⱼ.||",
                    line=dict(color="#7f7f7f"), row=1, col=1)
    fig.add_scatter(x=rg.steps, y=sig(np.abs(rg.svd_lam_grad)), name=f"{svd_name}: |∂L/∂λ|",
                    line=dict(color="#1f77b4", dash="dot"), row=1, col=2)
    fig.add_scatter(x=rg.steps, y=sig(rg.lora_grad), name=f"{lora_name}: ||∂L/∂B.ⱼ|| + ||∂L/∂Aⱼ.||",
                    line=dict(color="#7f7f7f", dash="dot"), row=1, col=2)
    for col in (1, 2):
        fig.add_vline(x=rg.mask_at, line_dash="dash", line_color="black", row=1, col=col)
    fig.update_xaxes(title_text="training step")
    fig.update_yaxes(title_text="magnitude (no unit)", row=1, col=1)
    fig.update_yaxes(title_text="gradient magnitude", row=1, col=2)
    fig.update_layout(
        title=f"Removed after step {rg.mask_at}: the masked triplet grows back, the pruned doublet is gone",
        height=440, template=TEMPLATE, margin=dict(t=80, b=50),
        legend=dict(orientation="h", y=-0.3))
    return fig


def revival_figure(run, event):
    """A triplet the RankAllocator masked and later kept again: its |lambda| (top) and its score
    next to the keep threshold, the b(t)-th highest score (bottom). Shaded: steps it was masked."""
    col = run.slices()[event.layer].start + event.index
    lo = max(1, event.masked_at - 25)
    hi = min(int(run.steps[-1]), max(event.kept_until, event.revived_at) + 25)
    rows = slice(run.row(lo), run.row(hi) + 1)  # only the window, so the y ranges fit it
    steps = run.steps[rows]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.1,
                        subplot_titles=("|λ| of the triplet", "its score S vs the keep threshold"))
    fig.add_scatter(x=steps, y=sig(np.abs(run.lambdas[rows, col])), name="|λ|",
                    line=dict(color="#1f77b4"), row=1, col=1)
    threshold = [run.threshold(s) for s in steps]
    fig.add_scatter(x=steps, y=sig(run.scores[rows, col]), name="score S of the triplet",
                    line=dict(color="#2ca02c"), row=2, col=1)
    fig.add_scatter(x=steps, y=sig(threshold), name="b(t)-th highest score (keep threshold)",
                    line=dict(color="black", dash="dash"), row=2, col=1)
    for start, stop in _masked_stretches(run.masks[rows, col], steps):
        fig.add_vrect(x0=start - 0.5, x1=stop + 0.5, fillcolor="#d62728", opacity=0.15,
                      line_width=0, row="all", col=1)
    fig.update_xaxes(title_text="training step", row=2, col=1)
    fig.update_yaxes(title_text="|λ|", row=1, col=1)
    fig.update_yaxes(title_text="score (log)", type="log", row=2, col=1)
    fig.update_layout(
        title=(f"{event.layer} triplet {event.index}: masked after step {event.masked_at}, "
               f"kept again after steps {event.revived_at}–{event.kept_until} (red: masked)"),
        height=500, template=TEMPLATE, margin=dict(t=80, b=50),
        legend=dict(orientation="h", y=-0.15))
    return fig


def _masked_stretches(mask, steps):
    """[(first, last)] step ranges where `mask` is False."""
    out, start = [], None
    for kept, step in zip(mask, steps):
        if not kept and start is None:
            start = int(step)
        elif kept and start is not None:
            out.append((start, prev))
            start = None
        prev = int(step)
    if start is not None:
        out.append((start, prev))
    return out


def init_figure(comparison, *, last_step=None):
    """Training loss and update size ||Delta W|| per step, for LoRA and the two SVD inits, over the
    steps up to `last_step` (default: all of them)."""
    shown = slice(None) if last_step is None else comparison.steps <= last_step
    steps = comparison.steps[shown]
    fig = make_subplots(rows=1, cols=2, subplot_titles=(
        "training loss (whole training set)", "size of the update ΔW (summed over layers)"))
    for label, loss in comparison.train_loss.items():
        color = VARIANT_COLORS.get(label)
        fig.add_scatter(x=steps, y=sig(loss[shown]), name=label, legendgroup=label,
                        line=dict(color=color), row=1, col=1)
        fig.add_scatter(x=steps, y=sig(comparison.update_norm[label][shown]), name=label,
                        legendgroup=label, showlegend=False, line=dict(color=color), row=1, col=2)
    fig.update_xaxes(title_text="training step")
    fig.update_yaxes(title_text="cross-entropy (nats)", row=1, col=1)
    fig.update_yaxes(title_text="Frobenius norm of ΔW", row=1, col=2)
    of = "" if last_step is None else f" (the first {int(steps[-1])} of {len(comparison.steps)} steps)"
    fig.update_layout(title=f"Same data, same learning rate: how fast each parameterization starts{of}",
                      height=380, template=TEMPLATE, margin=dict(t=80, b=50),
                      legend=dict(title="adapter"))
    return fig


def update_figure(fig, new):
    """Copy the data (x, y) and the title of freshly built `new` into the live `fig` (same traces)."""
    with fig.batch_update():
        for trace, fresh in zip(fig.data, new.data):
            trace.x, trace.y = fresh.x, fresh.y
            trace.name = fresh.name
        fig.layout.title.text = new.layout.title.text
