"""Panel: the base of every widget panel, a VBox whose display also leaves a static figure behind.

A widget view lives only while a kernel backs it: a saved notebook, a page of the course site, or
the classroom projector before the kernel starts would show a widget cell as a line of text. So a
panel's display carries, next to the widget view, a plain plotly figure of what the panel shows
when it is displayed (its default state). JupyterLab and Voila rank the widget view first and show
the live panel; everything else shows the figure.

ReplayPanel: a Panel that replays a recorded run by step (notebook 06's dashboard, notebook 07's
MiniLM replay): a step slider with a Play button, `show_step(step)` on every move, and
`time_step_updates` to measure what a move costs on the Python side.
"""
import json
import time

import ipywidgets as widgets
import numpy as np
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


class ReplayPanel(Panel):
    """Subclasses call `step_controls` once (before drawing, so `self.step` is set) and define
    `show_step(step)`: redraw the figures for that step of the recording, never train."""

    def step_controls(self, n_steps, step, css, *, width="700px", play_step=5, interval=60):
        """The step slider (0..n_steps, CSS class `css`, updating while dragged) and a Play
        button linked to it in the kernel; returns them in an HBox.

        Linked in the kernel, not in the page (`jslink`): a slider move then sends the kernel one
        message instead of two (the Play's, first, then the slider's), and the redraw starts
        sooner (benchmarks/README.md, "Issue 20's speed goals")."""
        self.step_slider = widgets.IntSlider(value=step, min=0, max=n_steps, description="step t",
                                             continuous_update=True, layout=widgets.Layout(width=width),
                                             style={"description_width": "120px"})
        self.step_slider.add_class(css)
        self.play = widgets.Play(value=step, min=0, max=n_steps, step=play_step, interval=interval,
                                 description="play")
        widgets.link((self.play, "value"), (self.step_slider, "value"))
        self.step_slider.observe(self._on_step, names="value")
        return widgets.HBox([self.play, self.step_slider])

    @property
    def step(self):
        return self.step_slider.value

    def show_step(self, step):
        raise NotImplementedError

    def _on_step(self, change):
        self.show_step(change["new"])

    def time_step_updates(self, n=100, seed=0):
        """Move the step slider to `n` random steps, then back; {"median_ms", "p95_ms", "n"} of the
        updates (the Python side: the observer and the figure updates, not the browser's redraw)."""
        rng = np.random.default_rng(seed)
        low, high = self.step_slider.min, self.step_slider.max
        times, where = [], self.step_slider.value
        for t in rng.integers(low, high + 1, size=n):
            t = int(t)
            if t == self.step_slider.value:  # no change would fire no observer: take a neighbour
                t = t + 1 if t < high else low
            start = time.perf_counter()
            self.step_slider.value = t
            times.append(time.perf_counter() - start)
        self.step_slider.value = where  # back where the user left it
        times = np.array(times) * 1e3
        return {"median_ms": float(np.median(times)), "p95_ms": float(np.percentile(times, 95)),
                "n": int(n)}
