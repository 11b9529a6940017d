"""nbval that checks what a notebook teaches, not the last bits of the machine that recorded it.

A pytest plugin (loaded by the root conftest.py). nbval stays the harness: every cell runs in a
fresh kernel and every output is compared with the stored one. What changes is *how* outputs are
compared (the rules are in tests/NOTEBOOK_CONVENTIONS.md):

- Text, and plotly figures as sorted JSON, are split into a skeleton (whitespace runs collapsed)
  and the numbers in it. Skeletons must be equal. Integers must be equal (discrete outcomes).
  Floats must agree within abs + rel * max(|a|, |b|) + one unit of the last printed digit: two
  roundings of nearly equal values can differ by one unit, so no value sits on a boundary.
- The default tolerance is tight (DEFAULT below): deterministic maths.
- The checks live in cell metadata, out of what the learner reads, under the key "checks":
  - a code cell's `{"tolerance": {"rel": R, "abs": A, "why": reason}}`: its floats come from a
    training run; R and A are measured (foreign-numerics pass, seeds) and the reason says so.
  - a code cell's `{"claim": "the claim"}`: its integers (a rank, d90, a step) are outcomes of
    training that may differ between machines; they are not compared, and the cell must check its
    claim with `claim(...)` (adalora_lite.exercises.claims), which fails the cell under the suite.
  - a markdown cell's `{"quotes": [{"text": T, "cell": ID, "regex": X, "rel": R, "abs": A}]}`: the
    prose contains T verbatim, and the last number in T is checked against the regex's first group
    in the fresh output of the cell with that id, within that cell's tolerance (or the one given).
- The old in-source markers (`# NBVAL_TOLERANCE`, `# NBVAL_CLAIM`, `<!-- quote -->`) are refused.

With ADALORA_NUMERICS_REPORT=path, the plugin writes how many numbers were compared and how many
came out different from the stored ones (the foreign-numerics pass asserts that some moved).
"""

import base64
import json
import math
import os
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

TESTED_NBVAL = ("0.11.",)  # the private nbval internals patched below are those of these releases

# A number not glued to a word, a dot or a '#' (so "W0", "v1.2.3" parts and colours "#3e4989" are text).
NUMBER = re.compile(r"(?<![\w.#])[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?(?:[eE][-+]?\d+)?"
                    r"|(?<![\w.#])[-+]?\.\d+(?:[eE][-+]?\d+)?")
NUMBER_SPLIT = re.compile(f"({NUMBER.pattern})")  # the same, captured: re.split keeps the numbers
OLD_MARKER = re.compile(r"#\s*NBVAL_(TOLERANCE|CLAIM)\b|<!--\s*quote\b")
FLOAT_MARK = re.compile(r"[.eE]")
CLAIM_CALL = re.compile(r"^[^#\n]*\bclaim\(", re.MULTILINE)


@dataclass(frozen=True)
class Tolerance:
    rel: float
    abs: float
    ints: bool = True  # compare integers (False in claim cells)

    def allows(self, a, b):
        """(ok, moved) for two number tokens a (stored) and b (fresh)."""
        if a == b:  # most numbers of a figure: equal text is equal value (and is not a move)
            return True, False
        moved = True
        if is_int(a) and is_int(b):
            return (not self.ints or to_float(a) == to_float(b)), moved
        return self.close(a, b), moved

    def close(self, a, b):
        """a and b as numbers within abs + rel * max(|a|, |b|) + one unit of the last digit."""
        if a == b:
            return True
        va, vb = to_float(a), to_float(b)
        if math.isnan(va) or math.isnan(vb):
            return math.isnan(va) and math.isnan(vb)
        if math.isinf(va) or math.isinf(vb):  # beyond float range ("1e999"): equal text only
            return False
        slack = self.abs + self.rel * max(abs(va), abs(vb)) + max(last_digit(a), last_digit(b))
        return abs(va - vb) <= slack


DEFAULT = Tolerance(rel=1e-6, abs=1e-9)


def is_int(token):
    return not FLOAT_MARK.search(token)


def to_float(token):
    return float(token.replace(",", ""))


def last_digit(token):
    """One unit of the last printed digit: 0.7892 -> 1e-4, 3.27e-12 -> 1e-14, 86 -> 0."""
    mantissa, _, exponent = token.replace(",", "").lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    if is_int(token):
        return 0.0
    return 10.0 ** (int(exponent or 0) - decimals)


def cell_checks(cell):
    """The cell's "checks" metadata (a dict); ValueError if the source still carries old markers."""
    source = cell.get("source", "")
    if OLD_MARKER.search(source):
        raise ValueError("move `# NBVAL_...` and `<!-- quote -->` markers into the cell's metadata "
                         '"checks" (tests/NOTEBOOK_CONVENTIONS.md): learners read the source')
    return cell.get("metadata", {}).get("checks", {})


