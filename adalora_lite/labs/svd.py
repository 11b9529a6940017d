"""Experiments for notebook 04 (LoRA's doublet B A vs AdaLoRA's triplet P diag(lam) Q), NumPy reference.

All runs adapt the frozen network of `digits.mirrored_digits_task()` with the reference
`MLP` and `train_step` (plain SGD, the library's regularizer and, when asked, its RankAllocator).

    SVDSettings(...), SETTINGS           the training settings of the whole notebook
    AllocatorSettings(...)               a RankAllocator's knobs, for the runs that mask
    train_svd(task, gamma=, init=, allocation=None)   one recorded run -> SVDRun, a Recording
                                   (per step: lambdas, masks, losses) with ||P^T P - I||_F,
                                   ||Q Q^T - I||_F and the true singular values of P diag(lam) Q
    gamma_sweep(task, gammas, inits)     {(init, gamma): SVDRun}, recorded once and cached
    orthogonality_errors(layer)          (||P^T P - I||_F, ||Q Q^T - I||_F), unsquared, as in PEFT
    true_singular_values(layer)          the top-r singular values of P diag(lam) Q
    lambda_sv_gap(run, step)             {layer: ||sort|lam| - sigma|| / ||sigma||}: 0 when the
                                         lambdas ARE the singular values
    mask_and_regrow(task)                mask a triplet / prune a LoRA doublet mid-training and
                                         watch what comes back -> Regrowth
    find_revivals(run)                   masked-then-kept-again events in a run's mask history
    revival_study(task, seeds)           how often the RankAllocator revives a triplet, per seed
    mask_interval_study(task, intervals) the same seeds masking every Delta_T steps: revivals and
                                         how far masked lambdas regrow between maskings
    init_comparison(task)                LoRA vs SVD with orthogonal vs Gaussian (PEFT) P, Q (PQ_INITS)
    param_counts(d_out, d_in, r)         trainable numbers of a LoRA and an SVD adapter (counting)

All of it is ours, built on the paper's SVD form (eq. (3)) and regularizer (eq. (4)).
"""
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from ..allocator import RankAllocator
from ..counting import parameter_count
from ..errors import ConfigError
from ..recording import Recorder, Recording
from ..reference import MLP, train_step
from .common import memoize, single_thread

GAMMAS = (0.0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3)  # the regularizer weights of the sweep
PQ_INITS = ("orthogonal", "gaussian")  # how SVDLinear starts P and Q


@dataclass(frozen=True)
class SVDSettings:
    """How every run of the notebook trains: SGD on minibatches, the same adapters.
    lr 0.3 diverges on some seeds once masking starts; 0.2 never did in our runs."""
    r: int = 8  # initial rank of every adapter
    alpha: float = 8.0  # scale alpha / r
    lr: float = 0.2
    total_steps: int = 300
    batch_size: int = 64
    seed: int = 0  # initialisation and minibatches


SETTINGS = SVDSettings()  # one set of training settings for the whole notebook


@dataclass(frozen=True)
class AllocatorSettings:
    """A RankAllocator's knobs; its total_steps is the run's (SVDSettings.total_steps)."""
    target_budget: int
    warmup_steps: int
    final_steps: int
    mask_interval: int = 1
    beta1: float = 0.85
    beta2: float = 0.85


def orthogonality_errors(layer):
    """(||P^T P - I||_F, ||Q Q^T - I||_F) of one SVD adapter: 0, 0 when P and Q are orthonormal."""
    eye = np.eye(layer.r)
    return (float(np.linalg.norm(layer.P.T @ layer.P - eye)),
            float(np.linalg.norm(layer.Q @ layer.Q.T - eye)))


def true_singular_values(layer):
    """The r largest singular values of P diag(lam) Q (the scale alpha/r left out, as for lam)."""
    return np.linalg.svd((layer.P * layer.lam) @ layer.Q, compute_uv=False)[:layer.r]


