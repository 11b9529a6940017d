"""LoRA from scratch on a frozen digits network (notebook 03): the task, the parameter count, why
B starts at zero, the NumPy reference against torch, and the rank.

The task: a tanh MLP 64 -> 64 -> 64 -> 10 is "pretrained" on scikit-learn's digits 0-4 only, then
frozen. The new task is all ten digits: the frozen network gets none of 5-9 right, so its adapters
have real work to do. Everything here trains that network's LoRA adapters, through the NumPy
reference (`adalora_lite.reference`) or the PyTorch path (`adalora_lite.nn.add_adapters`).

    digits_lora_task()          -> digits.DigitsTask (cached: pretraining runs once per process)
    lora_model_with(task, layer_cls, ...)  the pretrained network with any LoRA layer class (a learner's)
    parameter_count(d_out, d_in, r)      LoRA's (d_out + d_in) r against full d_out d_in, and the fraction
    start_comparison(task, ...)          B = 0 against the other starts (STARTS), before training
    train_twins(task, ...)               the same LoRA run in NumPy and torch, step by step
    rank_ablation(task, ...)             test accuracy against r

Beside it: adam.py (the training loop), lora_scale.py (alpha/r, alpha, alpha/sqrt(r) and the
learning rate), lora_deployment.py (merging, timing, swapping adapters), digits.py (DigitsTask).
"""
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .. import counting, reference
from ..data import load_digits_split
from ..errors import check_int
from ..nn import MLP as TorchMLP
from ..nn import trainable_parameter_count
from .adam import train_adam
from .common import memoize, single_thread
from .common import progress as progress_bar
from .digits import DigitsTask

OLD_CLASSES = (0, 1, 2, 3, 4)


@memoize(maxsize=2)
def digits_lora_task(seed=0, hidden=(64, 64), steps=400, lr=1e-2):
    """Pretrain the tanh MLP on digits 0-4 (Adam, minibatches of 128; about a second), freeze it,
    and return the ten-digit task (a `digits.DigitsTask`)."""
    X_train, X_test, y_train, y_test = load_digits_split()
    old = np.isin(y_train, OLD_CLASSES)
    torch.manual_seed(seed)
    model = TorchMLP.from_sizes((X_train.shape[1], *hidden, 10))  # initialised under the seed
    train_adam(model, X_train[old], y_train[old], steps=steps, lr=lr, seed=seed)
    weights, biases = model.arrays()
    for a in weights + biases:
        a.setflags(write=False)
    return DigitsTask(weights, biases, X_train, y_train, X_test, y_test)


def lora_model_with(task, layer_cls, *, r, alpha, seed=0):
    """The pretrained network with layer_cls(base, r, alpha) around every nn.Linear (r capped at
    min(d_out, d_in), as `add_lora`), created after torch.manual_seed(seed): a LoRA layer that draws
    A as the library's LoRALinear does gets the same A (notebook 03's exercise)."""
    model = task.torch_model()
    torch.manual_seed(seed)
    for k, base in enumerate(model.layers):
        model.layers[k] = layer_cls(base, min(r, base.out_features, base.in_features), alpha)
    return model


def parameter_count(d_out, d_in, r):
    """{'full': d_out d_in, 'lora': (d_out + d_in) r, 'fraction': lora / full} for one layer at a
    rank it can hold, 1..min(d_out, d_in) (`counting.parameter_count`, side by side)."""
    d_out, d_in = check_int("d_out", d_out, low=1), check_int("d_in", d_in, low=1)
    r = check_int("r", r, low=1, high=min(d_out, d_in))
    full, lora = counting.parameter_count(d_out, d_in, kind="full"), counting.parameter_count(d_out, d_in, r)
    return {"full": full, "lora": lora, "fraction": lora / full}


# -- why B = 0 ---------------------------------------------------------------------------------------

STARTS = ("B = 0, A random (LoRA)", "A = B = 0", "A and B random")


def start_comparison(task, *, r=4, alpha=8.0, seed=0):
    """The three ways to start A and B, on the NumPy reference, before any training:

    {init: {"output_change": max |logits - pretrained logits| on the test set,
            "old_loss": test cross-entropy on digits 0-4 (what pretraining taught),
            "old_accuracy": test accuracy on digits 0-4,
            "grad_A": ||dL/dA||, "grad_B": ||dL/dB|| (Frobenius, over all layers, first batch =
            the whole training set)}}.
    "A and B random" draws B Kaiming-uniform over its fan-in r, as an ordinary layer would be.
    """
    frozen = task.frozen_logits(task.X_test)
    rows = {}
    for init in STARTS:
        ref = task.reference_model(r=r, alpha=alpha, seed=seed)
        rng = np.random.default_rng(seed + 1)
        for layer in ref.layers.values():
            if init == "A = B = 0":
                layer.A[:] = 0
            elif init == "A and B random":
                bound = 1 / np.sqrt(layer.r)
                layer.B[:] = rng.uniform(-bound, bound, size=layer.B.shape)
        change = float(np.abs(ref.forward(task.X_test) - frozen).max())
        old_acc = task.accuracy(ref, classes=OLD_CLASSES)
        X_old, y_old = task.split("test", OLD_CLASSES)
        old_loss = float(reference.cross_entropy(ref.forward(X_old), y_old)[0])
        _, dlogits = reference.cross_entropy(ref.forward(task.X_train), task.y_train)
        ref.backward(dlogits)
        grads = [layer.grads for layer in ref.layers.values()]
        rows[init] = {"output_change": change, "old_loss": old_loss, "old_accuracy": old_acc,
                      "grad_A": float(np.sqrt(sum((g["A"] ** 2).sum() for g in grads))),
                      "grad_B": float(np.sqrt(sum((g["B"] ** 2).sum() for g in grads)))}
    return rows


