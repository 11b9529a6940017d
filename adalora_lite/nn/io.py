"""Save and load adapters, their masks and the allocator's state, with safetensors.

One file holds everything needed to resume training exactly: every adapter's tensors (A, B or
P, lam, Q and the mask) under its module name, any other trainable parameter (a new classifier
head, `modules_to_train`), the allocator's EMAs, and a JSON header with each adapter's kind, rank
and alpha and the allocator's step and budget. The frozen base model is not saved: it is the
pretrained one, loaded as usual.
"""
import json

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from ..allocator import warn_if_budget_not_applied
from ..errors import ConfigError
from .inject import ADAPTERS, add_adapters, find_adapters

_KIND = {cls: kind for kind, cls in ADAPTERS.items()}


def save_adapters(path, model, allocator=None):
    adapters = find_adapters(model)
    if not adapters:
        raise ConfigError("model has no adapters to save; call add_adapters first")
    if allocator is None:  # saving mid-run with the allocator is a checkpoint, not a result
        warn_if_budget_not_applied(adapters, "saving")
    tensors, layers = {}, {}
    for name, adapter in adapters.items():
        layers[name] = {"adapter": _KIND[type(adapter)], "r": adapter.r, "alpha": adapter.alpha}
        for key, t in adapter.state_dict().items():
            if not key.startswith("base."):
                tensors[f"{name}.{key}"] = t.detach().cpu().contiguous()
    for name, p in _trainable_outside_adapters(model, adapters).items():
        tensors[f"trainable.{name}"] = p.detach().cpu().contiguous()
    header = {"layers": layers}
    if allocator is not None:
        state = allocator.state_dict()
        header["allocator"] = {"budget": state["budget"], "last_step": state["last_step"]}
        if state["ibar"] is not None:
            tensors["allocator.ibar"] = state["ibar"].cpu()
            tensors["allocator.ubar"] = state["ubar"].cpu()
    save_file(tensors, str(path), metadata={"adalora_lite": json.dumps(header)})


def load_adapters(path, model, allocator=None):
    """Load into `model`, adding the saved adapters first if it has none; returns {name: adapter}.

    Values are copied bit for bit (into the model's device; the dtype must match what was saved).
    """
    tensors = load_file(str(path))
    with safe_open(str(path), framework="pt") as f:
        header = json.loads(f.metadata()["adalora_lite"])
    adapters = find_adapters(model) or _add_saved(model, header["layers"])
    if set(adapters) != set(header["layers"]):
        raise ConfigError(f"saved adapters {sorted(header['layers'])} do not match the model's "
                          f"adapters {sorted(adapters)}")
    with torch.no_grad():
        for name, adapter in adapters.items():
            for key, t in adapter.state_dict().items():
                if not key.startswith("base."):
                    saved = tensors[f"{name}.{key}"]
                    if saved.shape != t.shape or saved.dtype != t.dtype:
                        raise ConfigError(f"{name}.{key}: saved {tuple(saved.shape)} {saved.dtype}, "
                                          f"model has {tuple(t.shape)} {t.dtype}")
                    t.copy_(saved)
        params = dict(model.named_parameters())
        for key in tensors:
            if key.startswith("trainable."):
                name = key.removeprefix("trainable.")
                if name not in params:
                    raise ConfigError(f"saved trainable parameter {name!r} is not in the model")
                params[name].copy_(tensors[key]).requires_grad_(True)
    if allocator is not None:
        _load_allocator(allocator, header, tensors)
    return adapters


def _trainable_outside_adapters(model, adapters):
    inside = {id(p) for a in adapters.values() for p in a.parameters()}
    return {n: p for n, p in model.named_parameters() if p.requires_grad and id(p) not in inside}


def _add_saved(model, layers):
    adapters = {}
    for name, spec in layers.items():
        adapters.update(add_adapters(model, [name], adapter=spec["adapter"], r=spec["r"],
                                     alpha=spec["alpha"]))
    return adapters


def _load_allocator(allocator, header, tensors):
    if "allocator" not in header:
        raise ConfigError("this file was saved without an allocator; pass allocator=None")
    # The EMAs live where the scored weights do: the first weight of the layer protocol's
    # weights_and_grads() (P of an SVDLinear, B of a PrunableLoRALinear), as in the tracker's flat_index().
    device = next(iter(allocator.layers.values())).weights_and_grads()[0][0].device
    ibar = tensors.get("allocator.ibar")
    allocator.load_state_dict({
        **header["allocator"],
        "ibar": None if ibar is None else ibar.to(device),
        "ubar": None if ibar is None else tensors["allocator.ubar"].to(device)})
    for layer in allocator.layers.values():  # as update() leaves them: True once the final allocation is in place
        layer.budget_applied = allocator.frozen

