"""Planted-rank tasks: a fine-tuning problem whose right rank per layer is known in advance.

A "pretrained" tanh MLP (frozen weights W0_k, all layers width x width) and a *teacher*: the same
network with a planted update of known rank added to every layer,

    W_teacher_k = W0_k + Delta_k,   rank(Delta_k) = planted_ranks[k]   (e.g. 1, 4, 2, 5)

The target task is regression on the teacher's outputs. An adapter of rank planted_ranks[k] in
layer k can reach zero loss; fewer triplets in a layer leave a residual that no other layer can
fix. So the question "which layer deserves how many triplets?" has a known answer, and AdaLoRA's
allocation can be scored against it.

    make_planted_task(planted_ranks, width, ...)  -> PlantedTask (cached per argument set)
    build_model(task, adapter, r, alpha, seed)    a reference.MLP of adapters around W0
    train(task, adapter=..., r=..., ...)          a whole run (AdaLoRA: with a RankAllocator)
    compare_methods(...)                          AdaLoRA vs uniform LoRA vs planted-rank LoRA
"""
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from .allocator import RankAllocator
from .errors import ConfigError, check_int, check_positive
from .reference import MLP, LoRALinear, SVDLinear, train_step

PLANTED_RANKS = (1, 4, 2, 5)


@dataclass(frozen=True, eq=False)  # eq=False: hashed by identity (it holds arrays)
class PlantedTask:
    weights: tuple  # frozen "pretrained" W0_k, (width, width) each, read-only
    biases: tuple
    deltas: tuple  # the planted updates Delta_k, rank planted_ranks[k]
    planted_ranks: tuple
    X_train: np.ndarray  # (n_train, width) standard normal inputs
    Y_train: np.ndarray  # (n_train, width) teacher outputs
    X_test: np.ndarray
    Y_test: np.ndarray

    @property
    def layer_names(self):
        return tuple(f"layers.{k}" for k in range(len(self.weights)))

    @property
    def width(self):
        return self.weights[0].shape[0]

    @property
    def total_rank(self):
        """The matching total budget: the sum of the planted ranks."""
        return int(sum(self.planted_ranks))

    def loss(self, model, split="test"):
        """0.5 * mean over samples of ||model(x) - teacher(x)||^2 (no regularizer)."""
        X, Y = (self.X_test, self.Y_test) if split == "test" else (self.X_train, self.Y_train)
        return float(mse(model.forward(X), Y)[0])

    def start_loss(self, split="test"):
        """The loss of the frozen network (no adaptation): what fine-tuning starts from."""
        return self.loss(build_model(self, adapter="lora", r=1), split)

    def batches(self, steps, batch_size=64, seed=0):
        """`steps` arrays of `batch_size` training indices (without replacement within a batch)."""
        rng = np.random.default_rng(seed)
        return [rng.choice(len(self.X_train), batch_size, replace=False) for _ in range(steps)]


def make_planted_task(planted_ranks=PLANTED_RANKS, *, width=24, singular_value=1.0, weight_gain=1.5,
                      n_train=512, n_test=512, seed=0):
    """A PlantedTask with one layer per entry of `planted_ranks` (deterministic given `seed`).

    W0_k ~ N(0, weight_gain^2 / width); Delta_k = U diag(singular_value) V^T with orthonormal
    U, V (width, rank): every planted direction has the same size, so the only thing that makes
    a layer need more triplets is its planted rank. Cached: the same arguments give the same object.
    """
    return _make_planted_task(tuple(planted_ranks), width, singular_value, weight_gain, n_train,
                              n_test, seed)