# -- the NumPy reference and the torch path, side by side ---------------------------------------

@dataclass
class TwinRun:
    numpy_losses: np.ndarray  # (steps,) minibatch loss before each step
    torch_losses: np.ndarray
    max_loss_diff: float  # max over steps of |numpy - torch|
    max_weight_diff: float  # max over layers of |B A (numpy) - B A (torch)| after training
    ref: object  # the trained reference.MLP
    net: nn.Module  # the trained torch MLP with adapters


def train_twins(task, *, r=4, alpha=8.0, lr=0.25, steps=100, batch_size=128, seed=0, layer=None):
    """Train the same LoRA adapters with `reference.train_step` (NumPy, hand-written backward) and
    with torch autograd + the same SGD step, from the same A and the same minibatches.

    layer: a NumPy LoRA layer class, layer(W0, b, A, B, alpha) with forward(x), backward(dh) (which
    fills `.grads` {"A", "B"}), params(), and attributes A, B, scale (notebook 03 writes one); it
    replaces the reference's LoRALinear on every layer, from the same A and B. None: the reference's.
    """
    ref = task.reference_model(r=r, alpha=alpha, seed=seed)
    if layer is not None:
        ref.layers = {name: layer(l.weight, l.bias, l.A.copy(), l.B.copy(), alpha)
                      for name, l in ref.layers.items()}
    net, adapters = task.lora_model(r=r, alpha=alpha, seed=seed)
    with torch.no_grad():  # one initialisation for both: the reference's A (and B = 0)
        for name, layer in ref.layers.items():
            adapters[name].A.copy_(torch.from_numpy(layer.A))
            adapters[name].B.copy_(torch.from_numpy(layer.B))
    params = [p for p in net.parameters() if p.requires_grad]
    X, y = torch.as_tensor(task.X_train), torch.as_tensor(task.y_train)
    np_losses, torch_losses = np.empty(steps), np.empty(steps)
    with single_thread():
        for t, idx in enumerate(task.batches(steps, batch_size, seed)):
            np_losses[t] = reference.train_step(ref, task.X_train[idx], task.y_train[idx], lr=lr)
            loss = F.cross_entropy(net(X[idx]), y[idx])
            grads = torch.autograd.grad(loss, params)
            with torch.no_grad():
                for p, g in zip(params, grads):
                    p -= lr * g
            torch_losses[t] = loss.item()
    weight_diff = max(float(np.abs(lay.scale * lay.B @ lay.A - adapters[name].delta_weight().detach().numpy()).max())
                      for name, lay in ref.layers.items())
    return TwinRun(np_losses, torch_losses, float(np.abs(np_losses - torch_losses).max()),
                   weight_diff, ref, net)


# -- rank ablation ----------------------------------------------------------------------------------

@dataclass
class RankAblation:
    ranks: tuple
    accuracy: np.ndarray  # (ranks, seeds) test accuracy
    params: tuple  # trainable parameters per rank
    start_accuracy: float  # the frozen pretrained network
    full_accuracy: float  # full fine-tuning (every weight trained), same budget
    full_params: int

    @property
    def mean(self):
        return self.accuracy.mean(axis=1)


def rank_ablation(task, *, ranks=(1, 2, 4, 8, 16), alpha=8.0, lr=1e-2, steps=300, seeds=(0, 1),
                  progress=True):
    """Test accuracy of LoRA at each rank (Adam, same steps and lr), beside full fine-tuning."""
    acc = np.zeros((len(ranks), len(seeds)))
    params = []
    runs = [(j, s) for j in range(len(ranks)) for s in range(len(seeds))]
    for j, s in progress_bar(runs + [(None, 0)], progress, "rank ablation"):
        if j is None:  # full fine-tuning, for reference
            model = task.torch_model().requires_grad_(True)
            train_adam(model, task.X_train, task.y_train, steps=steps, lr=lr, seed=seeds[0])
            full_acc = task.accuracy(model)
            full_params = trainable_parameter_count(model)
            continue
        model, adapters = task.lora_model(r=ranks[j], alpha=alpha, seed=seeds[s])
        train_adam(model, task.X_train, task.y_train, steps=steps, lr=lr, seed=seeds[s])
        acc[j, s] = task.accuracy(model)
        if s == 0:
            params.append(counting.adapters_parameter_count(adapters))
    return RankAblation(tuple(ranks), acc, tuple(params), task.accuracy(task.torch_model()),
                        full_acc, full_params)
