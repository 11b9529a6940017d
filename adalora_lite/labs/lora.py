"""Small, real LoRA experiments for notebook 03 ("LoRA from scratch").

The task: a tanh MLP 64 -> 64 -> 64 -> 10 is "pretrained" on scikit-learn's digits 0-4 only, then
frozen. The new task is all ten digits: the frozen network gets none of 5-9 right, so its adapters
have real work to do. Everything here trains that network's LoRA adapters, through the NumPy
reference (`adalora_lite.reference`) or the PyTorch path (`adalora_lite.nn.add_adapters`).

    digits_lora_task()          -> digits.DigitsTask (cached: pretraining runs once per process)
    DigitsTask.torch_model()    a fresh, frozen copy of the pretrained network (nn.MLP, no adapters)
    DigitsTask.lora_model(r=...)  the same with LoRA adapters on every layer (add_lora)
    DigitsTask.reference_model()  the NumPy reference MLP with LoRA adapters, same frozen weights
    DigitsTask.mirrored()       the same network and labels, images flipped: a second task
    add_lora(model, r, alpha, scaling)   adapters with the scale alpha/r, or alpha (no division)
    parameter_count(d_out, d_in, r)      LoRA's (d_out + d_in) r against full d_out d_in
    start_comparison(task, ...)          B = 0 against the other starts (STARTS), before training
    train_adam(model, task, ...)         train what requires grad, Adam, reproducible minibatches
    train_twins(task, ...)               the same LoRA run in NumPy and torch, step by step
    lora_model_with(task, layer_cls, ...)  the pretrained network with any LoRA layer class (a learner's)
    lr_sweep(task, ...)                  final loss over (scaling, rank, learning rate)
    breakdown_search(task, ...)          the learning rate where training breaks down, by bisection
    first_step_gain(task, ...)           loss decrease after one Adam step, per rank
    rank_ablation(task, ...)             test accuracy against r
    time_forward(models, x)              inference time per model, interleaved (merged vs unmerged)
    forward_ops(model, x)                the operations one forward pass runs, counted (exact)
    swap_adapter(adapter, A, B)          W' = W - (a/r) B A + (a/r) B' A' on a merged layer
"""
import time
from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.overrides import TorchFunctionMode, resolve_name

from .. import reference
from ..data import load_digits_split
from ..errors import ConfigError, check_int, check_positive
from ..nn import MLP as TorchMLP
from ..nn import add_adapters, find_adapters, trainable_parameter_count
from .common import memoize, single_thread
from .common import progress as progress_bar
from .digits import DigitsTask, predict  # noqa: F401  (predict: notebook 03 calls lab.predict)
from .rank import adapter_param_count, full_param_count

OLD_CLASSES = (0, 1, 2, 3, 4)
SCALINGS = ("alpha/r", "alpha")  # the scale widget's two curves
RSLORA = "alpha/sqrt(r)"  # rsLoRA's scale (Kalajdzievski, 2023)
ALL_SCALINGS = SCALINGS + (RSLORA,)



def add_lora(model, *, r, alpha, scaling="alpha/r", targets=None):
    """LoRA adapters on `targets` (default: every nn.Linear); returns {name: adapter}.

    A rank cannot exceed min(d_out, d_in) (10 for the digits head), so each layer gets
    min(r, d_out, d_in). `scaling="alpha/r"` is LoRA's scale; `scaling="alpha"` multiplies B A by
    alpha without dividing by r; `scaling="alpha/sqrt(r)"` is rsLoRA's scale (Kalajdzievski, 2023).
    The notebook measures all three.
    """
    if scaling not in ALL_SCALINGS:
        raise ConfigError(f"scaling must be one of {ALL_SCALINGS}, got {scaling!r}")
    if targets is None:
        targets = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    ranks = {}
    for name in targets:
        base = model.get_submodule(name)
        ranks[name] = min(r, base.out_features, base.in_features)
    adapters = add_adapters(model, targets, adapter="lora", r=ranks, alpha=alpha)
    if scaling != "alpha/r":
        for name, adapter in adapters.items():
            adapter.scale = float(alpha) if scaling == "alpha" else float(alpha) / ranks[name] ** 0.5
    return adapters


@memoize(maxsize=2)
def digits_lora_task(seed=0, hidden=(64, 64), steps=400, lr=1e-2):
    """Pretrain the tanh MLP on digits 0-4 (Adam, minibatches of 128; about a second), freeze it,
    and return the ten-digit task (a `digits.DigitsTask`)."""
    X_train, X_test, y_train, y_test = load_digits_split()
    old = np.isin(y_train, OLD_CLASSES)
    torch.manual_seed(seed)
    model = TorchMLP.from_sizes((X_train.shape[1], *hidden, 10))  # initialised under the seed
    old_task = DigitsTask((), (), X_train[old], y_train[old], X_test, y_test)  # data only
    train_adam(model, old_task, steps=steps, lr=lr, seed=seed)
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


