"""A recording: what an AdaLoRA run did to every triplet, step by step, and where it was made.

    recorder = Recorder(layers, allocator)      # before training (records step 0 if asked)
    for step in ...:
        loss = train_step(...)
        recorder.record(step, loss)             # after the step and both allocator moments
    recording = recorder.recording(meta={"config": ...})
    save(path, {"recording": recording.to_json()}, command="python benchmarks/x.py")

One type for both paths: the layers may be NumPy `reference.SVDLinear` or torch `nn.SVDLinear`
(read through the allocator's layer protocol: `r`, `weights_and_grads()`, `mask`). Triplets are
laid out layer by layer in `layer_names` order, `ranks[k]` of them for layer k.

Every recording file carries one stamp (`stamp`): the machine, the date (UTC, ISO 8601 to the
second) and the command that made it.
"""
import datetime
import json
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class Recording:
    layer_names: tuple   # the adapted matrices, in the allocator's order
    ranks: tuple         # each layer's initial rank: its number of triplets
    steps: np.ndarray    # (n,) the step of each row; 0 = before training
    lambdas: np.ndarray  # (n, n_triplets) lambda as the model holds it after the step
    masks: np.ndarray    # (n, n_triplets) bool, True = kept by the last masking
    budgets: np.ndarray  # (n,) the allocator's b(t); the initial total rank without one
    losses: np.ndarray   # (n,) the step's training objective; NaN at step 0
    meta: dict = field(default_factory=dict)  # the run's settings, and the stamp once saved

    def slices(self):
        """{layer name: slice of its triplets in the flat layout}."""
        edges = np.cumsum((0,) + tuple(self.ranks))
        return {name: slice(a, b) for name, a, b in zip(self.layer_names, edges[:-1], edges[1:])}

    def final_ranks(self):
        """{layer name: triplets kept at the last step}."""
        return {name: int(self.masks[-1, cut].sum()) for name, cut in self.slices().items()}

    def to_json(self):
        """A JSON-ready dict that `from_json` reads back exactly (floats are written in full);
        masks as one '0'/'1' string per step, NaN losses as null."""
        return {"layer_names": list(self.layer_names), "ranks": [int(r) for r in self.ranks],
                "steps": self.steps.tolist(), "lambdas": self.lambdas.tolist(),
                "masks": ["".join("1" if k else "0" for k in row) for row in self.masks],
                "budgets": [int(b) for b in self.budgets],
                "losses": [None if np.isnan(x) else float(x) for x in self.losses],
                "meta": self.meta}

    @classmethod
    def from_json(cls, data):
        return cls(layer_names=tuple(data["layer_names"]), ranks=tuple(data["ranks"]),
                   steps=np.array(data["steps"], dtype=int),
                   lambdas=np.array(data["lambdas"], dtype=float),
                   masks=np.array([[c == "1" for c in row] for row in data["masks"]], dtype=bool),
                   budgets=np.array(data["budgets"], dtype=int),
                   losses=np.array([np.nan if x is None else x for x in data["losses"]], dtype=float),
                   meta=dict(data.get("meta", {})))


class Recorder:
    """Builds a Recording while a loop trains: `record(step, loss)` after every step."""

    def __init__(self, layers, allocator=None):
        self.layers, self.allocator = dict(layers), allocator
        self._rows = {"steps": [], "lambdas": [], "masks": [], "budgets": [], "losses": []}

    def record(self, step, loss=float("nan")):
        lams = [_numpy(layer.weights_and_grads()[1][0]) for layer in self.layers.values()]
        masks = [_numpy(layer.mask) for layer in self.layers.values()]
        budget = (self.allocator.budget if self.allocator is not None
                  else sum(layer.r for layer in self.layers.values()))
        for key, value in zip(self._rows, (step, np.concatenate(lams), np.concatenate(masks),
                                           budget, loss)):
            self._rows[key].append(value)

    def recording(self, meta=None):
        rows = self._rows
        return Recording(layer_names=tuple(self.layers), ranks=tuple(l.r for l in self.layers.values()),
                         steps=np.array(rows["steps"], dtype=int), lambdas=np.array(rows["lambdas"]),
                         masks=np.array(rows["masks"], dtype=bool),
                         budgets=np.array(rows["budgets"], dtype=int),
                         losses=np.array(rows["losses"], dtype=float), meta=dict(meta or {}))


def _numpy(x):
    return x.detach().cpu().numpy().copy() if hasattr(x, "detach") else np.array(x, copy=True)


# ------------------------------------------------------------------------- the stamp and saving
def machine(device="cpu"):
    """Where a recording was made: CPU model, cores, library versions (and the GPU on cuda)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    out = {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "device": device}
    try:
        import torch

        out.update(torch=torch.__version__, torch_threads=torch.get_num_threads())
        if device == "cuda":
            out["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    for package in ("peft", "transformers"):
        try:
            out[package] = __import__(package).__version__
        except ImportError:
            pass
    return out


def now():
    """The date of a stamp: UTC, ISO 8601 to the second (one format for every recording)."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def stamp(command, device="cpu"):
    """{"machine", "date", "command"}: what every recording file's meta starts with."""
    return {"machine": machine(device), "date": now(), "command": command}


def save(path, content, *, command, meta=None, device="cpu", made=None):
    """Write {"meta": {**meta, **stamp}, **content} as JSON to `path` (folders made as needed) and
    return the meta written. The stamp is `made` when given (a file re-saved without re-running
    keeps the stamp of where its numbers were made), else this write's: stamp(command, device)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    full_meta = {**(meta or {}), **(made or stamp(command, device))}
    path.write_text(json.dumps({"meta": full_meta, **content}, indent=1) + "\n")
    return full_meta