@dataclass(kw_only=True)  # kw_only: these fields follow the Recording's, whose meta has a default
class SVDRun(Recording):
    """One recorded training run: a Recording of steps 1..n, one row after each step (losses: the
    objective CE + gamma * R on the minibatch; budgets: the initial total rank when no allocator
    ran; meta: gamma, init, allocation and the SVDSettings), and what notebook 04 adds to it."""
    orth_P: np.ndarray  # (n, n_layers) ||P^T P - I||_F
    orth_Q: np.ndarray  # (n, n_layers) ||Q Q^T - I||_F
    sv: np.ndarray  # (n, n_triplets) singular values of P diag(lam) Q, per layer, descending
    test_accuracy: float
    scores: np.ndarray = None  # (n, n_triplets) the allocator's triplet scores S_i, when one ran
    model: MLP = field(default=None, repr=False)

    def threshold(self, step):
        """The b(t)-th highest score at `step`: a triplet at or above it was kept (allocator runs)."""
        i = self.row(step)
        b = int(self.budgets[i])
        return float(np.sort(self.scores[i])[::-1][b - 1])

    def row(self, step):
        """Row index of training step `step` (1-based; -1 means the last step)."""
        return len(self.steps) - 1 if step == -1 else int(step) - 1


@single_thread(torch=False)  # NumPy only
def train_svd(task, *, gamma=0.1, init="orthogonal", allocation=None, settings=SETTINGS):
    """Train SVD adapters on the task and record everything notebook 04 plots.

    allocation: None (no masking) or the AllocatorSettings of a RankAllocator (PEFT's step order).
    """
    s = settings
    model = MLP(task.weights, task.biases, adapter="svd", r=s.r, alpha=s.alpha, rng=s.seed, init=init)
    layers = model.layers
    allocator = None
    if allocation is not None:
        allocator = RankAllocator(layers, total_steps=s.total_steps, **asdict(allocation))
    recorder = Recorder(layers, allocator)
    extra = {k: [] for k in ("orth_P", "orth_Q", "sv", "scores")}
    for step, idx in enumerate(task.batches(s.total_steps, s.batch_size, s.seed), start=1):
        loss = train_step(model, task.X_train[idx], task.y_train[idx], lr=s.lr, gamma=gamma,
                          allocator=allocator, step=step)
        recorder.record(step, loss)
        errors = [orthogonality_errors(layer) for layer in layers.values()]
        extra["orth_P"].append([e[0] for e in errors])
        extra["orth_Q"].append([e[1] for e in errors])
        extra["sv"].append(np.concatenate([true_singular_values(layer) for layer in layers.values()]))
        if allocator is not None:
            extra["scores"].append(allocator.triplet_scores())
    meta = dict(gamma=gamma, init=init, allocation=allocation and asdict(allocation), **asdict(s))
    return SVDRun(**vars(recorder.recording(meta=meta)),
                  orth_P=np.array(extra["orth_P"]), orth_Q=np.array(extra["orth_Q"]),
                  sv=np.array(extra["sv"]), test_accuracy=task.accuracy(model),
                  scores=np.array(extra["scores"]) if allocator else None, model=model)


def gamma_sweep(task, gammas=GAMMAS, inits=PQ_INITS, settings=SETTINGS):
    """{(init, gamma): SVDRun} for every pair; recorded once per process and argument set."""
    return _gamma_sweep(task, tuple(float(g) for g in gammas), tuple(inits), settings)


@memoize(maxsize=8)
def _gamma_sweep(task, gammas, inits, settings):
    return {(init, g): train_svd(task, gamma=g, init=init, settings=settings)
            for init in inits for g in gammas}


def lambda_sv_gap(run, step=-1):
    """{layer: ||sort(|lam|) - sigma||_2 / ||sigma||_2} at `step`: how far the lambdas are from
    being the singular values of P diag(lam) Q (0 exactly when P, Q are orthonormal)."""
    i = run.row(step)
    out = {}
    for name, cols in run.slices().items():
        lam = np.sort(np.abs(run.lambdas[i, cols]))[::-1]
        sv = run.sv[i, cols]
        out[name] = float(np.linalg.norm(lam - sv) / max(np.linalg.norm(sv), 1e-12))
    return out


