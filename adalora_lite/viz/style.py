"""The one look of every figure in the suite: the plotly template, and batched updates.

    TEMPLATE       the plotly template every figure uses
    batched(fig)   a FigureWidget's `batch_update()` (one message per slider move), or a context
                   that does nothing for a plain Figure
"""
from contextlib import nullcontext

import plotly.graph_objects as go

TEMPLATE = "plotly_white"


def batched(fig):
    """`with batched(fig):` groups a FigureWidget's changes into one message; no-op otherwise."""
    return fig.batch_update() if isinstance(fig, go.FigureWidget) else nullcontext()