def parse_tolerance(cell):
    """The code cell's Tolerance from its "checks" metadata; ValueError if it is malformed."""
    checks = cell_checks(cell)
    rel, abs_, ints = DEFAULT.rel, DEFAULT.abs, True
    if "tolerance" in checks:
        tol = checks["tolerance"]
        if not set(tol) & {"rel", "abs"} or not str(tol.get("why", "")).strip():
            raise ValueError('a tolerance needs {"rel": R, "abs": A, "why": "the measurement behind '
                             f'them"}} (got {tol!r})')
        rel, abs_ = float(tol.get("rel", 0.0)), float(tol.get("abs", 0.0))
    if "claim" in checks:
        if not str(checks["claim"]).strip():
            raise ValueError('write the claim the cell checks: {"claim": "..."}')
        if not CLAIM_CALL.search(cell.get("source", "")):
            raise ValueError("a cell with a claim must check it with `claim(...)` "
                             "(adalora_lite.exercises.claims)")
        ints = False
    return Tolerance(rel, abs_, ints)


def split_numbers(text):
    """(skeleton, numbers): the text with every number replaced by '#', whitespace collapsed."""
    parts = NUMBER_SPLIT.split(text)  # text, number, text, ..., text: one pass over a long figure
    skeleton = re.sub(r"\s+", " ", "#".join(parts[0::2])).strip()
    return skeleton, parts[1::2]


def compare_text(stored, fresh, tolerance):
    """(problems, compared, moved): human-readable differences beyond tolerance, and counts."""
    ref_skeleton, ref_numbers = split_numbers(stored)
    new_skeleton, new_numbers = split_numbers(fresh)
    if ref_skeleton != new_skeleton or len(ref_numbers) != len(new_numbers):
        return [first_difference(ref_skeleton, new_skeleton)], 0, 0
    problems, moved = [], 0
    for i, (a, b) in enumerate(zip(ref_numbers, new_numbers)):
        ok, changed = tolerance.allows(a, b)
        moved += changed
        if not ok:
            problems.append(f"number {i}: stored {a}, now {b} (rel={tolerance.rel:g}, "
                            f"abs={tolerance.abs:g}{'' if tolerance.ints else ', integers free'})")
    return problems, len(ref_numbers), moved


def first_difference(a, b):
    i = next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return (f"the text around the numbers differs at character {i}:\n"
            f"  stored: ...{a[max(0, i - 60):i + 60]!r}\n  now:    ...{b[max(0, i - 60):i + 60]!r}")