# ------------------------------------------------------------ masking is reversible, pruning is not
@dataclass
class Regrowth:
    """What `mask_and_regrow` recorded; per-step arrays have one entry per step 1..steps."""
    layer: str
    mask_at: int  # the step after which the triplet was masked / the doublet pruned
    triplet: int  # index of the masked SVD triplet within `layer`
    doublet: int  # index of the pruned LoRA doublet within `layer`
    steps: np.ndarray
    svd_lam: np.ndarray  # lambda of the masked triplet
    svd_lam_grad: np.ndarray  # its gradient on each step
    svd_pq_grad: np.ndarray  # ||dL/dP_.i|| + ||dL/dQ_i.|| on each step
    lora_norm: np.ndarray  # ||B_.j|| * ||A_j.||, the size of the pruned doublet
    lora_grad: np.ndarray  # ||dL/dB_.j|| + ||dL/dA_j.|| on each step
    svd_loss: np.ndarray  # training-set loss after each step (no regularizer)
    lora_loss: np.ndarray
    lam_at_mask: float  # the masked lambda's value just before masking
    lora_norm_at_mask: float  # the pruned doublet's ||B_.j|| ||A_j.|| just before pruning

    @property
    def lam_end(self):
        return float(self.svd_lam[-1])


@single_thread(torch=False)  # NumPy only
def mask_and_regrow(task, *, layer="layers.0", mask_at=100, gamma=0.1, settings=SETTINGS):
    """Train an SVD model and a LoRA model on the same batches. After step `mask_at`, mask the
    SVD triplet with the largest |lambda| in `layer` (lambda := 0, P and Q kept), and prune the
    LoRA doublet with the largest ||B_.j|| ||A_j.|| (B_.j := 0 and A_j. := 0, what structured
    pruning of LoRA does). Then keep training both, with no allocator, and record what comes back.
    """
    r, steps = settings.r, settings.total_steps
    svd = MLP(task.weights, task.biases, adapter="svd", r=r, alpha=settings.alpha, rng=settings.seed)
    lora = MLP(task.weights, task.biases, adapter="lora", r=r, alpha=settings.alpha, rng=settings.seed)
    s_layer, l_layer = svd.layers[layer], lora.layers[layer]
    i = j = None
    rec = {k: [] for k in ("svd_lam", "svd_lam_grad", "svd_pq_grad", "lora_norm", "lora_grad",
                           "svd_loss", "lora_loss")}
    for step, idx in enumerate(task.batches(steps, settings.batch_size, settings.seed), start=1):
        x, y = task.X_train[idx], task.y_train[idx]
        train_step(svd, x, y, lr=settings.lr, gamma=gamma)
        train_step(lora, x, y, lr=settings.lr)
        if step == mask_at:
            i = int(np.argmax(np.abs(s_layer.lam)))
            lam_at_mask = float(s_layer.lam[i])
            s_layer.apply_mask(np.arange(r) != i)
            j = int(np.argmax(_doublet_norms(l_layer)))
            lora_norm_at_mask = float(_doublet_norms(l_layer)[j])
            l_layer.B[:, j] = 0
            l_layer.A[j, :] = 0
        # Every triplet / doublet of the layer is recorded; the masked ones are picked at the end.
        g, gl = s_layer.grads, l_layer.grads
        rec["svd_lam"].append(s_layer.lam.copy())
        rec["svd_lam_grad"].append(g["lam"].copy())
        rec["svd_pq_grad"].append(np.linalg.norm(g["P"], axis=0) + np.linalg.norm(g["Q"], axis=1))
        rec["lora_norm"].append(_doublet_norms(l_layer))
        rec["lora_grad"].append(np.linalg.norm(gl["B"], axis=0) + np.linalg.norm(gl["A"], axis=1))
        rec["svd_loss"].append(task.loss(svd))
        rec["lora_loss"].append(task.loss(lora))
    if i is None:
        raise ConfigError(f"mask_at must be between 1 and total_steps={steps}, got {mask_at}")
    pick = {"svd_lam": i, "svd_lam_grad": i, "svd_pq_grad": i, "lora_norm": j, "lora_grad": j}
    arrays = {k: np.array(v)[:, pick[k]] if k in pick else np.array(v) for k, v in rec.items()}
    return Regrowth(layer=layer, mask_at=mask_at, triplet=i, doublet=j,
                    steps=np.arange(1, steps + 1), lam_at_mask=lam_at_mask,
                    lora_norm_at_mask=lora_norm_at_mask, **arrays)