def train_adam(model, task, *, steps, lr, batch_size=128, seed=0, stop_above=1e3):
    """Adam on every parameter of `model` that requires grad, on `task`'s training minibatches.

    Returns the per-step minibatch losses (steps,). A run whose loss exceeds `stop_above` (or turns
    non-finite) has diverged: it stops there and the rest of the array is inf.
    """
    check_int("steps", steps, low=1)
    check_positive("lr", lr)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ConfigError("the model has no parameter that requires grad: nothing to train")
    opt = torch.optim.Adam(params, lr=lr)
    X, y = torch.as_tensor(task.X_train), torch.as_tensor(task.y_train)
    losses = np.full(steps, np.inf)
    with single_thread():
        for t, idx in enumerate(task.batches(steps, batch_size, seed)):
            idx = torch.as_tensor(idx)
            loss = F.cross_entropy(model(X[idx]), y[idx])
            if not torch.isfinite(loss) or loss.item() > stop_above:
                break
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses[t] = loss.item()
    return losses


def parameter_count(d_out, d_in, r):
    """{'full': d_out d_in, 'lora': (d_out + d_in) r, 'fraction': lora / full} for one layer."""
    d_out, d_in = check_int("d_out", d_out, low=1), check_int("d_in", d_in, low=1)
    r = check_int("r", r, low=1, high=min(d_out, d_in))
    full, lora = full_param_count(d_out, d_in), adapter_param_count(d_out, d_in, r, "lora")
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


# -- learning rate against rank, with and without dividing by r ----------------------------------

@dataclass
class LRSweep:
    scalings: tuple
    ranks: tuple
    lrs: np.ndarray
    final_loss: np.ndarray  # (scalings, ranks, lrs): training loss after the run; inf if diverged


def lr_sweep(task, *, ranks=(1, 4, 16), lrs=None, alpha=8.0, scalings=SCALINGS, steps=150,
             batch_size=128, seed=0, progress=True):
    """Train LoRA for every (scaling, rank, lr) with Adam; record the final training loss."""
    lrs = 2.0 ** np.arange(-12, -2) if lrs is None else np.asarray(lrs, dtype=float)
    final = np.full((len(scalings), len(ranks), len(lrs)), np.inf)
    grid = [(i, j, k) for i in range(len(scalings)) for j in range(len(ranks)) for k in range(len(lrs))]
    for i, j, k in progress_bar(grid, progress, "lr sweep"):
        model, _ = task.lora_model(r=ranks[j], alpha=alpha, scaling=scalings[i], seed=seed)
        losses = train_adam(model, task, steps=steps, lr=float(lrs[k]), batch_size=batch_size, seed=seed)
        if np.isfinite(losses[-1]):
            loss = task.loss(model)
            final[i, j, k] = loss if np.isfinite(loss) else np.inf
    return LRSweep(tuple(scalings), tuple(ranks), lrs, final)


@dataclass
class BreakdownSearch:
    """Where training breaks down, per (scaling, rank, seed), found by bisection on log2(lr).

    A run "trained" when its final training loss is below `max_loss` nats, and "broke down"
    otherwise. Each (scaling, rank, seed) ends with a bracket: the run at 2**trained trained, the run
    at 2**broke (one `resolution` higher) broke down. Near the edge, where a run lands is decided by
    its last bits (another CPU may flip it), but a flipped run moves its bracket by about one
    resolution step, not more: the bisection keeps closing in on the edge from either side.
    """
    scalings: tuple
    ranks: tuple
    seeds: tuple
    trained: np.ndarray  # (scalings, ranks, seeds): log2 of the largest lr tried that trained
    broke: np.ndarray  # (scalings, ranks, seeds): log2 of the smallest lr tried that broke down
    resolution: float  # octaves (log2 steps) between the two ends of a final bracket
    max_loss: float
    runs: int  # training runs made

    def edge(self):
        """(scalings, ranks): log2 of the breakdown learning rate, mean over seeds of the brackets'
        midpoints."""
        return ((self.trained + self.broke) / 2).mean(axis=2)

    def band(self):
        """(low, high), each (scalings, ranks): log2 of the lowest lr that trained in every seed's
        bracket and of the highest that broke down; every seed's edge lies between them."""
        return self.trained.min(axis=2), self.broke.max(axis=2)

    def edge_of(self, scaling, r):
        """log2 of the breakdown lr of one (scaling, r), mean over seeds."""
        return float(self.edge()[self.scalings.index(scaling), self.ranks.index(r)])


