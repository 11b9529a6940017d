"""Notebook 06, the budget: an AdaLoRA run on the planted-rank task, recorded to be replayed (ours).

The task itself lives in labs.planted; its names that notebook 06, labs.transformer and
labs.miniature import from here are re-exported below.

A recorded run (what the dashboard scrubs through) trains once on a planted-rank task and keeps,
after every step t = 0..T (t = 0: before training), a `recording.Recording` (lambdas after the step
and the masking, masks, the budget b(t), the training objective) and, for every triplet of every
layer, what the dashboard adds to it:

    lambdas_tilde  lam after the optimizer step, *before* the mask is applied: the paper's
                   Lambda-tilde, the value the operator T keeps or zeroes (for a masked triplet:
                   what it tried to grow back to)
    scores         the triplet scores S_i the allocator ranked (zeros before the first update)
    test_losses    the held-out loss (evaluated every `eval_interval` steps and held in between,
                   which keeps recording at about a second)

    TrajectoryParams(...)          every knob of a run, hashable: the cache key
    record(params, progress=...)   train and record (about a second)
    recorded(params, **changes)    the same, cached: a parameter set already seen is not retrained
    Trajectory.at(t)               one step as per-layer dicts (a Snapshot)
    record_gradients(params)       the same run, keeping what the allocator scored at every step
"""
from dataclasses import asdict, dataclass, replace
from functools import cached_property

import numpy as np

from ..allocator import check_order
from ..errors import ConfigError, check_int
from ..recording import Recorder, Recording
from .common import memoize, read_only
from .planted import PLANTED_RANKS, PLANTED_SCHEDULE, make_planted_task, train_planted
from .planted import allocation_error, compare_methods  # noqa: F401 (notebook 06 imports them from here)


@dataclass(frozen=True)
class TrajectoryParams:
    r: int = 8  # initial rank of every layer
    alpha: float = 8.0  # scale alpha / r
    beta1: float = 0.85  # EMA of the sensitivity
    beta2: float = 0.85  # EMA of its uncertainty
    target_budget: int = 12  # triplets kept at the end, all layers together
    total_steps: int = PLANTED_SCHEDULE["total_steps"]
    warmup_steps: int = PLANTED_SCHEDULE["warmup_steps"]
    final_steps: int = PLANTED_SCHEDULE["final_steps"]
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
    order: str = "peft"  # the step order, one of allocator.ORDERS

    def __post_init__(self):
        n_layers = len(self.planted_ranks)
        check_int("r", self.r, low=1, high=self.width)
        check_int("target_budget", self.target_budget, low=1, high=self.r * n_layers)
        check_int("eval_interval", self.eval_interval, low=1)
        check_order(self.order)
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


@dataclass(kw_only=True)  # kw_only: these fields follow the Recording's, whose meta has a default
class Trajectory(Recording):
    """A Recording of steps 0..T (meta: the TrajectoryParams as a dict) and what the dashboard
    adds to it; every array is read-only."""
    lambdas_tilde: np.ndarray  # (T+1, n_triplets)
    scores: np.ndarray  # (T+1, n_triplets)
    test_losses: np.ndarray  # (T+1,)
    start_loss: float  # held-out loss of the frozen network

    @cached_property
    def params(self):
        """The TrajectoryParams of the run (read back from meta)."""
        return TrajectoryParams(**self.meta)

    @property
    def n_steps(self):
        """T: the last step index (steps run 0..T)."""
        return len(self.budgets) - 1

    @property
    def n_triplets(self):
        return self.lambdas.shape[1]

    @property
    def planted_ranks(self):
        return dict(zip(self.layer_names, self.params.planted_ranks))

    def _check_step(self, step):
        return check_int("step", step, low=0, high=self.n_steps)

    def at(self, step):
        """The state after training step `step` (0: before training), as a Snapshot."""
        t, slices = self._check_step(step), self.slices()

        def cut(row):
            return {name: row[cols] for name, cols in slices.items()}

        return Snapshot(step=t, budget=int(self.budgets[t]), loss=float(self.losses[t]),
                        test_loss=float(self.test_losses[t]), lambdas=cut(self.lambdas[t]),
                        lambdas_tilde=cut(self.lambdas_tilde[t]), masks=cut(self.masks[t]),
                        scores=cut(self.scores[t]))

    def ranks_at(self, step):
        """{name: kept triplets} after `step` (`ranks` holds the initial ranks)."""
        row = self.masks[self._check_step(step)]
        return {name: int(row[cols].sum()) for name, cols in self.slices().items()}

    def rank_history(self):
        """(T+1, n_layers) int: the rank of every layer after every step."""
        return np.stack([self.masks[:, cols].sum(axis=1) for cols in self.slices().values()], axis=1)

    def n_masked(self, step):
        return int((~self.masks[self._check_step(step)]).sum())