def _doublet_norms(layer):
    """||B_.j|| * ||A_j.|| for every doublet j of a LoRA layer: the size of B_.j A_j. (rank one)."""
    return np.linalg.norm(layer.B, axis=0) * np.linalg.norm(layer.A, axis=1)


@dataclass(frozen=True)
class Revival:
    """Triplet `index` of `layer` was masked after step `masked_at`, kept again after
    `revived_at` (its score climbed back into the top b(t)) and stayed kept through `kept_until`."""
    layer: str
    index: int
    masked_at: int
    revived_at: int
    kept_until: int

    @property
    def kept_steps(self):
        return self.kept_until - self.revived_at + 1


def find_revivals(run):
    """Every masked-then-kept-again event in a run's mask history, in step order."""
    events = []
    mask, steps = run.masks, run.steps
    layer_of = [(name, k) for name, cols in run.slices().items()
                for k in range(cols.stop - cols.start)]  # column -> (layer, triplet index)
    for col in range(mask.shape[1]):
        name, index = layer_of[col]
        off_since = None
        for row in range(mask.shape[0]):
            if not mask[row, col] and off_since is None:
                off_since = int(steps[row])
            elif mask[row, col] and off_since is not None:
                end = row
                while end + 1 < len(steps) and mask[end + 1, col]:
                    end += 1
                events.append(Revival(name, index, off_since, int(steps[row]), int(steps[end])))
                off_since = None
    return sorted(events, key=lambda e: (e.revived_at, e.layer, e.index))


# AdaLoRA on the small network: 16 triplets shrink to 6 over steps 50..250, masking every step.
REVIVAL_ALLOCATION = AllocatorSettings(target_budget=6, warmup_steps=50, final_steps=50)


def revival_study(task, seeds=range(10), *, allocation=REVIVAL_ALLOCATION, gamma=0.1,
                  settings=SETTINGS):
    """{seed: (SVDRun, [Revival])}: AdaLoRA runs that differ only by seed (init and batches)."""
    out = {}
    for seed in seeds:
        run = train_svd(task, gamma=gamma, allocation=allocation,
                        settings=replace(settings, seed=seed))
        out[seed] = (run, find_revivals(run))
    return out


@dataclass(frozen=True)
class IntervalSummary:
    """One masking interval Delta_T of a `mask_interval_study`, over its seeds."""
    interval: int  # Delta_T: the allocator masks every `interval` steps
    masking_steps: int  # steps at which the allocator re-ranked and masked, per run
    runs_with_revival: int
    revivals: int  # masked-then-kept-again events over all runs
    largest_masked_lam: tuple  # per run: the largest |lambda| of a masked triplet at any step
    median_kept_lam: float  # median |lambda| of the kept triplets, all runs and steps
    mean_accuracy: float


def mask_interval_study(task, intervals=(1, 10), seeds=range(10), *,
                        allocation=REVIVAL_ALLOCATION, gamma=0.1, settings=SETTINGS):
    """{Delta_T: IntervalSummary}: `revival_study` with the allocator masking every Delta_T steps.

    Between two maskings a masked lambda is not zeroed again: the optimizer trains it like the
    others (the paper's reason for Delta_T, its Section 4), so its |lambda| can regrow."""
    out = {}
    for interval in intervals:
        study = revival_study(task, seeds, allocation=replace(allocation, mask_interval=interval),
                              gamma=gamma, settings=settings)
        runs = [run for run, _ in study.values()]
        events = [e for _, found in study.values() for e in found]
        total, warm, final = settings.total_steps, allocation.warmup_steps, allocation.final_steps
        masking = sum(1 for t in range(warm + 1, total - final + 1)
                      if t == total - final or t % interval == 0)
        largest = tuple(float(np.abs(run.lambdas[~run.masks]).max()) if (~run.masks).any() else 0.0
                        for run in runs)
        kept = np.concatenate([np.abs(run.lambdas[run.masks]) for run in runs])
        out[interval] = IntervalSummary(
            interval=interval, masking_steps=masking,
            runs_with_revival=sum(bool(found) for _, found in study.values()),
            revivals=len(events), largest_masked_lam=largest,
            median_kept_lam=float(np.median(kept)),
            mean_accuracy=float(np.mean([run.test_accuracy for run in runs])))
    return out


