"""Planted-rank tasks: a fine-tuning problem whose right rank per layer is known in advance (ours).

A "pretrained" tanh MLP (frozen weights W0_k, all layers width x width) and a *teacher*: the same
network with a planted update of known rank added to every layer,

    W_teacher_k = W0_k + Delta_k,   rank(Delta_k) = planted_ranks[k]   (e.g. 1, 4, 2, 5)

The target task is regression on the teacher's outputs. An adapter of rank planted_ranks[k] in
layer k can reach zero loss; fewer triplets in a layer leave a residual that no other layer can
fix. So the question "which layer deserves how many triplets?" has a known answer, and AdaLoRA's
allocation can be scored against it.

    make_planted_task(planted_ranks, width, ...)  -> PlantedTask (cached per argument set)
    planted_model(task, adapter, r, alpha, seed)  a reference.MLP of adapters around W0
    train_planted(task, adapter=..., r=..., ...)  a whole run (AdaLoRA: with a RankAllocator, in
                                                  either step order, `allocator.ORDERS`)
    compare_methods(...)                          AdaLoRA vs uniform LoRA vs planted-rank LoRA
    allocation_error(ranks, planted_ranks)        triplets in the wrong layer
"""
from dataclasses import dataclass, field

import numpy as np

from ..allocator import RankAllocator
from ..counting import adapters_parameter_count
from ..errors import ConfigError, check_int, check_positive
from ..reference import MLP, SVDLinear, train_step
from .common import memoize, minibatches, read_only

PLANTED_RANKS = (1, 4, 2, 5)
# The schedule every planted-rank run of the course uses (notebook 06 and the labs that reuse its task)
PLANTED_SCHEDULE = dict(total_steps=1000, warmup_steps=200, final_steps=300)


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
        return self.loss(planted_model(self, adapter="lora", r=1), split)

    def batches(self, steps, batch_size=64, seed=0):
        """`steps` arrays of `batch_size` training indices (without replacement within a batch)."""
        return minibatches(len(self.X_train), steps, batch_size, seed)


def make_planted_task(planted_ranks=PLANTED_RANKS, *, width=24, singular_value=1.0, weight_gain=1.5,
                      n_train=512, n_test=512, seed=0):
    """A PlantedTask with one layer per entry of `planted_ranks` (deterministic given `seed`).

    W0_k ~ N(0, weight_gain^2 / width); Delta_k = U diag(singular_value) V^T with orthonormal
    U, V (width, rank): every planted direction has the same size, so the only thing that makes
    a layer need more triplets is its planted rank. Cached: the same arguments give the same object.
    """
    return _make_planted_task(tuple(planted_ranks), width, singular_value, weight_gain, n_train,
                              n_test, seed)


@memoize(maxsize=32)
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
    return PlantedTask(weights=_read_only_all(weights), biases=_read_only_all(biases),
                       deltas=_read_only_all(deltas), planted_ranks=planted_ranks,
                       X_train=read_only(X_train), Y_train=read_only(Y_train),
                       X_test=read_only(X_test), Y_test=read_only(Y_test))


def planted_model(task, *, adapter="svd", r, alpha=None, seed=0):
    """A reference.MLP with `adapter` layers around the frozen weights of `task`.

    r: one int for every layer, or a tuple with one rank per layer. alpha: None means alpha = r
    in every layer (scale alpha/r = 1).
    """
    ranks = (r,) * len(task.weights) if np.isscalar(r) else tuple(r)
    if len(ranks) != len(task.weights):
        raise ConfigError(f"r needs one rank per layer ({len(task.weights)}), got {r!r}")
    return MLP(task.weights, task.biases, adapter=adapter, r=ranks,
               alpha=ranks if alpha is None else alpha, rng=seed)


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


class StepProbe:
    """Stands in for the allocator in `train_step`: passes both moments of an AdaLoRA step on to it
    and keeps what the model no longer holds once the step is over (ours, for the recordings).

    lambdas_tilde  (n_triplets,) lam after the optimizer step, before the moment after it: the
                   paper's Lambda-tilde that the operator T keeps or zeroes (eq. (6)), in both
                   orders (PEFT's masks at that moment, the paper's re-applies its mask there)
    scored         with keep_scored: {name: ((P, dP), (lam, dlam), (Q, dQ))} copied at the moment
                   that called `update(step)`, i.e. exactly what the allocator scored; None else
    """

    def __init__(self, allocator, keep_scored=False):
        self.allocator, self.keep_scored = allocator, keep_scored
        self.lambdas_tilde = self.scored = None

    def before_optimizer_step(self, step):
        self._pass_on(self.allocator.before_optimizer_step, step)

    def after_optimizer_step(self, step):
        self.lambdas_tilde = np.concatenate([layer.lam for layer in self.allocator.layers.values()])
        self._pass_on(self.allocator.after_optimizer_step, step)

    def _pass_on(self, moment, step):
        seen = self._weights_and_grads() if self.keep_scored else None
        last_update = self.allocator.last_step
        moment(step)
        if self.allocator.last_step != last_update:  # this moment called update(step)
            self.scored = seen

    def _weights_and_grads(self):
        return {name: tuple((w.copy(), g.copy()) for w, g in layer.weights_and_grads())
                for name, layer in self.allocator.layers.items()}


