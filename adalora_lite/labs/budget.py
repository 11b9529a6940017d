"""Notebook 06, the budget: planted-rank tasks, AdaLoRA's allocation on them, a run to replay.

Planted-rank tasks: a fine-tuning problem whose right rank per layer is known in advance.

A "pretrained" tanh MLP (frozen weights W0_k, all layers width x width) and a *teacher*: the same
network with a planted update of known rank added to every layer,

    W_teacher_k = W0_k + Delta_k,   rank(Delta_k) = planted_ranks[k]   (e.g. 1, 4, 2, 5)

The target task is regression on the teacher's outputs. An adapter of rank planted_ranks[k] in
layer k can reach zero loss; fewer triplets in a layer leave a residual that no other layer can
fix. So the question "which layer deserves how many triplets?" has a known answer, and AdaLoRA's
allocation can be scored against it.

    make_planted_task(planted_ranks, width, ...)  -> PlantedTask (cached per argument set)
    planted_model(task, adapter, r, alpha, seed)  a reference.MLP of adapters around W0
    train_planted(task, adapter=..., r=..., ...)  a whole run (AdaLoRA: with a RankAllocator)
    compare_methods(...)                          AdaLoRA vs uniform LoRA vs planted-rank LoRA

A recorded AdaLoRA run, replayable step by step (what the dashboard scrubs through): recording
trains once on a planted-rank task and keeps, after every step t = 0..T (t = 0: before training),
for every triplet of every layer:

    lambdas        lam after the step and the masking (what the model uses)
    lambdas_tilde  lam after the SGD step, *before* masking: the paper's Lambda-tilde, the value
                   the operator T keeps or zeroes (for a masked triplet: what it tried to grow back to)
    masks          True = kept by the allocator
    scores         the triplet scores S_i the allocator ranked (zeros before the first update)
and per step the budget b(t), the training objective and the held-out loss (evaluated every
`eval_interval` steps and held in between, which keeps recording at about a second).

    TrajectoryParams(...)          every knob of a run, hashable: the cache key
    record(params, progress=...)   train and record (about a second)
    recorded(params, **changes)    the same, cached: a parameter set already seen is not retrained
    Trajectory.at(t)               one step as per-layer dicts (a Snapshot)
"""
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from ..allocator import RankAllocator
from ..errors import ConfigError, check_int, check_positive
from ..reference import MLP, SVDLinear, train_step
from .common import memoize, minibatches, read_only
from .rank import adapter_param_count

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


def train_planted(task, *, adapter="svd", r=8, alpha=None, target_budget=None, total_steps=1000,
          warmup_steps=200, final_steps=300, mask_interval=1, beta1=0.85, beta2=0.85, lr=0.2,
          gamma=0.1, batch_size=64, seed=0, method=None, callback=None, score="importance"):
    """Train adapters on `task`; with adapter="svd" and a target_budget, AdaLoRA's allocator masks.

    score: the allocator's S_i, one of `allocator.SCORES` (AdaLoRA's is "importance"; the others are
    the paper's Table 4 ablations and a random control); seeded by `seed` where it draws.

    Steps are numbered 1..total_steps. `callback(step, model, allocator, loss, lam_before_mask)`
    runs after every step (lam_before_mask: {name: lam (r,)} after the SGD step, before masking;
    None without an allocator). Returns a RunResult.
    """
    total_steps = check_int("total_steps", total_steps, low=1)
    model = planted_model(task, adapter=adapter, r=r, alpha=alpha, seed=seed)
    allocator = None
    if adapter == "svd" and target_budget is not None:
        allocator = RankAllocator(model.layers, target_budget=target_budget,
                                  total_steps=total_steps, warmup_steps=warmup_steps,
                                  final_steps=final_steps, mask_interval=mask_interval,
                                  beta1=beta1, beta2=beta2, score=score, seed=seed)
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
            res = train_planted(task, adapter="svd", r=init_r, target_budget=total, gamma=gamma,
                        warmup_steps=warmup_steps, final_steps=final_steps, seed=seed, **common)
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
    return int(layer.mask.sum()) if isinstance(layer, SVDLinear) else layer.r


def _param_count(layer):
    """Trainable parameters that still matter: a masked triplet (P column, lam, Q row) does not."""
    kind = "svd" if isinstance(layer, SVDLinear) else "lora"
    return adapter_param_count(layer.d_out, layer.d_in, _rank_of(layer), kind)


def _read_only_all(arrays):
    return tuple(read_only(a) for a in arrays)


