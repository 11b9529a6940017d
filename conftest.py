"""Session setup for the whole suite: unit tests in tests/ and nbval items from notebooks/.

It lives at the repository root (not in tests/) so that it is loaded for every path pytest may be
given, `pytest notebooks/03_lora.ipynb` included. nbval starts each notebook's kernel from this
process, so the kernel inherits the environment set here.
"""

import base64
import json
import os
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent

# Everything runs offline and renders plotly as a JSON mimetype (no plotly.js in the outputs).
# PYTHONHASHSEED only reaches child processes (the kernels): it makes set/dict order of str stable.
KERNEL_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "PLOTLY_RENDERER": "plotly_mimetype",
    "PYTHONHASHSEED": "0",
}
os.environ.update(KERNEL_ENV)

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"  # holds a random model id
SIGNIFICANT_DIGITS = 6  # floats inside JSON outputs (plotly figures) are compared to this many


def _normalize_json(obj):
    """Decode plotly typed arrays ({"dtype", "bdata"[, "shape"]}) to lists and round floats.

    Figures carry floats computed by BLAS/torch, whose last bits may differ between machines.
    """
    if isinstance(obj, dict):
        if "bdata" in obj and "dtype" in obj:
            try:
                arr = np.frombuffer(base64.b64decode(obj["bdata"]), dtype=obj["dtype"])
                if obj.get("shape"):
                    arr = arr.reshape([int(n) for n in str(obj["shape"]).split(",")])
                return _normalize_json(arr.tolist())
            except (ValueError, TypeError):
                pass
        return {k: _normalize_json(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_normalize_json(v) for v in obj]
    if isinstance(obj, float):
        return float(f"{obj:.{SIGNIFICANT_DIGITS}g}")
    return obj


_CAPTURABLE = {"stream", "display_data", "execute_result", "clear_output", "update_display_data"}


def _install_nbval_patches():
    from nbval.plugin import IPyNbCell, IPyNbFile

    if getattr(IPyNbCell.sanitize, "_adalora_lite", False):
        return
    plain_sanitize = IPyNbCell.sanitize
    plain_get_message = IPyNbFile.get_kernel_message

    def get_kernel_message(self, timeout=None, stream="iopub"):
        # What a cell prints or displays inside an ipywidgets Output widget (`with out:`,
        # `interact`) belongs to the widget: JupyterLab and nbconvert put it there, not in the
        # cell's outputs. nbval 0.11 ignores comm messages and would see it as cell output.
        # Follow each Output widget's `msg_id` (set on enter, cleared on exit) and drop what it
        # captures. Errors are kept: an exception inside a panel fails the cell, as it should.
        capturing = self.__dict__.setdefault("_output_widget_capture", {})  # comm_id -> msg_id
        while True:
            msg = plain_get_message(self, timeout=timeout, stream=stream)
            msg_type, content = msg["msg_type"], msg["content"]
            if msg_type in ("comm_open", "comm_msg"):
                state = (content.get("data") or {}).get("state") or {}
                if "msg_id" in state:
                    if state["msg_id"]:
                        capturing[content["comm_id"]] = state["msg_id"]
                    else:
                        capturing.pop(content["comm_id"], None)
            elif msg_type in _CAPTURABLE and msg["parent_header"].get("msg_id") in capturing.values():
                continue
            return msg

    def sanitize(self, s):
        # nbval only sanitizes strings; JSON outputs (plotly's mimetype) would be compared raw,
        # uids and all. Turn them into stable text so the regexes in the sanitize file apply.
        if isinstance(s, (dict, list)):
            s = json.dumps(_normalize_json(s), sort_keys=True, indent=1, ensure_ascii=False)
        return plain_sanitize(self, s)

    sanitize._adalora_lite = True
    IPyNbCell.sanitize = sanitize
    IPyNbFile.get_kernel_message = get_kernel_message


def pytest_configure(config):
    if not getattr(config.option, "nbval", False):
        return
    # The sanitize path in pyproject's addopts is relative: resolve it against the repo root so
    # pytest also works when started from a subdirectory.
    cfg = config.option.nbval_sanitize_with
    if cfg and not Path(cfg).exists() and (ROOT / cfg).exists():
        config.option.nbval_sanitize_with = str(ROOT / cfg)
    _install_nbval_patches()


def pytest_collection_modifyitems(items):
    # nbval 0.11 already skips the widget view mimetype; make sure of it for any version.
    for item in items:
        parent = item.parent
        skip = getattr(parent, "skip_compare", None)
        if skip is not None and WIDGET_VIEW not in skip:
            parent.skip_compare = tuple(skip) + (WIDGET_VIEW,)