def train_planted(task, *, adapter="svd", r=8, alpha=None, target_budget=None,
                  total_steps=PLANTED_SCHEDULE["total_steps"],
                  warmup_steps=PLANTED_SCHEDULE["warmup_steps"],
                  final_steps=PLANTED_SCHEDULE["final_steps"], mask_interval=1, beta1=0.85,
                  beta2=0.85, lr=0.2, gamma=0.1, batch_size=64, seed=0, method=None,
                  callback=None, score="importance", order="peft", keep_scored=False):
    """Train adapters on `task`; with adapter="svd" and a target_budget, AdaLoRA's allocator masks.

    score: the allocator's S_i, one of `allocator.SCORES` (AdaLoRA's is "importance"; the others are
    the paper's Table 4 ablations and a random control); seeded by `seed` where it draws.
    order: the step order, one of `allocator.ORDERS` (PEFT's, the default, or the paper's).

    Steps are numbered 1..total_steps. `callback(step, model, allocator, loss, probe)` runs once
    before training (step 0, loss NaN) and after every step; probe: the StepProbe of the run
    (`keep_scored` passed on), None without an allocator. Returns a RunResult.
    """
    total_steps = check_int("total_steps", total_steps, low=1)
    model = planted_model(task, adapter=adapter, r=r, alpha=alpha, seed=seed)
    allocator = probe = None
    if adapter == "svd" and target_budget is not None:
        allocator = RankAllocator(model.layers, target_budget=target_budget,
                                  total_steps=total_steps, warmup_steps=warmup_steps,
                                  final_steps=final_steps, mask_interval=mask_interval,
                                  beta1=beta1, beta2=beta2, score=score, seed=seed, order=order)
        probe = StepProbe(allocator, keep_scored)
    use_gamma = gamma if adapter == "svd" else 0.0
    if callback is not None:
        callback(0, model, allocator, float("nan"), probe)
    for step, idx in enumerate(task.batches(total_steps, batch_size, seed=seed + 1000), start=1):
        loss = train_step(model, task.X_train[idx], task.Y_train[idx], lr=lr, gamma=use_gamma,
                          loss_fn=mse, allocator=probe, step=step)
        if callback is not None:
            callback(step, model, allocator, loss, probe)
    ranks = {name: _rank_of(layer) for name, layer in model.layers.items()}
    return RunResult(method=method or adapter, seed=seed, test_loss=task.loss(model),
                     start_loss=task.start_loss(), ranks=ranks,
                     n_params=adapters_parameter_count(model.layers, ranks),
                     model=model, allocator=allocator)


def compare_methods(planted_ranks=PLANTED_RANKS, *, seeds=range(5), width=24, r=8,
                    total_steps=PLANTED_SCHEDULE["total_steps"],
                    warmup_steps=PLANTED_SCHEDULE["warmup_steps"],
                    final_steps=PLANTED_SCHEDULE["final_steps"], lr=0.2, gamma=0.1,
                    order="peft", progress=True):
    """AdaLoRA vs LoRA at the same budget on planted-rank tasks, one task per seed.

    Per seed (the task and the initialisation both change with it):
      "AdaLoRA"        SVD adapters of rank r everywhere, budget cut to sum(planted_ranks),
                       the allocator in step order `order`
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
            res = train_planted(task, adapter="svd", r=r, target_budget=total, gamma=gamma,
                                warmup_steps=warmup_steps, final_steps=final_steps, seed=seed,
                                order=order, **common)
        elif name == "LoRA uniform":
            res = train_planted(task, adapter="lora", r=total // n_layers, seed=seed, **common)
        else:
            res = train_planted(task, adapter="lora", r=tuple(planted_ranks), seed=seed, **common)
        res.method, res.model, res.allocator = name, None, None
        results.append(res)
    return results


def allocation_error(ranks, planted_ranks):
    """How many triplets sit in the wrong layer: half the L1 distance between the allocations."""
    found = np.array(list(ranks.values()) if isinstance(ranks, dict) else ranks)
    return int(np.abs(found - np.array(planted_ranks)).sum()) // 2


def _rank_of(layer):
    """The rank a layer still uses: kept triplets of an SVD adapter, r of a LoRA one."""
    return int(layer.mask.sum()) if isinstance(layer, SVDLinear) else layer.r


def _read_only_all(arrays):
    return tuple(read_only(a) for a in arrays)
