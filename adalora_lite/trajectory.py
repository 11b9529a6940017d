"""A recorded AdaLoRA training run, replayable step by step (what the dashboard scrubs through).

Recording trains once (NumPy reference, planted-rank task: see `planted.py`) and keeps, after
every step t = 0..T (t = 0: before training), for every triplet of every layer:

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
from collections import OrderedDict
from dataclasses import asdict, dataclass, replace

import numpy as np

from .errors import ConfigError, check_int
from .planted import PLANTED_RANKS, make_planted_task, train


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
        train(task, adapter="svd", r=params.r, alpha=params.alpha,
              target_budget=params.target_budget, total_steps=T, warmup_steps=params.warmup_steps,
              final_steps=params.final_steps, mask_interval=params.mask_interval,
              beta1=params.beta1, beta2=params.beta2, lr=params.lr, gamma=params.gamma,
              batch_size=params.batch_size, seed=params.seed, callback=keep)
    finally:
        if bar is not None:
            bar.close()
    return Trajectory(params=params, layer_names=task.layer_names, lambdas=_ro(lambdas),
                      lambdas_tilde=_ro(tilde), masks=_ro(masks), scores=_ro(scores),
                      budgets=_ro(budgets), losses=_ro(losses), test_losses=_ro(test_losses),
                      start_loss=start_loss)


_CACHE = OrderedDict()
_CACHE_SIZE = 32
_STATS = {"hits": 0, "misses": 0}


def recorded(params=None, *, progress=True, **changes):
    """`record`, cached per parameter set: replaying a parameter set seen before costs nothing."""
    params = _params(params, changes)
    if params in _CACHE:
        _STATS["hits"] += 1
        _CACHE.move_to_end(params)
        return _CACHE[params]
    _STATS["misses"] += 1
    trajectory = record(params, progress=progress)
    _CACHE[params] = trajectory
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return trajectory


def cache_info():
    """{"hits", "misses", "size"} of the `recorded` cache."""
    return dict(_STATS, size=len(_CACHE))


def cache_clear():
    _CACHE.clear()
    _STATS.update(hits=0, misses=0)


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


def _ro(a):
    a.flags.writeable = False
    return a
