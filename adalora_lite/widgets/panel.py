"""Panel: the base of every widget panel, a VBox whose display also leaves a static figure behind.

A widget view lives only while a kernel backs it: a saved notebook, a page of the course site, or
the classroom projector before the kernel starts would show a widget cell as a line of text. So a
panel's display carries, next to the widget view, a plain plotly figure of what the panel shows
when it is displayed (its default state). JupyterLab and Voila rank the widget view first and show
the live panel; everything else shows the figure.
"""
import json

import ipywidgets as widgets
import plotly.graph_objects as go

PLOTLY_MIMETYPE = "application/vnd.plotly.v1+json"


class Panel(widgets.VBox):
    main_figure = "figure"  # the attribute holding the FigureWidget that stands for the panel

    def static_figure(self):
        """The panel's main figure as it is now, a plain go.Figure."""
        return go.Figure(getattr(self, self.main_figure))

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        figure = json.loads(self.static_figure().to_json())
        bundle[PLOTLY_MIMETYPE] = {"data": figure["data"], "layout": figure["layout"], "config": {}}
        return bundle
