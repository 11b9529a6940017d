"""Deploying LoRA (notebook 03, sections 6 and 7): merge, time, count the work, swap one task's
adapter for another's on the merged weight.

    time_forward(models, x)       inference time per model, interleaved (merged vs unmerged)
    forward_ops(model, x)         the operations one forward pass runs, counted (exact)
    swap_adapter(adapter, A, B)   W' = W - (a/r) B A + (a/r) B' A' on a merged layer (LoRA paper §4.1:
                                  "subtracting BA and then adding B'A'")
    adapter_state(model)          {name: (A, B)}: what one task's LoRA checkpoint holds
"""
import time
from collections import Counter

import numpy as np
import torch
from torch.overrides import TorchFunctionMode, resolve_name

from ..errors import ConfigError
from ..nn import find_adapters
from .common import single_thread


def time_forward(models, x, *, number=20, repeats=25):
    """Seconds per forward pass on `x` for each of `models` ({label: module}): the best over
    `repeats` rounds of the mean over `number` calls. The rounds alternate between the models, so a
    burst of other work on the machine slows them all alike, and the minimum is the least disturbed.
    """
    x = torch.as_tensor(x)
    best = {label: np.inf for label in models}
    with torch.no_grad(), single_thread():
        for model in models.values():
            model(x)  # warm up
        for _ in range(repeats):
            for label, model in models.items():
                t0 = time.perf_counter()
                for _ in range(number):
                    model(x)
                best[label] = min(best[label], (time.perf_counter() - t0) / number)
    return best


# Reading an attribute (x.shape, A.T: names ending in __get__) or giving a tensor another shape over
# the same numbers (these) computes nothing, so it is not counted.
RELABEL = {"reshape", "view"}


class _CountOps(TorchFunctionMode):
    """Counts the torch functions and tensor methods called under it that compute (see RELABEL)."""

    def __init__(self):
        super().__init__()
        self.counts = Counter()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = resolve_name(func) or getattr(func, "__name__", str(func))
        name = name.rsplit(".", 1)[-1]
        if not name.endswith("__get__") and name not in RELABEL:
            self.counts[name] += 1
        return func(*args, **(kwargs or {}))


def forward_ops(model, x):
    """{operation: calls} that one forward pass of `model` on `x` runs, in order of first call
    (e.g. {"linear": 3, "matmul": 3, "addmm_": 3, "tanh": 2} for an unmerged rank-r LoRA MLP of
    three layers, {"linear": 3, "tanh": 2} merged). Counted, not timed: the same on every
    machine, whatever its load."""
    x = torch.as_tensor(x)
    with torch.no_grad(), _CountOps() as mode:
        model(x)
    return dict(mode.counts)


@torch.no_grad()
def swap_adapter(adapter, A, B):
    """On a merged LoRALinear: W' = W - (alpha/r) B A + (alpha/r) B' A', and the adapter now holds
    A' (r, d_in), B' (d_out, r). No copy of W0 is needed."""
    if not adapter.merged:
        raise ConfigError("swap_adapter works on a merged adapter: call merge() first")
    A, B = torch.as_tensor(A), torch.as_tensor(B)
    if A.shape != adapter.A.shape or B.shape != adapter.B.shape:
        raise ConfigError(f"new factors must have shapes {tuple(adapter.A.shape)} and "
                          f"{tuple(adapter.B.shape)}, got {tuple(A.shape)} and {tuple(B.shape)}")
    adapter.base.weight -= adapter.delta_weight()  # W - (alpha/r) B A  (= W0)
    adapter.A.copy_(A)
    adapter.B.copy_(B)
    adapter.base.weight += adapter.delta_weight()  # + (alpha/r) B' A'


def adapter_state(model):
    """{name: (A, B)} copies of every adapter's factors: what a task's LoRA checkpoint holds."""
    return {name: (a.A.detach().clone(), a.B.detach().clone()) for name, a in find_adapters(model).items()}