# ------------------------------------------------------------ a recorded run, replayable
@dataclass(frozen=True)
class TrajectoryParams:
    r: int = 8  # initial rank of every layer
    alpha: float = 8.0  # scale alpha / r
    beta1: float = 0.85  # EMA of the sensitivity
    beta2: float = 0.85  # EMA of its uncertainty
    target_budget: int = 12  # triplets kept at the end, all layers together
    total_steps: int = 1000
    warmup_steps: int = 200
    final_steps: int = 300
    mask_interval: int = 1
    lr: float = 0.2
    gamma: float = 0.1  # orthogonality regularizer weight
    batch_size: int = 64
    seed: int = 0  # initialisation and minibatches
    eval_interval: int = 5  # held-out loss every this many steps (held in between)
    planted_ranks: tuple = PLANTED_RANKS
    width: int = 24
    singular_value: float = 1.0  # of every planted direction
    task_seed: int = 0

    def __post_init__(self):
        n_layers = len(self.planted_ranks)
        check_int("r", self.r, low=1, high=self.width)
        check_int("target_budget", self.target_budget, low=1, high=self.r * n_layers)
        check_int("eval_interval", self.eval_interval, low=1)
        object.__setattr__(self, "planted_ranks", tuple(int(k) for k in self.planted_ranks))
        object.__setattr__(self, "alpha", float(self.alpha))
        object.__setattr__(self, "beta1", float(self.beta1))
        object.__setattr__(self, "beta2", float(self.beta2))

    @property
    def init_budget(self):
        return self.r * len(self.planted_ranks)


@dataclass(frozen=True)
class Snapshot:
    """One step of a trajectory, cut into layers."""
    step: int
    budget: int
    loss: float  # training objective of this step's minibatch (NaN at step 0)
    test_loss: float  # held-out 0.5 * MSE (at the last evaluation up to this step)
    lambdas: dict  # {name: (r,)}
    lambdas_tilde: dict  # {name: (r,)}
    masks: dict  # {name: (r,) bool}
    scores: dict  # {name: (r,)}

    @property
    def ranks(self):
        return {name: int(m.sum()) for name, m in self.masks.items()}


@dataclass(frozen=True, eq=False)
class Trajectory:
    params: TrajectoryParams
    layer_names: tuple
    lambdas: np.ndarray  # (T+1, n_triplets)
    lambdas_tilde: np.ndarray  # (T+1, n_triplets)
    masks: np.ndarray  # (T+1, n_triplets) bool
    scores: np.ndarray  # (T+1, n_triplets)
    budgets: np.ndarray  # (T+1,) int
    losses: np.ndarray  # (T+1,)
    test_losses: np.ndarray  # (T+1,)
    start_loss: float  # held-out loss of the frozen network

    @property
    def n_steps(self):
        """T: the last step index (steps run 0..T)."""
        return len(self.budgets) - 1

    @property
    def n_triplets(self):
        return self.lambdas.shape[1]

    @property
    def r(self):
        return self.params.r

    @property
    def planted_ranks(self):
        return dict(zip(self.layer_names, self.params.planted_ranks))

    def layer_slice(self, name):
        k = self.layer_names.index(name)
        return slice(k * self.r, (k + 1) * self.r)

    def _check_step(self, step):
        return check_int("step", step, low=0, high=self.n_steps)

    def at(self, step):
        """The state after training step `step` (0: before training), as a Snapshot."""
        t = self._check_step(step)

        def cut(row):
            return {name: row[self.layer_slice(name)] for name in self.layer_names}

        return Snapshot(step=t, budget=int(self.budgets[t]), loss=float(self.losses[t]),
                        test_loss=float(self.test_losses[t]), lambdas=cut(self.lambdas[t]),
                        lambdas_tilde=cut(self.lambdas_tilde[t]), masks=cut(self.masks[t]),
                        scores=cut(self.scores[t]))

    def ranks(self, step):
        """{name: kept triplets} after `step`."""
        t = self._check_step(step)
        counts = self.masks[t].reshape(len(self.layer_names), self.r).sum(axis=1)
        return {name: int(c) for name, c in zip(self.layer_names, counts)}

    def rank_history(self):
        """(T+1, n_layers) int: the rank of every layer after every step."""
        return self.masks.reshape(len(self.masks), len(self.layer_names), self.r).sum(axis=2)

    def n_masked(self, step):
        return int((~self.masks[self._check_step(step)]).sum())