def breakdown_search(task, *, ranks=(1, 4, 16), scalings=ALL_SCALINGS, seeds=(0, 1), alpha=8.0,
                     steps=100, batch_size=128, low=-6.5, high=-2.5, resolution=0.25, max_loss=1.0,
                     progress=True):
    """Bisect log2(lr) in [low, high] for every (scaling, rank, seed) until the bracket is
    `resolution` octaves wide; returns a BreakdownSearch.

    The ends are not run: `low` is assumed to train and `high` to break down (true on the digits
    task for these scalings, ranks and seeds; a bracket that ends at `low` or `high` says the edge
    lies outside). Each probe is one `train_adam` run from seed's A, then the final training loss.
    """
    check_positive("resolution", resolution)
    if not low < high:
        raise ConfigError(f"need low < high, got {low} and {high}")
    probes = int(np.ceil(np.log2((high - low) / resolution)))
    shape = (len(scalings), len(ranks), len(seeds))
    trained, broke = np.full(shape, float(low)), np.full(shape, float(high))
    arms = [(i, j, s) for i in range(len(scalings)) for j in range(len(ranks)) for s in range(len(seeds))]
    runs = 0
    for i, j, s in progress_bar(arms, progress, "breakdown search"):
        lo, hi = float(low), float(high)
        for _ in range(probes):
            mid = (lo + hi) / 2
            model, _ = task.lora_model(r=ranks[j], alpha=alpha, scaling=scalings[i], seed=seeds[s])
            losses = train_adam(model, task, steps=steps, lr=2.0 ** mid, batch_size=batch_size,
                                seed=seeds[s])
            runs += 1
            ok = bool(np.isfinite(losses[-1])) and task.loss(model) < max_loss
            lo, hi = (mid, hi) if ok else (lo, mid)
        trained[i, j, s], broke[i, j, s] = lo, hi
    return BreakdownSearch(tuple(scalings), tuple(ranks), tuple(seeds), trained, broke,
                           (high - low) / 2 ** probes, float(max_loss), runs)


def first_step_gain(task, *, ranks=(1, 2, 4, 8, 16, 32), alpha=8.0, scaling="alpha/r", lr=1e-3,
                    seeds=(0, 1, 2)):
    """How much one Adam step (full batch) lowers the training loss, per rank, averaged over seeds.

    Adam's first step moves every entry of B by exactly lr (A does not move: its gradient is
    B^T (...) = 0), so B A grows with r; the scale decides whether the update does too.
    """
    X, y = torch.as_tensor(task.X_train), torch.as_tensor(task.y_train)
    start = task.loss(task.torch_model())
    gains = np.zeros(len(ranks))
    with single_thread():
        for j, r in enumerate(ranks):
            for seed in seeds:
                model, _ = task.lora_model(r=r, alpha=alpha, scaling=scaling, seed=seed)
                opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
                F.cross_entropy(model(X), y).backward()
                opt.step()
                gains[j] += (start - task.loss(model)) / len(seeds)
    return gains


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
            train_adam(model, task, steps=steps, lr=lr, seed=seeds[0])
            full_acc = task.accuracy(model)
            full_params = trainable_parameter_count(model)
            continue
        model, adapters = task.lora_model(r=ranks[j], alpha=alpha, seed=seeds[s])
        train_adam(model, task, steps=steps, lr=lr, seed=seeds[s])
        acc[j, s] = task.accuracy(model)
        if s == 0:
            params.append(sum(adapter_param_count(a.d_out, a.d_in, a.r, "lora")
                              for a in adapters.values()))
    return RankAblation(tuple(ranks), acc, tuple(params), task.accuracy(task.torch_model()),
                        full_acc, full_params)


# -- deployment: merging and swapping ---------------------------------------------------------------

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


class _CountOps(TorchFunctionMode):
    """Counts the torch functions and tensor methods called under it (attribute reads left out)."""

    def __init__(self):
        super().__init__()
        self.counts = Counter()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = resolve_name(func) or getattr(func, "__name__", str(func))
        if not name.endswith("__get__"):  # x.shape, A.T: reading an attribute computes nothing
            self.counts[name.rsplit(".", 1)[-1]] += 1
        return func(*args, **(kwargs or {}))


def forward_ops(model, x):
    """{operation: calls} that one forward pass of `model` on `x` runs, in order of first call
    (e.g. {"linear": 3, "matmul": 6, "mul": 3, "add": 3, "tanh": 2} for an unmerged rank-r LoRA
    MLP of three layers, {"linear": 3, "tanh": 2} merged). Counted, not timed: the same on every
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
