"""adalora_lite.widgets.figure: plotly's FigureWidget whose page-side start can not go deaf.

anywidget drops every kernel message to a model whose ESM `initialize()` ends more than 2 s after
the model was created in the page; plotly's own ESM (a 4.9 MB bundle evaluated per figure) misses
that on a busy machine, and the figure never redraws (tests/site/test_browser.py caught it). The
library's figures use a small ESM whose initialize() waits for nothing and whose render() loads
plotly's bundle once per page. The JavaScript is tested with node, against a stand-in bundle.
"""
import json
import os
import shutil
import subprocess
from pathlib import Path

import plotly.graph_objects as go
import pytest

from adalora_lite.widgets import figure
from adalora_lite.widgets.budget import BudgetDashboard, SchedulePanel
from adalora_lite.labs.budget import TrajectoryParams

WIDGETS = Path(figure.__file__).parent
anywidget_plotly = pytest.mark.skipif(figure.FigureWidget is go.FigureWidget,
                                      reason="plotly's FigureWidget is not an anywidget (plotly 5)")


@anywidget_plotly
def test_the_page_gets_a_small_module_and_plotly_bundle_as_data():
    fig = figure.FigureWidget(go.Figure(go.Bar(y=[1, 2, 3])))
    state = fig.get_state()
    source, bundle_id = figure.plotly_bundle()
    assert len(state["_esm"]) < 5_000 and "initialize" in state["_esm"]
    assert state["_plotly_bundle"] == figure.PLOTLY_BUNDLE.read_text(encoding="utf-8") == source
    assert len(source) > 1_000_000  # the reason: evaluating it takes seconds on a busy machine
    assert state["_plotly_bundle_id"] == bundle_id and bundle_id.startswith("plotly-")
    assert isinstance(fig, go.FigureWidget) and fig.data[0].y == (1, 2, 3)  # plotly's API


def test_every_panel_builds_its_figures_with_the_library_class():
    for path in WIDGETS.glob("*.py"):
        assert "go.FigureWidget(" not in path.read_text(), f"{path.name}: use figure.FigureWidget"
    small = TrajectoryParams(r=4, target_budget=5, total_steps=80, warmup_steps=15, final_steps=25,
                             planted_ranks=(1, 3, 2), width=10)
    dash = BudgetDashboard(small, step=0, progress=False)
    panel = SchedulePanel(total_steps=100, init_budget=20, target_budget=6, warmup_steps=10,
                          final_steps=30)
    for fig in (dash.lambda_fig, dash.rank_fig, panel.figure):
        assert isinstance(fig, figure.FigureWidget)


def run_node(script, folder):
    """Run a node module `script` with the library's ESM in $ESM; its printed JSON."""
    path = folder / "test.mjs"
    path.write_text(script)
    run = subprocess.run([shutil.which("node"), str(path)], capture_output=True, text=True,
                         timeout=60, env={**os.environ, "ESM": figure.ESM})
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


NODE_TEST = r"""
// A stand-in for plotly's bundle: counts its evaluations and records the calls it gets.
globalThis.calls = [];
const BUNDLE = `
globalThis.evaluations = (globalThis.evaluations || 0) + 1;
export default () => {
  let model = null;
  return {
    initialize({ model: m }) {
      model = m;
      globalThis.calls.push("initialize " + m.name);
    },
    render({ el }) {
      globalThis.calls.push("render " + model.name + " in " + el);
      return () => "cleanup";
    },
  };
};`;
// Node can not import blob: URLs; hand the module over as a data: URL.
globalThis.Blob = class { constructor(parts) { this.text = parts.join(""); } };
const dataUrl = (text) => "data:text/javascript;base64," + Buffer.from(text).toString("base64");
URL.createObjectURL = (blob) => dataUrl(blob.text);
URL.revokeObjectURL = () => {};

const esm = await import(dataUrl(process.env.ESM));
const state = { _plotly_bundle: BUNDLE, _plotly_bundle_id: "b1" };
const model = (name) => ({ name, get: (key) => state[key] });
const out = {};
const a = esm.default(), b = esm.default();  // two figures (anywidget loads a module per model)
out.initialize = [a.initialize({ model: model("A") }), b.initialize({ model: model("B") })];
out.evaluatedAtInitialize = globalThis.evaluations ?? 0;
out.callsAtInitialize = [...globalThis.calls];
const cleanup = await a.render({ el: "div1" });
await a.render({ el: "div2" });  // a second view of the same figure
await b.render({ el: "div3" });
out.cleanup = cleanup();
out.evaluations = globalThis.evaluations;
out.calls = globalThis.calls;
console.log(JSON.stringify(out));
"""


