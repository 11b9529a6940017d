"""Pictures of the idea: the shapes in W0 + (alpha/r) B A and in W0 + (alpha/r) P diag(lambda) Q.

Drawn by code (plotly shapes), so they render the same in JupyterLab, Voila and the course site.
Each matrix is a grid of cells at its true shape (d_out x d_in = 6 x 8 by default, rank r):

    lora_diagram(r, doublet)     W0 (frozen, grey) + (alpha/r) B A; doublet i = {B[:, i], A[i, :]}
    svd_diagram(r, masked)       W0 + (alpha/r) P diag(lambda) Q; a masked triplet's lambda_i is 0,
                                 while its P column and Q row stay in place and keep training

The LoRA paper: Hu et al. (2021), eq. (3) and §4.1 (the scale alpha/r). The SVD form: Zhang et al.
(ICLR 2023), eq. (3); masking lambda_i only: §3.1 and eq. (6).
"""
import plotly.graph_objects as go

from ..counting import parameter_count
from ..errors import check_int
from .style import TEMPLATE

FROZEN, TRAINED, PICKED, MASKED, EMPTY = "#b0b0b0", "#4c78a8", "#f58518", "#e45756", "#ffffff"
GAP, WIDE = 1.2, 3.0  # horizontal room for "·" and for "+ α/r ·" between two matrices


def _block(fig, x0, rows, cols, color, label, shape_text, cell_color=None):
    """A rows x cols grid with its top-left corner at (x0, 0); returns the x where it ends."""
    for i in range(rows):
        for j in range(cols):
            fill = cell_color(i, j) if cell_color else color
            fig.add_shape(type="rect", x0=x0 + j, x1=x0 + j + 1, y0=-i, y1=-i - 1,
                          fillcolor=fill, line=dict(color="white", width=1))
    fig.add_annotation(x=x0 + cols / 2, y=0.7, text=f"<b>{label}</b>", showarrow=False,
                       font=dict(size=15))
    fig.add_annotation(x=x0 + cols / 2, y=-rows - 0.6, text=shape_text, showarrow=False,
                       font=dict(size=11, color="#555"))
    return x0 + cols


def _operator(fig, x, text, y=-3):
    room = WIDE if len(text) > 1 else GAP
    fig.add_annotation(x=x + room / 2, y=y, text=f"<b>{text}</b>", showarrow=False, font=dict(size=20))
    return x + room


def _figure(title, width, notes):
    fig = go.Figure()
    fig.update_layout(template=TEMPLATE, title=title, height=330, width=None,
                      margin=dict(l=20, r=20, t=60, b=60), showlegend=False,
                      xaxis=dict(visible=False, range=[-0.5, width + 0.5]),
                      yaxis=dict(visible=False, range=[-9.5, 1.5], scaleanchor="x"))
    fig.add_annotation(x=0, y=-8.6, xanchor="left", text=notes, showarrow=False, align="left",
                       font=dict(size=12))
    return fig


def _check_shape(r, d_out, d_in):
    """Sizes a diagram can draw: d_out, d_in >= 1 and a rank 1..min(d_out, d_in)."""
    d_out, d_in = check_int("d_out", d_out, low=1), check_int("d_in", d_in, low=1)
    return check_int("r", r, low=1, high=min(d_out, d_in)), d_out, d_in


def lora_diagram(r=2, doublet=0, d_out=6, d_in=8):
    """W0 + (alpha/r) B A at true shapes; doublet `doublet` (B's column, A's row) highlighted."""
    r, d_out, d_in = _check_shape(r, d_out, d_in)
    doublet = check_int("doublet", doublet, low=0, high=r - 1)
    fig = _figure("LoRA: h = W<sub>0</sub>x + (α/r)·B A x", d_in + r + d_in + WIDE + GAP,
                  f"grey: frozen, blue: trained, orange: doublet {doublet} = {{B[:, {doublet}], "
                  f"A[{doublet}, :]}}.<br>Trained parameters: r·(d_out + d_in) = {parameter_count(d_out, d_in, r)} "
                  f"instead of d_out·d_in = {parameter_count(d_out, d_in, kind='full')}.")
    x = _block(fig, 0, d_out, d_in, FROZEN, "W<sub>0</sub>", f"d_out × d_in = {d_out}×{d_in}")
    x = _operator(fig, x, "+ α/r ·")
    x = _block(fig, x, d_out, r, TRAINED, "B", f"d_out×r = {d_out}×{r}", lambda i, j: PICKED if j == doublet else TRAINED)
    x = _operator(fig, x, "·")
    _block(fig, x, r, d_in, TRAINED, "A", f"r×d_in = {r}×{d_in}", lambda i, j: PICKED if i == doublet else TRAINED)
    return fig


def svd_diagram(r=3, masked=(2,), d_out=6, d_in=8):
    """W0 + (alpha/r) P diag(lambda) Q; the triplets in `masked` have lambda_i = 0 (red)."""
    r, d_out, d_in = _check_shape(r, d_out, d_in)
    masked = tuple(check_int("masked triplet", i, low=0, high=r - 1) for i in masked)
    word = ("triplet " if len(masked) == 1 else "triplets ") + (", ".join(map(str, masked)) or "none")
    fig = _figure("AdaLoRA's SVD form: Δ = P diag(λ) Q (eq. 3)", d_in + 2 * r + d_in + WIDE + 2 * GAP,
                  f"orange: kept λ<sub>i</sub>; red: masked λ<sub>i</sub> = 0 ({word}); pale: that triplet's P column and Q "
                  "row, kept and still trained, so it can come back.<br>Mask the λ and the rank drops; "
                  "nothing is deleted. Budget b(t) = unmasked triplets over all matrices.")
    pale = "#a6c8e8"
    x = _block(fig, 0, d_out, d_in, FROZEN, "W<sub>0</sub>", f"d_out × d_in = {d_out}×{d_in}")
    x = _operator(fig, x, "+ α/r ·")
    x = _block(fig, x, d_out, r, TRAINED, "P", f"{d_out}×{r}",
               lambda i, j: pale if j in masked else TRAINED)
    x = _operator(fig, x, "·")
    x = _block(fig, x, r, r, EMPTY, "diag(λ)", f"{r}×{r}",
               lambda i, j: (MASKED if i in masked else PICKED) if i == j else "#f2f2f2")
    x = _operator(fig, x, "·")
    _block(fig, x, r, d_in, TRAINED, "Q", f"{r}×{d_in}", lambda i, j: pale if i in masked else TRAINED)
    return fig