def record(params=None, *, progress=True, **changes):
    """Train AdaLoRA with `params` (TrajectoryParams, `changes` applied) and record every step.

    progress: True shows a tqdm bar, False nothing, a callable is called as progress(step, T).
    """
    params = _params(params, changes)
    task = make_planted_task(params.planted_ranks, width=params.width,
                             singular_value=params.singular_value, seed=params.task_seed)
    T, n = params.total_steps, params.init_budget
    lambdas, tilde = np.zeros((T + 1, n)), np.zeros((T + 1, n))
    masks, scores = np.ones((T + 1, n), dtype=bool), np.zeros((T + 1, n))
    budgets, losses, test_losses = np.full(T + 1, n), np.full(T + 1, np.nan), np.zeros(T + 1)
    start_loss = task.start_loss()
    test_losses[0] = start_loss  # lam = 0 at the start: the model is the frozen network

    bar = None
    if progress is True:
        from tqdm.auto import tqdm
        bar = tqdm(total=T, desc=f"recording AdaLoRA (r={params.r}, b_T={params.target_budget})")
    report = progress if callable(progress) else None

    def keep(step, model, allocator, loss, lam_before):
        layers = model.layers.values()
        lambdas[step] = np.concatenate([layer.lam for layer in layers])
        tilde[step] = np.concatenate([lam_before[name] for name in model.layers])
        masks[step] = np.concatenate([layer.mask for layer in layers])
        scores[step] = allocator.triplet_scores()
        budgets[step], losses[step] = allocator.budget, loss
        if step % params.eval_interval == 0 or step == T:
            test_losses[step] = task.loss(model)
        else:
            test_losses[step] = test_losses[step - 1]
        if bar is not None:
            bar.update(1)
        if report is not None and (step % 25 == 0 or step == T):
            report(step, T)

    try:
        train_planted(task, adapter="svd", r=params.r, alpha=params.alpha,
              target_budget=params.target_budget, total_steps=T, warmup_steps=params.warmup_steps,
              final_steps=params.final_steps, mask_interval=params.mask_interval,
              beta1=params.beta1, beta2=params.beta2, lr=params.lr, gamma=params.gamma,
              batch_size=params.batch_size, seed=params.seed, callback=keep)
    finally:
        if bar is not None:
            bar.close()
    return Trajectory(params=params, layer_names=task.layer_names, lambdas=read_only(lambdas),
                      lambdas_tilde=read_only(tilde), masks=read_only(masks), scores=read_only(scores),
                      budgets=read_only(budgets), losses=read_only(losses), test_losses=read_only(test_losses),
                      start_loss=start_loss)


def recorded(params=None, *, progress=True, **changes):
    """`record`, cached per parameter set: replaying a parameter set seen before costs nothing."""
    return _recorded(_params(params, changes), progress=progress)


@memoize(maxsize=32, ignore=("progress",))
def _recorded(params, *, progress):
    return record(params, progress=progress)


def cache_info():
    """{"hits", "misses", "size"} of the `recorded` cache."""
    return _recorded.cache_info()


def cache_clear():
    _recorded.cache_clear()


def _params(params, changes):
    if params is None:
        params = TrajectoryParams()
    if not isinstance(params, TrajectoryParams):
        raise ConfigError(f"params must be a TrajectoryParams, got {type(params).__name__}")
    unknown = set(changes) - set(asdict(params))
    if unknown:
        raise ConfigError(f"unknown trajectory parameter(s) {sorted(unknown)}; "
                          f"known: {sorted(asdict(params))}")
    return replace(params, **changes) if changes else params


@dataclass(frozen=True, eq=False)
class GradientRecord:
    """What the allocator saw at every step of one AdaLoRA run (notebook 06 replays it).

    steps[t]: {layer name: ((P, dP), (lam, dlam), (Q, dQ))} after step t (1..T; steps[0] is None),
    the weights after the SGD step and before masking, with the gradients that moved them: exactly
    what `RankAllocator.update(t)` scored. masks (T+1, n_triplets) bool and budgets (T+1,): what the
    library's allocator chose.
    """
    params: TrajectoryParams
    layer_names: tuple
    steps: list
    masks: np.ndarray
    budgets: np.ndarray


def record_gradients(params=None, **changes):
    """Train AdaLoRA as `record` does and keep every step's weights and gradients (a GradientRecord)."""
    params = _params(params, changes)
    task = make_planted_task(params.planted_ranks, width=params.width,
                             singular_value=params.singular_value, seed=params.task_seed)
    T, n = params.total_steps, params.init_budget
    steps, masks, budgets = [None], np.ones((T + 1, n), dtype=bool), np.full(T + 1, n)

    def keep(step, model, allocator, loss, lam_before):
        steps.append({name: tuple((w.copy(), g.copy()) for w, g in layer.weights_and_grads())
                      for name, layer in model.layers.items()})
        for name, layer in model.layers.items():  # lam as the allocator scored it: before masking
            (P, dP), (_, dlam), (Q, dQ) = steps[-1][name]
            steps[-1][name] = ((P, dP), (lam_before[name], dlam), (Q, dQ))
        masks[step] = np.concatenate([layer.mask for layer in model.layers.values()])
        budgets[step] = allocator.budget

    train_planted(task, adapter="svd", r=params.r, alpha=params.alpha,
                  target_budget=params.target_budget, total_steps=T, warmup_steps=params.warmup_steps,
                  final_steps=params.final_steps, mask_interval=params.mask_interval,
                  beta1=params.beta1, beta2=params.beta2, lr=params.lr, gamma=params.gamma,
                  batch_size=params.batch_size, seed=params.seed, callback=keep)
    return GradientRecord(params=params, layer_names=task.layer_names, steps=steps,
                          masks=read_only(masks), budgets=read_only(budgets))
