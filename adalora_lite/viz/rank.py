"""Figures for notebook 01 (rank and low-rank approximation): state in, plotly figure out.

    spectrum_figure(spectra)              singular values of one or more matrices, log scale
    cumulative_energy_figure(spectra)     fraction of ||W||_F^2 kept by the best rank-r approximation
    eckart_young_figure(ranks, ...)       measured ||W - W_r||_F against the spectrum's tail
    compression_figure(approx, r)         original image | rank-r image | spectrum with the kept part
    update_compression_figure(fig, approx, r)   move an existing compression figure to rank r
    compression_readout(approx, r)        the one-line summary shown with that figure
    truncations_figure(W, {r: W_r})       the image next to rank-r approximations made by any function
"""
import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..counting import parameter_count
from .style import TEMPLATE

KEPT_COLOR = "#1f77b4"
DROPPED_COLOR = "#bbbbbb"
PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


def _line_style(i, paired):
    """paired: traces 2j and 2j+1 share a colour, the second one dashed (e.g. trained vs random)."""
    if not paired:
        return dict(color=PALETTE[i % len(PALETTE)])
    return dict(color=PALETTE[(i // 2) % len(PALETTE)], dash="dash" if i % 2 else "solid")


def spectrum_figure(spectra, *, title="Singular values", normalize=False, log_y=True,
                    marks=None, paired=False):
    """One line per matrix: sigma_i against i (i = 1, 2, ...).

    paired: consecutive spectra share a colour, the second dashed (a matrix, then its control).
    spectra: {label: sigma}. normalize: divide each spectrum by its largest value sigma_1.
    marks: optional {label: r}, drawn as a dotted vertical line at r (e.g. an effective rank).
    """
    fig = go.Figure()
    for i, (label, s) in enumerate(spectra.items()):
        s = np.asarray(s, dtype=np.float64)
        y = s / s[0] if normalize else s
        fig.add_trace(go.Scatter(x=np.arange(1, len(s) + 1), y=y, mode="lines", name=label,
                                 line=_line_style(i, paired)))
    for label, r in (marks or {}).items():
        fig.add_vline(x=r, line_dash="dot", line_color="gray", annotation_text=label,
                      annotation_position="top right")
    fig.update_layout(title=title, xaxis_title="index i (largest singular value first)",
                      yaxis_title="sigma_i / sigma_1 (unitless)" if normalize else "singular value sigma_i",
                      yaxis_type="log" if log_y else "linear", legend_title="matrix",
                      template=TEMPLATE)
    return fig


def cumulative_energy_figure(spectra, *, title="How fast the energy accumulates",
                             relative_rank=False, level=None, paired=False):
    """One line per matrix: sum_{i<=r} sigma_i^2 / sum_i sigma_i^2 against r (or r / min(d_out, d_in)).

    level: optional fraction (e.g. 0.9) drawn as a horizontal reference line.
    paired: as in spectrum_figure.
    """
    fig = go.Figure()
    for i, (label, s) in enumerate(spectra.items()):
        s = np.asarray(s, dtype=np.float64)
        energy = np.cumsum(s ** 2) / np.sum(s ** 2)
        r = np.arange(1, len(s) + 1)
        fig.add_trace(go.Scatter(x=r / len(s) if relative_rank else r, y=energy, mode="lines",
                                 name=label, line=_line_style(i, paired)))
    if level is not None:
        fig.add_hline(y=level, line_dash="dot", line_color="gray",
                      annotation_text=f"{level:.0%} of the energy", annotation_position="bottom right")
    fig.update_layout(title=title,
                      xaxis_title="rank r / min(d_out, d_in)" if relative_rank else "rank r",
                      yaxis_title="fraction of ||W||_F^2 kept", yaxis_range=[0, 1.02],
                      legend_title="matrix", template=TEMPLATE)
    return fig


def eckart_young_figure(ranks, measured, tail, random=None, *,
                        title="Eckart-Young: the error of the best rank-r approximation is the tail"):
    """measured[i] = ||W - W_r||_F at r = ranks[i]; tail[i] = sqrt(sum_{j>r} sigma_j^2);
    random (optional) = the error of a rank-r approximation through a random subspace."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=ranks, y=tail, mode="lines", name="sqrt(sum of sigma_j^2, j > r)",
                             line=dict(width=6, color="#ffbb78")))
    fig.add_trace(go.Scatter(x=ranks, y=measured, mode="markers", name="||W - W_r||_F measured",
                             marker=dict(color=KEPT_COLOR, size=7)))
    if random is not None:
        fig.add_trace(go.Scatter(x=ranks, y=random, mode="lines+markers",
                                 name="random rank-r projection", line=dict(color="#d62728")))
    fig.update_layout(title=title, xaxis_title="rank r", yaxis_title="Frobenius error (pixel units)",
                      legend_title="error", template=TEMPLATE)
    return fig


def _image_z(matrix, step):
    """Gray levels 0..255 (uint8), every `step`-th pixel: small enough to live in a notebook."""
    return np.clip(np.round(np.asarray(matrix)[::step, ::step] * 255), 0, 255).astype(np.uint8)


def compression_readout(approx, r):
    """'rank r = ... relative error ... parameters ...' for approx (a LowRankApprox) at rank r."""
    d, k = approx.shape
    params, full = parameter_count(d, k, r), parameter_count(d, k, kind="full")
    return (f"rank r = {r} of {approx.n} · relative error ||W - W_r||_F / ||W||_F = "
            f"{approx.relative_error(r):.2%} · parameters (d + k) r = {params:,} "
            f"vs d k = {full:,} ({params / full:.1%})")


def compression_figure(approx, r, *, step=2):
    """Three panels: the original image, its best rank-r approximation, and the singular values
    with the r kept ones highlighted. approx: a LowRankApprox of a grayscale image in [0, 1].
    step: show every step-th pixel (the maths uses every pixel)."""
    fig = make_subplots(rows=1, cols=3, column_widths=[0.34, 0.34, 0.32], horizontal_spacing=0.06,
                        subplot_titles=("original", f"best rank-{r} approximation",
                                        "singular values"))
    gray = dict(colorscale="gray", zmin=0, zmax=255, showscale=False,
                hovertemplate="x %{x}, y %{y}: gray level %{z}<extra></extra>")
    fig.add_trace(go.Heatmap(z=_image_z(approx.W, step), name="original", **gray), row=1, col=1)
    fig.add_trace(go.Heatmap(z=_image_z(approx.approx(r), step), name="rank r", **gray), row=1, col=2)
    i = np.arange(1, approx.n + 1)
    fig.add_trace(go.Scatter(x=i[:r], y=approx.sigma[:r], mode="markers", name="kept (i <= r)",
                             marker=dict(color=KEPT_COLOR, size=4)), row=1, col=3)
    fig.add_trace(go.Scatter(x=i[r:], y=approx.sigma[r:], mode="markers", name="discarded (i > r)",
                             marker=dict(color=DROPPED_COLOR, size=4)), row=1, col=3)
    for col in (1, 2):
        fig.update_xaxes(showticklabels=False, row=1, col=col, title_text=f"{approx.shape[1]} px")
        fig.update_yaxes(showticklabels=False, autorange="reversed", row=1, col=col,
                         scaleanchor=f"x{'' if col == 1 else col}", title_text=f"{approx.shape[0]} px")
    fig.update_xaxes(title_text="index i", row=1, col=3)
    fig.update_yaxes(title_text="singular value sigma_i", type="log", row=1, col=3)
    fig.update_layout(title=dict(text=compression_readout(approx, r), font=dict(size=13)),
                      legend=dict(title="spectrum", x=1.0, xanchor="right", y=1.0,
                                  bgcolor="rgba(255,255,255,0.7)"),
                      height=380, width=1050, margin=dict(t=90, l=20, r=20, b=40),
                      template=TEMPLATE)
    return fig


def update_compression_figure(fig, approx, r, *, step=2):
    """Move a compression figure (Figure or FigureWidget) to rank r, in one batch update."""
    i = np.arange(1, approx.n + 1)
    with fig.batch_update():
        fig.data[1].z = _image_z(approx.approx(r), step)
        fig.data[2].x, fig.data[2].y = i[:r], approx.sigma[:r]
        fig.data[3].x, fig.data[3].y = i[r:], approx.sigma[r:]
        fig.layout.title.text = compression_readout(approx, r)
        fig.layout.annotations[1].text = f"best rank-{r} approximation"
    return fig


def truncations_figure(W, approximations, *, step=2, title=None):
    """The image W next to its approximations {r: W_r}, each titled with its rank and its relative
    error ||W - W_r||_F / ||W||_F. Used with any truncation function (notebook 01's exercise)."""
    W = np.asarray(W, dtype=np.float64)
    norm = np.linalg.norm(W)
    titles = ["original"] + [f"rank {r}: relative error {np.linalg.norm(W - Wr) / norm:.1%}"
                             for r, Wr in approximations.items()]
    n = len(titles)
    fig = make_subplots(rows=1, cols=n, subplot_titles=titles, horizontal_spacing=0.02)
    gray = dict(colorscale="gray", zmin=0, zmax=255, showscale=False,
                hovertemplate="x %{x}, y %{y}: gray level %{z}<extra></extra>")
    for col, M in enumerate([W, *approximations.values()], start=1):
        fig.add_trace(go.Heatmap(z=_image_z(M, step), name=titles[col - 1], **gray), row=1, col=col)
        fig.update_xaxes(showticklabels=False, row=1, col=col)
        fig.update_yaxes(showticklabels=False, autorange="reversed", row=1, col=col,
                         scaleanchor=f"x{'' if col == 1 else col}")
    fig.update_layout(title=title or "The photograph truncated to rank r", template=TEMPLATE,
                      height=300, width=300 * n, margin=dict(t=80, l=10, r=10, b=10))
    return fig