def decode_json(obj):
    """Plotly's typed arrays ({"dtype", "bdata"[, "shape"]}) as plain lists, recursively."""
    if isinstance(obj, dict):
        if "bdata" in obj and "dtype" in obj:
            arr = np.frombuffer(base64.b64decode(obj["bdata"]), dtype=obj["dtype"])
            if obj.get("shape"):
                arr = arr.reshape([int(n) for n in str(obj["shape"]).split(",")])
            return decode_json(arr.tolist())
        return {k: decode_json(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [decode_json(v) for v in obj]
    return obj


class Output(str):
    """An output as text whose != compares within the cell's tolerance (nbval compares with !=)."""

    def __new__(cls, text, cell):
        out = super().__new__(cls, text)
        out.cell = cell
        return out

    def __eq__(self, other):
        problems, compared, moved = compare_text(str(self), str(other), self.cell.tolerance)
        self.cell.record(compared, moved, problems)
        return not problems

    def __ne__(self, other):
        return not self.__eq__(other)

    __hash__ = str.__hash__


# --- prose quotes -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Quote:
    markdown_index: int  # position of the markdown cell in the notebook
    value: str           # the number the prose states
    cell_id: str
    regex: str
    rel: float | None
    abs: float | None

    def check(self, text, tolerance):
        match = re.search(self.regex, text)
        where = f"markdown cell {self.markdown_index} quotes {self.value}"
        if not match:
            return f"{where}, but /{self.regex}/ finds nothing in cell {self.cell_id}'s output"
        rel = tolerance.rel if self.rel is None else self.rel
        abs_ = tolerance.abs if self.abs is None else self.abs
        ok = Tolerance(rel, abs_).close(self.value, match.group(1))  # integers too: a stated value
        return None if ok else f"{where}; the run printed {match.group(1)} (rel={rel:g}, abs={abs_:g})"


def find_quotes(nb):
    """Every quote in the notebook's markdown metadata; ValueError where one is malformed."""
    quotes, ids = [], {cell.get("id") for cell in nb.cells}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        for quote in cell_checks(cell).get("quotes", []):
            text = quote.get("text", "")
            numbers = NUMBER.findall(text.rstrip(" *_`%$"))
            if not numbers or quote.get("cell") not in ids or text not in cell.source:
                raise ValueError(f"markdown cell {index}: quote {quote!r} needs a text that appears in "
                                 "the cell and ends with a number, and an existing cell id")
            quotes.append(Quote(index, numbers[-1], quote["cell"], quote["regex"],
                                float(quote["rel"]) if "rel" in quote else None,
                                float(quote["abs"]) if "abs" in quote else None))
    return quotes


def output_text(outputs):
    parts = []
    for out in outputs:
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        for value in (out.get("data") or {}).values():
            parts.append(value if isinstance(value, str) else json.dumps(value))
    return "".join(parts)


# --- the nbval patches ------------------------------------------------------------------------

class LazyPformat:
    """pprint.pformat(obj), computed when logging turns the record into text."""

    def __init__(self, obj):
        self.obj = obj

    def __str__(self):
        from pprint import pformat

        return pformat(self.obj)


_CAPTURABLE = {"stream", "display_data", "execute_result", "clear_output", "update_display_data"}
REPORT = defaultdict(lambda: {"compared": 0, "moved": 0, "cells_moved": []})


def install(nbval_version):
    if not nbval_version.startswith(TESTED_NBVAL):
        raise pytest.UsageError(
            f"tests/nbval_numeric.py patches nbval internals tested with nbval {TESTED_NBVAL}; "
            f"nbval {nbval_version} is installed. Install a tested one (pip install 'nbval>=0.11,<0.12') "
            "or re-check the patches against the new release and extend TESTED_NBVAL.")
    import nbval.kernel
    from nbval.plugin import IPyNbCell, IPyNbFile

    if getattr(IPyNbCell, "_adalora_numeric", False):
        return
    IPyNbCell._adalora_numeric = True
    # nbval 0.11 pretty-prints every kernel message for a debug log line, logged or not: 4.8 s of
    # a 44 s run of notebooks 01 and 04 (cProfile). Formatted now only if the line is logged.
    nbval.kernel.pformat = LazyPformat
    plain_get_message = IPyNbFile.get_kernel_message
    plain_compare = IPyNbCell.compare_outputs
    plain_format = IPyNbCell.format_output_compare
    plain_sanitize = IPyNbCell.sanitize
    plain_collect = IPyNbFile.collect

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

    def collect(self):
        items = list(plain_collect(self))
        self.quotes = find_quotes(self.nb)
        self.fresh = {}
        for item in items:
            try:
                item.tolerance = parse_tolerance(item.cell)
            except ValueError as err:
                raise ValueError(f"{self.name}, cell {item.cell.get('id')!r}: {err}") from None
        return items

    def sanitize(self, s):
        # nbval sanitizes strings only; figures (plotly JSON) become sorted JSON text first.
        if isinstance(s, (dict, list)):
            s = json.dumps(decode_json(s), sort_keys=True, ensure_ascii=False)  # C encoder: no indent
        s = plain_sanitize(self, s)
        return Output(s, self) if isinstance(s, str) else s

    def record(self, compared, moved, problems):
        entry = REPORT[self.parent.name]
        entry["compared"] += compared
        entry["moved"] += moved
        if moved and self.cell_num not in entry["cells_moved"]:
            entry["cells_moved"].append(self.cell_num)
        self.numeric_problems = problems

    def compare_outputs(self, test, ref, skip_compare=None):
        self.parent.fresh[self.cell.get("id")] = test
        ok = plain_compare(self, test, ref, skip_compare)
        text = output_text(test)
        for quote in self.parent.quotes:
            if quote.cell_id == self.cell.get("id"):
                problem = quote.check(text, self.tolerance)
                if problem:
                    self.comparison_traceback.append("prose drifted from the run: " + problem)
                    ok = False
        return ok

    def format_output_compare(self, key, left, right):
        plain_format(self, key, left, right)
        for problem in getattr(self, "numeric_problems", [])[:10]:
            self.comparison_traceback.append("  beyond tolerance: " + problem)

    IPyNbFile.get_kernel_message = get_kernel_message
    IPyNbFile.collect = collect
    IPyNbCell.sanitize = sanitize
    IPyNbCell.record = record
    IPyNbCell.compare_outputs = compare_outputs
    IPyNbCell.format_output_compare = format_output_compare


def pytest_configure(config):
    if not getattr(config.option, "nbval", False):
        return
    # Kernels start from this process and inherit its environment: a notebook's claim(...) that
    # does not hold fails its cell here, where a learner only gets a note.
    os.environ["ADALORA_STRICT_CLAIMS"] = "1"
    import nbval

    install(getattr(nbval, "__version__", "unknown"))
    # The sanitize path in pyproject's addopts is relative: resolve it against the repo root so
    # pytest also works when started from a subdirectory.
    cfg = config.option.nbval_sanitize_with
    root = Path(__file__).resolve().parents[1]
    if cfg and not Path(cfg).exists() and (root / cfg).exists():
        config.option.nbval_sanitize_with = str(root / cfg)


def pytest_sessionfinish(session):
    path = os.environ.get("ADALORA_NUMERICS_REPORT")
    if path and REPORT:
        Path(path).write_text(json.dumps(REPORT, indent=1, sort_keys=True))