@lru_cache(maxsize=32)
def _make_planted_task(planted_ranks, width, singular_value, weight_gain, n_train, n_test, seed):
    planted_ranks = tuple(int(check_int("planted rank", k, low=1, high=width)) for k in planted_ranks)
    if not planted_ranks:
        raise ConfigError("planted_ranks must name at least one layer")
    check_positive("singular_value", singular_value)
    check_positive("weight_gain", weight_gain)
    rng = np.random.default_rng(seed)
    weights, deltas = [], []
    for k in planted_ranks:
        weights.append(rng.standard_normal((width, width)) * weight_gain / np.sqrt(width))
        U = np.linalg.qr(rng.standard_normal((width, k)))[0]  # (width, k) orthonormal columns
        V = np.linalg.qr(rng.standard_normal((width, k)))[0]
        deltas.append(singular_value * U @ V.T)  # (width, width), rank k
    biases = [np.zeros(width) for _ in planted_ranks]
    teacher = MLP([w + d for w, d in zip(weights, deltas)], biases, adapter="lora", r=1, alpha=1)
    X_train = rng.standard_normal((n_train, width))
    X_test = rng.standard_normal((n_test, width))
    Y_train, Y_test = teacher.forward(X_train), teacher.forward(X_test)  # LoRA B = 0: no change
    return PlantedTask(weights=_frozen_all(weights), biases=_frozen_all(biases),
                       deltas=_frozen_all(deltas), planted_ranks=planted_ranks,
                       X_train=_frozen(X_train), Y_train=_frozen(Y_train),
                       X_test=_frozen(X_test), Y_test=_frozen(Y_test))


def build_model(task, *, adapter="svd", r, alpha=None, seed=0):
    """A reference.MLP with `adapter` layers around the frozen weights of `task`.

    r: one int for every layer, or a tuple with one rank per layer. alpha: None means alpha = r
    in every layer (scale alpha/r = 1).
    """
    ranks = (r,) * len(task.weights) if np.isscalar(r) else tuple(r)
    if len(ranks) != len(task.weights):
        raise ConfigError(f"r needs one rank per layer ({len(task.weights)}), got {r!r}")
    if len(set(ranks)) == 1:
        return MLP(task.weights, task.biases, adapter=adapter, r=ranks[0],
                   alpha=ranks[0] if alpha is None else alpha, rng=seed)
    # Different ranks per layer: MLP takes one r, so build its layers one by one.
    cls = {"svd": SVDLinear, "lora": LoRALinear}[adapter]
    model = MLP(task.weights, task.biases, adapter=adapter, r=1, alpha=1, rng=seed)
    rng = np.random.default_rng(seed)
    model.layers = {name: cls(w, b, r=k, alpha=k if alpha is None else alpha, rng=rng)
                    for name, w, b, k in zip(task.layer_names, task.weights, task.biases, ranks)}
    return model


def mse(pred, target):
    """0.5 * mean_n ||pred_n - target_n||^2 and its gradient wrt pred, both (n, d) arrays."""
    diff = pred - target
    n = len(diff)
    return 0.5 * float((diff ** 2).sum()) / n, diff / n


@dataclass
class RunResult:
    """What one training run ends with."""
    method: str
    seed: int
    test_loss: float
    start_loss: float
    ranks: dict  # {layer name: rank at the end}
    n_params: int  # trainable parameters left at the end (masked triplets not counted)
    model: object = field(repr=False, default=None)
    allocator: object = field(repr=False, default=None)

    @property
    def relative_loss(self):
        """Test loss as a fraction of the frozen network's: 1 = no progress, 0 = solved."""
        return self.test_loss / self.start_loss


