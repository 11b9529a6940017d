"""Widget for notebook 08: pick an adapted matrix of a trained model and read its update.

    UpdateExplorer(report)   dropdowns for the layer and the matrix (W_q ... W_f2) and buttons for a
                             quantity: a heat map of that quantity over all 36 matrices with the
                             picked one outlined, the picked matrix's Delta W spectrum, and its
                             numbers. explorer.show(layer, module) and explorer.show_quantity(key)
                             are the callbacks; call them directly or set the controls' .value.

`report` is `labs.learned_update.update_report(adapters, before)` (with spectra).
"""
import re

import ipywidgets as widgets

from ..errors import ConfigError
from ..labs.learned_update import QUANTITIES
from ..labs.minilm_matrices import MODULES
from ..viz.analysis import quantity_heatmap, update_readout, update_spectrum_figure
from .figure import FigureWidget
from .panel import Panel

_NAME = re.compile(r"(?:^|\.)layer\.(\d+)\.(.+)$")


def index_report(report):
    """{(layer number from 1, module label): module name} for a MiniLM/BERT update report."""
    kinds = dict(MODULES)
    out = {}
    for name in report:
        m = _NAME.search(name)
        if m and m.group(2) in kinds:
            out[(int(m.group(1)) + 1, kinds[m.group(2)])] = name
    if not out:
        raise ConfigError("the report names no BERT block matrix (expected '...layer.N.attention.self.query' ...)")
    return out


class UpdateExplorer(Panel):
    main_figure = "heatmap"
    def __init__(self, report, *, layer=6, module="W_f1", quantity="effective_rank"):
        self.report, self.index = report, index_report(report)
        layers = sorted({k for k, _ in self.index})
        modules = [label for _, label in MODULES if any(m == label for _, m in self.index)]
        if (layer, module) not in self.index:
            raise ConfigError(f"no matrix at layer {layer}, module {module!r}")
        if quantity not in QUANTITIES:
            raise ConfigError(f"quantity must be one of {list(QUANTITIES)}, got {quantity!r}")
        self.layer_pick = widgets.Dropdown(options=layers, value=layer, description="layer",
                                           layout=widgets.Layout(width="160px"))
        self.module_pick = widgets.Dropdown(options=modules, value=module, description="matrix",
                                            layout=widgets.Layout(width="180px"))
        self.quantity_pick = widgets.ToggleButtons(
            options=[(label.split(" (")[0].split(" ||")[0], key) for key, label in QUANTITIES.items()],
            value=quantity, description="heat map", style=dict(button_width="auto"))
        self.readout = widgets.HTML()
        self.heatmap = FigureWidget(quantity_heatmap(report, quantity))
        self.heatmap.add_scatter(x=[f"layer {layer}"], y=[module], mode="markers", name="picked",
                                 marker=dict(symbol="square-open", size=38, color="#d62728",
                                             line=dict(width=3)), hoverinfo="skip", showlegend=False)
        self.spectrum = FigureWidget(update_spectrum_figure(report[self.index[(layer, module)]],
                                                            self.index[(layer, module)]))
        self.show(layer, module)
        self.layer_pick.observe(self._on_pick, names="value")
        self.module_pick.observe(self._on_pick, names="value")
        self.quantity_pick.observe(lambda change: self.show_quantity(change["new"]), names="value")
        super().__init__([widgets.HBox([self.layer_pick, self.module_pick]), self.quantity_pick,
                          self.readout, self.heatmap, self.spectrum])

    @property
    def name(self):
        return self.index[(self.layer_pick.value, self.module_pick.value)]

    def show(self, layer, module):
        """Show the matrix at (layer, module): outline it, draw its spectrum, print its numbers."""
        if (layer, module) not in self.index:
            raise ConfigError(f"no matrix at layer {layer}, module {module!r}")
        name = self.index[(layer, module)]
        entry = self.report[name]
        fresh = update_spectrum_figure(entry, name)
        with self.spectrum.batch_update():
            self.spectrum.data[0].x = fresh.data[0].x
            self.spectrum.data[0].y = fresh.data[0].y
            self.spectrum.layout.title = fresh.layout.title
            self.spectrum.layout.shapes = fresh.layout.shapes
            self.spectrum.layout.annotations = fresh.layout.annotations
        with self.heatmap.batch_update():
            self.heatmap.data[1].x = [f"layer {layer}"]
            self.heatmap.data[1].y = [module]
        self.readout.value = update_readout(entry, name)

    def show_quantity(self, key):
        """Redraw the heat map for quantity `key` (one of update_analysis.QUANTITIES)."""
        fresh = quantity_heatmap(self.report, key)
        with self.heatmap.batch_update():
            self.heatmap.data[0].z = fresh.data[0].z
            self.heatmap.data[0].text = fresh.data[0].text
            self.heatmap.data[0].colorbar.title.text = fresh.data[0].colorbar.title.text
            self.heatmap.layout.title = fresh.layout.title

    def __repr__(self):  # a stable text/plain for the notebook (the default repr holds random uids)
        return (f"UpdateExplorer(layer={self.layer_pick.value}, module={self.module_pick.value!r}, "
                f"quantity={self.quantity_pick.value!r}, matrices={len(self.index)})")

    def _on_pick(self, change):
        self.show(self.layer_pick.value, self.module_pick.value)
