"""FigureWidget: plotly's FigureWidget with a page-side start that keeps every figure live.

Since plotly 6 a FigureWidget is an anywidget, and anywidget gives each widget model two seconds,
counted from its creation in the page, to load its front-end module (ESM) and run its
`initialize()`. A model that misses that deadline keeps its view but silently drops every later
message from the kernel: its figure is drawn once and never changes again, whatever the sliders do.
plotly's ESM is its whole 4.9 MB widget bundle, and every figure evaluates its own copy, one after
another on the page's single thread. With several figures on a page (the classroom page shows four,
notebook 06 three) and a busy machine, the later figures miss the deadline (measured on a shared
2-core machine: about two seconds per copy).

This class hands anywidget a small module instead, whose `initialize()` waits for nothing: loading
that 4 kB module is all that has to fit in the two seconds. Its `render()` loads plotly's bundle
(once per page, shared by all figures: one evaluation instead of one per figure), then runs
plotly's own `initialize()` and `render()` unchanged. Everything else (the Python API, the
messages, what a view shows) is plotly's, with one change (`quietUpdates` in the module): plotly's
view marks each update from the kernel with a key that plotly.js takes for an unknown attribute,
redrawing the whole figure for a new title (27 ms instead of 4 in Chromium, measured with notebook
07's heatmap); the key is hidden from plotly.js and the view's echo of the update is dropped
instead, so a slider move redraws only what changed.

Where plotly's FigureWidget is not an anywidget (plotly 5) or ships no bundle, `FigureWidget` is
plotly's class itself.
"""
import hashlib
from functools import lru_cache
from pathlib import Path

import plotly
import plotly.graph_objects as go
import traitlets

PLOTLY_BUNDLE = Path(plotly.__file__).parent / "package_data" / "widgetbundle.js"

# The module anywidget loads for each figure (its `_esm`). initialize() must never wait.
ESM = r"""
// adalora_lite.widgets.figure: plotly's FigureWidget front-end, loaded once per page.
const CACHE = "__adaloraLitePlotlyBundles";

function plotlyBundle(model) {
  const cache = (globalThis[CACHE] ??= new Map());
  const id = model.get("_plotly_bundle_id");
  if (!cache.has(id)) {
    const blob = new Blob([model.get("_plotly_bundle")], { type: "text/javascript" });
    const url = URL.createObjectURL(blob);
    cache.set(id, import(url).then((bundle) => { quietUpdates(bundle); return bundle; })
      .finally(() => URL.revokeObjectURL(url)));
  }
  return cache.get(id);
}

// Updates from the kernel. plotly's view marks each one it applies with a `_doNotReportToPy` key,
// so that plotly.js's event for it is not reported back to the kernel; plotly.js reads the key
// as an unknown attribute and answers with a full redraw (a title change: 27 ms instead of 4).
// quietUpdates, run once on plotly's exported classes, hides the mark from plotly.js
// (non-enumerable) and drops the echoes instead: each update from the kernel is followed by one
// event (plotly.js emits it when the update has drawn), so a view drops as many events as it
// applied updates.
const UPDATES = { do_update: ["_py2js_update", "style_data", "handle_plotly_update"],
                  do_relayout: ["_py2js_relayout", "relayout_data", "handle_plotly_relayout"],
                  do_restyle: ["_py2js_restyle", "restyle_data", "handle_plotly_restyle"] };

function hiddenMark(message, key) {
  if (message == null) return message;
  const data = { ...(message[key] ?? {}) };
  Object.defineProperty(data, "_doNotReportToPy", { value: true, writable: true });
  return { ...message, [key]: data };
}

function quietUpdates({ FigureModel: Model, FigureView: View }) {
  if (!Model || !View || View.prototype.echoes) return;
  let marking = 0;  // > 0 while a view reads an update from the kernel
  const { get } = Model.prototype;
  const markedKey = Object.fromEntries(Object.values(UPDATES).map(([name, key]) => [name, key]));
  Model.prototype.get = function (name) {
    const value = get.call(this, name);
    return marking && name in markedKey ? hiddenMark(value, markedKey[name]) : value;
  };
  View.prototype.echoes = null;
  for (const [method, [name, , handler]] of Object.entries(UPDATES)) {
    const apply = View.prototype[method], report = View.prototype[handler];
    View.prototype[method] = function () {
      const message = this.model.get(name);
      const draws = message != null &&
        (method !== "do_relayout" || message.source_view_id !== this.viewID);  // as plotly's view
      this.echoes ??= {};
      if (draws) this.echoes[handler] = (this.echoes[handler] ?? 0) + 1;
      marking += 1;
      try { return apply.call(this); } finally { marking -= 1; }
    };
    View.prototype[handler] = function (event) {
      if (this.echoes?.[handler] > 0) { this.echoes[handler] -= 1; return; }
      return report.call(this, event);
    };
  }
}

export default () => {
  let context = null;  // what anywidget gave initialize(), for plotly's initialize()
  let started = null;  // Promise of plotly's widget for this model, initialized
  return {
    initialize(initContext) {
      // Nothing to wait for: anywidget drops every kernel message to a model whose
      // initialize() ends more than 2 s after the model was created.
      context = initContext;
    },
    async render(renderContext) {
      started ??= plotlyBundle(context.model).then(async (bundle) => {
        const widget =
          typeof bundle.default === "function" ? await bundle.default() : bundle.default;
        await widget.initialize?.(context);
        return widget;
      });
      const widget = await started;
      return widget.render(renderContext);
    },
  };
};
"""


@lru_cache(maxsize=1)
def plotly_bundle():
    """(source, id) of plotly's FigureWidget bundle; the id names its content."""
    source = PLOTLY_BUNDLE.read_text(encoding="utf-8")
    digest = hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]
    return source, f"plotly-{plotly.__version__}-{digest}"


def _plotly_is_anywidget():
    try:
        import anywidget
    except ImportError:
        return False
    return issubclass(go.FigureWidget, anywidget.AnyWidget) and PLOTLY_BUNDLE.is_file()


if _plotly_is_anywidget():
    class FigureWidget(go.FigureWidget):
        """plotly's FigureWidget (same constructor and API); see the module docstring."""

        _esm = ESM
        _plotly_bundle = traitlets.Unicode().tag(sync=True)
        _plotly_bundle_id = traitlets.Unicode().tag(sync=True)

        @traitlets.default("_plotly_bundle")
        def _default_plotly_bundle(self):
            return plotly_bundle()[0]

        @traitlets.default("_plotly_bundle_id")
        def _default_plotly_bundle_id(self):
            return plotly_bundle()[1]
else:  # plotly 5: an ipywidgets widget with its own JupyterLab extension, no such deadline
    FigureWidget = go.FigureWidget