def train(task, *, adapter="svd", r=8, alpha=None, target_budget=None, total_steps=1000,
          warmup_steps=200, final_steps=300, mask_interval=1, beta1=0.85, beta2=0.85, lr=0.2,
          gamma=0.1, batch_size=64, seed=0, method=None, callback=None):
    """Train adapters on `task`; with adapter="svd" and a target_budget, AdaLoRA's allocator masks.

    Steps are numbered 1..total_steps. `callback(step, model, allocator, loss, lam_before_mask)`
    runs after every step (lam_before_mask: {name: lam (r,)} after the SGD step, before masking;
    None without an allocator). Returns a RunResult.
    """
    total_steps = check_int("total_steps", total_steps, low=1)
    model = build_model(task, adapter=adapter, r=r, alpha=alpha, seed=seed)
    allocator = None
    if adapter == "svd" and target_budget is not None:
        allocator = RankAllocator(model.layers, target_budget=target_budget,
                                  total_steps=total_steps, warmup_steps=warmup_steps,
                                  final_steps=final_steps, mask_interval=mask_interval,
                                  beta1=beta1, beta2=beta2)
    use_gamma = gamma if adapter == "svd" else 0.0
    for step, idx in enumerate(task.batches(total_steps, batch_size, seed=seed + 1000), start=1):
        loss = train_step(model, task.X_train[idx], task.Y_train[idx], lr=lr, gamma=use_gamma,
                          loss_fn=mse)
        lam_before = None
        if allocator is not None:
            if callback is not None:
                lam_before = {name: layer.lam.copy() for name, layer in model.layers.items()}
            allocator.update(step)
        if callback is not None:
            callback(step, model, allocator, loss, lam_before)
    ranks = {name: _rank_of(layer) for name, layer in model.layers.items()}
    return RunResult(method=method or adapter, seed=seed, test_loss=task.loss(model),
                     start_loss=task.start_loss(), ranks=ranks,
                     n_params=sum(_param_count(layer) for layer in model.layers.values()),
                     model=model, allocator=allocator)


def compare_methods(planted_ranks=PLANTED_RANKS, *, seeds=range(5), width=24, init_r=8,
                    total_steps=1000, warmup_steps=200, final_steps=300, lr=0.2, gamma=0.1,
                    progress=True):
    """AdaLoRA vs LoRA at the same budget on planted-rank tasks, one task per seed.

    Per seed (the task and the initialisation both change with it):
      "AdaLoRA"        SVD adapters of rank init_r everywhere, budget cut to sum(planted_ranks)
      "LoRA uniform"   rank sum(planted_ranks) / n_layers in every layer (must divide evenly)
      "LoRA planted"   the planted rank in every layer: the allocation an oracle would choose
    Returns a list of RunResult (models dropped).
    """
    from tqdm.auto import tqdm

    n_layers, total = len(planted_ranks), sum(planted_ranks)
    if total % n_layers:
        raise ConfigError(f"the total planted rank {total} must divide evenly over {n_layers} "
                          "layers for a uniform LoRA at the same budget")
    common = dict(total_steps=total_steps, lr=lr, batch_size=64)
    runs = [(seed, name) for seed in seeds for name in ("AdaLoRA", "LoRA uniform", "LoRA planted")]
    results = []
    for seed, name in tqdm(runs, desc="training runs", disable=not progress):
        task = make_planted_task(tuple(planted_ranks), width=width, seed=seed)
        if name == "AdaLoRA":
            res = train(task, adapter="svd", r=init_r, target_budget=total, gamma=gamma,
                        warmup_steps=warmup_steps, final_steps=final_steps, seed=seed, **common)
        elif name == "LoRA uniform":
            res = train(task, adapter="lora", r=total // n_layers, seed=seed, **common)
        else:
            res = train(task, adapter="lora", r=tuple(planted_ranks), seed=seed, **common)
        res.method, res.model, res.allocator = name, None, None
        results.append(res)
    return results


def allocation_error(ranks, planted_ranks):
    """How many triplets sit in the wrong layer: half the L1 distance between the allocations."""
    found = np.array(list(ranks.values()) if isinstance(ranks, dict) else ranks)
    return int(np.abs(found - np.array(planted_ranks)).sum()) // 2


def _rank_of(layer):
    return int(layer.mask.sum()) if isinstance(layer, SVDLinear) else layer.r


def _param_count(layer):
    """Trainable parameters that still matter: a masked triplet (P column, lam, Q row) does not."""
    if isinstance(layer, SVDLinear):
        return _rank_of(layer) * (layer.d_out + layer.d_in + 1)
    return layer.r * (layer.d_out + layer.d_in)


def _frozen(a):
    a = np.array(a)
    a.flags.writeable = False
    return a


def _frozen_all(arrays):
    return tuple(_frozen(a) for a in arrays)