@anywidget_plotly
@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to run the module")
def test_module_initializes_at_once_and_loads_plotly_once_per_page(tmp_path):
    out = run_node(NODE_TEST, tmp_path)
    assert out["initialize"] == [None, None]  # returns at once, no promise for anywidget to await
    assert out["evaluatedAtInitialize"] == 0 and out["callsAtInitialize"] == []
    assert out["evaluations"] == 1  # one bundle for the page, however many figures
    assert out["calls"] == ["initialize A", "render A in div1", "render A in div2",
                            "initialize B", "render B in div3"]  # plotly's own, once per model
    assert out["cleanup"] == "cleanup"  # plotly's view clean-up reaches anywidget


QUIET_TEST = r"""
// A stand-in for plotly's FigureModel and FigureView, as plotly 6-7 write them: the view marks an
// update from the kernel with `_doNotReportToPy`; plotly.js (here `plotly`) edits by the keys it is
// given and, once drawn (a promise later), emits an event with a copy of the edit; the view reports
// an event without the mark to the kernel.
globalThis.Blob = class { constructor(parts) { this.text = parts.join(""); } };
const dataUrl = (text) => "data:text/javascript;base64," + Buffer.from(text).toString("base64");
URL.createObjectURL = (blob) => dataUrl(blob.text);
URL.revokeObjectURL = () => {};
const BUNDLE = `
export class FigureModel {
  constructor(state) { this.state = state; this.sets = []; }
  get(name) { return structuredClone(this.state[name]); }  // plotly deserializes: a new object
  set(name, value) { this.sets.push(Object.keys(value).join()); }
}
export class FigureView {
  constructor(model) { this.model = model; this.viewID = "v1"; this.seen = []; }
  plotly(edit) {
    this.seen.push(Object.keys(edit));
    return Promise.resolve().then(() => this.handle_plotly_update({ ...edit }));
  }
  handle_plotly_update(edit) {
    if (!edit.hasOwnProperty("_doNotReportToPy")) this.model.set("_js2py_update", edit);
  }
  do_update() {
    const message = this.model.get("_py2js_update");
    if (message !== null) {
      const style = message.style_data || {};
      style._doNotReportToPy = true;
      this.plotly(style);
    }
  }
}
export default () => ({ initialize() {}, render() {} });`;
const esm = await import(dataUrl(process.env.ESM));
const state = { _plotly_bundle: BUNDLE, _plotly_bundle_id: "q1", _py2js_update: { style_data: { y: [[1, 2]] } } };
const widget = esm.default();
widget.initialize({ model: { get: (key) => state[key] } });
await widget.render({ el: "div" });
const bundle = await globalThis.__adaloraLitePlotlyBundles.get("q1");
const model = new bundle.FigureModel(state), view = new bundle.FigureView(model);
view.do_update();                             // two updates from the kernel, drawn later
view.do_update();
await view.plotly({ "xaxis.range": [0, 1] });  // then the user zooms
await new Promise((resolve) => setTimeout(resolve, 10));
console.log(JSON.stringify({ seen: view.seen, reports: model.sets }));
"""


@anywidget_plotly
@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to run the module")
def test_kernel_updates_reach_plotly_js_without_the_mark_and_are_not_reported_back(tmp_path):
    out = run_node(QUIET_TEST, tmp_path)
    # plotly.js edits by the data's own keys only: the mark is not an attribute to redraw for
    assert out["seen"] == [["y"], ["y"], ["xaxis.range"]]
    assert out["reports"] == ["xaxis.range"]  # the kernel's two updates are not echoed; the zoom is


def test_the_real_bundle_exports_the_classes_the_module_patches():
    source = figure.PLOTLY_BUNDLE.read_text(encoding="utf-8") if figure.PLOTLY_BUNDLE.is_file() else ""
    if "FigureView" not in source:
        pytest.skip("plotly's bundle exports no FigureView (plotly 5): nothing is patched")
    for name in ("as FigureModel", "as FigureView", "_doNotReportToPy", "do_update(){",
                 "do_relayout(){", "do_restyle(){", '"_js2py_update"', '"_js2py_relayout"'):
        assert name in source, f"plotly's widget bundle changed: {name!r} is gone"