# ------------------------------------------------------------------ initialisation: ours vs PEFT's
def param_counts(d_out, d_in, r):
    """Trainable parameters of one adapter (`counting.parameter_count`): LoRA r (d_out + d_in),
    SVD r (d_out + d_in + 1)."""
    return {"LoRA": parameter_count(d_out, d_in, r, "lora"),
            "SVD": parameter_count(d_out, d_in, r, "svd")}


INIT_VARIANTS = (("LoRA", "lora", None), ("SVD, orthogonal init", "svd", "orthogonal"),
                 ("SVD, Gaussian init (PEFT)", "svd", "gaussian"))


@dataclass
class InitComparison:
    steps: np.ndarray  # (n,) 1..n
    train_loss: dict  # {variant: (n,) cross-entropy on the whole training set after each step}
    update_norm: dict  # {variant: (n,) sum over layers of ||Delta W||_F after each step}
    test_accuracy: dict  # {variant: accuracy after the last step}
    first_lam_grad: dict  # {init: ||dL/dlam|| summed over layers on step 1}
    first_pq_grad: dict  # {init: ||dL/dP|| + ||dL/dQ|| summed over layers on step 1}


@single_thread(torch=False)  # NumPy only
def init_comparison(task, *, gamma=0.1, settings=SETTINGS):
    """LoRA, SVD with orthogonal P, Q (ours) and SVD with N(0, 0.02^2) P, Q (PEFT's), trained
    on the same batches with the same lr; the SVD ones with the regularizer weight `gamma`."""
    s = settings
    batches = task.batches(s.total_steps, s.batch_size, s.seed)
    loss, norm, acc, lam_grad, pq_grad = {}, {}, {}, {}, {}
    for label, adapter, init in INIT_VARIANTS:
        kwargs = {} if init is None else {"init": init}
        model = MLP(task.weights, task.biases, adapter=adapter, r=s.r, alpha=s.alpha, rng=s.seed,
                    **kwargs)
        loss[label], norm[label] = [], []
        for step, idx in enumerate(batches, start=1):
            train_step(model, task.X_train[idx], task.y_train[idx], lr=s.lr, gamma=gamma)
            if step == 1 and init is not None:
                layers = model.layers.values()
                lam_grad[init] = float(sum(np.linalg.norm(lay.grads["lam"]) for lay in layers))
                pq_grad[init] = float(sum(np.linalg.norm(lay.grads["P"]) + np.linalg.norm(lay.grads["Q"])
                                          for lay in layers))
            loss[label].append(task.loss(model))
            norm[label].append(float(sum(np.linalg.norm(lay.delta_weight())
                                         for lay in model.layers.values())))
        loss[label], norm[label] = np.array(loss[label]), np.array(norm[label])
        acc[label] = task.accuracy(model)
    return InitComparison(steps=np.arange(1, s.total_steps + 1), train_loss=loss, update_norm=norm,
                          test_accuracy=acc, first_lam_grad=lam_grad, first_pq_grad=pq_grad)


def longest_revival(study):
    """(seed, run, event) of the revival that stayed kept the longest in a `revival_study`,
    or None when no run revived anything."""
    best = None
    for seed, (run, events) in study.items():
        for event in events:
            if best is None or event.kept_steps > best[2].kept_steps:
                best = (seed, run, event)
    return best