def record(params=None, *, progress=True, **changes):
    """Train AdaLoRA with `params` (TrajectoryParams, `changes` applied) and record every step.

    progress: True shows a tqdm bar, False nothing, a callable is called as progress(step, T).
    """
    params = _params(params, changes)
    task = _task(params)
    T = params.total_steps
    start_loss = task.start_loss()
    extra = {"lambdas_tilde": [], "scores": [], "test_losses": []}
    recorder = None

    bar = None
    if progress is True:
        from tqdm.auto import tqdm
        bar = tqdm(total=T, desc=f"recording AdaLoRA (r={params.r}, b_T={params.target_budget})")
    report = progress if callable(progress) else None

    def keep(step, model, allocator, loss, probe):
        nonlocal recorder
        if step == 0:
            recorder = Recorder(model.layers, allocator)
        recorder.record(step, loss)
        extra["lambdas_tilde"].append(probe.lambdas_tilde if step else
                                      np.concatenate([l.lam for l in model.layers.values()]))
        extra["scores"].append(allocator.triplet_scores())
        if step == 0:  # lam = 0 at the start: the model is the frozen network
            extra["test_losses"].append(start_loss)
        elif step % params.eval_interval == 0 or step == T:
            extra["test_losses"].append(task.loss(model))
        else:
            extra["test_losses"].append(extra["test_losses"][-1])
        if bar is not None and step > 0:
            bar.update(1)
        if report is not None and step > 0 and (step % 25 == 0 or step == T):
            report(step, T)

    try:
        _train(task, params, keep)
    finally:
        if bar is not None:
            bar.close()
    common = vars(recorder.recording(meta=asdict(params)))  # the Recording's fields
    return Trajectory(**{k: read_only(v) if isinstance(v, np.ndarray) else v
                         for k, v in common.items()},
                      **{k: read_only(v) for k, v in extra.items()}, start_loss=start_loss)


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


@dataclass(frozen=True, eq=False)
class GradientRecord:
    """What the allocator saw at every step of one AdaLoRA run (notebook 06 replays it).

    steps[t]: {layer name: ((P, dP), (lam, dlam), (Q, dQ))} at step t (1..T; steps[0] is None),
    copied at the moment of the step that called `RankAllocator.update(t)`: exactly what it scored
    (in PEFT's order, the default: the weights after the optimizer step, before masking, with the
    gradients that moved them). masks (T+1, n_triplets) bool and budgets (T+1,): what the
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
    task = _task(params)
    steps, masks, budgets = [], [], []

    def keep(step, model, allocator, loss, probe):
        steps.append(probe.scored if step else None)
        masks.append(np.concatenate([layer.mask for layer in model.layers.values()]))
        budgets.append(allocator.budget)

    _train(task, params, keep, keep_scored=True)
    return GradientRecord(params=params, layer_names=task.layer_names, steps=steps,
                          masks=read_only(masks), budgets=read_only(budgets))


def _task(params):
    return make_planted_task(params.planted_ranks, width=params.width,
                             singular_value=params.singular_value, seed=params.task_seed)


def _train(task, params, callback, keep_scored=False):
    """AdaLoRA on `task` with `params`, `callback` at step 0 and after every step."""
    train_planted(task, adapter="svd", r=params.r, alpha=params.alpha,
                  target_budget=params.target_budget, total_steps=params.total_steps,
                  warmup_steps=params.warmup_steps, final_steps=params.final_steps,
                  mask_interval=params.mask_interval, beta1=params.beta1, beta2=params.beta2,
                  lr=params.lr, gamma=params.gamma, batch_size=params.batch_size,
                  seed=params.seed, order=params.order, callback=callback,
                  keep_scored=keep_scored)


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
