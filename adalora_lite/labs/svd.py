"""Experiments for notebook 04 (LoRA's doublet B A vs AdaLoRA's triplet P diag(lam) Q), NumPy reference.

All runs adapt the frozen network of `digits.mirrored_digits_task()` with the reference
`MLP` and `train_step` (plain SGD, the library's regularizer and, when asked, its RankAllocator).

    train_svd(task, gamma=, init=, budget=None)   one recorded run -> SVDRun (per step: lambdas,
                                   masks, ||P^T P - I||_F, ||Q Q^T - I||_F, the true singular
                                   values of P diag(lam) Q, loss)
    gamma_sweep(task, gammas, inits)     {(init, gamma): SVDRun}, recorded once and cached
    orthogonality_errors(layer)          (||P^T P - I||_F, ||Q Q^T - I||_F), unsquared, as in PEFT
    true_singular_values(layer)          the top-r singular values of P diag(lam) Q
    lambda_sv_gap(run, step)             {layer: ||sort|lam| - sigma|| / ||sigma||}: 0 when the
                                         lambdas ARE the singular values
    mask_and_regrow(task)                mask a triplet / prune a LoRA doublet mid-training and
                                         watch what comes back -> Regrowth
    find_revivals(mask)                  masked-then-kept-again events in a recorded mask history
    revival_study(task, seeds)           how often the RankAllocator revives a triplet, per seed
    mask_interval_study(task, intervals) the same seeds masking every Delta_T steps: revivals and
                                         how far masked lambdas regrow between maskings
    init_comparison(task)                LoRA vs SVD with orthogonal vs Gaussian (PEFT) P, Q (PQ_INITS)
    param_counts(d_out, d_in, r)         trainable numbers of a LoRA and an SVD adapter
"""
from dataclasses import dataclass, field

import numpy as np

from ..allocator import RankAllocator
from ..reference import MLP, train_step
from .common import memoize, single_thread
from .rank import adapter_param_count

GAMMAS = (0.0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3)  # the regularizer weights of the sweep
PQ_INITS = ("orthogonal", "gaussian")  # how SVDLinear starts P and Q

# One set of training settings for the whole notebook: SGD, lr 0.2, batches of 64, 300 steps.
# lr 0.3 diverges on some seeds once masking starts; 0.2 never did in our runs.
DEFAULTS = dict(r=8, alpha=8.0, lr=0.2, steps=300, batch_size=64, seed=0)


def orthogonality_errors(layer):
    """(||P^T P - I||_F, ||Q Q^T - I||_F) of one SVD adapter: 0, 0 when P and Q are orthonormal."""
    eye = np.eye(layer.r)
    return (float(np.linalg.norm(layer.P.T @ layer.P - eye)),
            float(np.linalg.norm(layer.Q @ layer.Q.T - eye)))


def true_singular_values(layer):
    """The r largest singular values of P diag(lam) Q (the scale alpha/r left out, as for lam)."""
    return np.linalg.svd((layer.P * layer.lam) @ layer.Q, compute_uv=False)[:layer.r]


@dataclass
class SVDRun:
    """One recorded training run. Per-step arrays have one row per step 1..n (after the step)."""
    config: dict
    layer_names: tuple
    r: int
    steps: np.ndarray  # (n,) 1..n
    loss: np.ndarray  # (n,) the training objective on each minibatch (CE + gamma * R)
    lam: np.ndarray  # (n, n_triplets) lambdas, layers in order (after masking)
    mask: np.ndarray  # (n, n_triplets) bool, True = kept by the last masking
    orth_P: np.ndarray  # (n, n_layers) ||P^T P - I||_F
    orth_Q: np.ndarray  # (n, n_layers) ||Q Q^T - I||_F
    sv: np.ndarray  # (n, n_triplets) singular values of P diag(lam) Q, per layer, descending
    test_accuracy: float
    budget: np.ndarray = None  # (n,) the allocator's budget b(t), when one ran
    scores: np.ndarray = None  # (n, n_triplets) the allocator's triplet scores S_i, when one ran
    model: MLP = field(default=None, repr=False)

    def threshold(self, step):
        """The b(t)-th highest score at `step`: a triplet at or above it was kept (allocator runs)."""
        i = self.row(step)
        b = int(self.budget[i])
        return float(np.sort(self.scores[i])[::-1][b - 1])

    def layer_slice(self, name):
        """Columns of `lam`, `mask`, `sv` that belong to layer `name`."""
        k = self.layer_names.index(name)
        return slice(k * self.r, (k + 1) * self.r)

    def row(self, step):
        """Row index of training step `step` (1-based; -1 means the last step)."""
        return len(self.steps) - 1 if step == -1 else int(step) - 1


@single_thread()
def train_svd(task, *, gamma=0.1, init="orthogonal", budget=None, r=DEFAULTS["r"],
              alpha=DEFAULTS["alpha"], lr=DEFAULTS["lr"], steps=DEFAULTS["steps"],
              batch_size=DEFAULTS["batch_size"], seed=DEFAULTS["seed"]):
    """Train SVD adapters on the task and record everything notebook 04 plots.

    budget: None (no masking) or a dict of RankAllocator settings: target_budget, warmup_steps,
    final_steps and optionally mask_interval, beta1, beta2.
    """
    model = MLP(task.weights, task.biases, adapter="svd", r=r, alpha=alpha, rng=seed, init=init)
    layers = model.layers
    allocator = None
    if budget is not None:
        allocator = RankAllocator(layers, total_steps=steps, **budget)
    rec = {k: [] for k in ("loss", "lam", "mask", "orth_P", "orth_Q", "sv", "budget", "scores")}
    for step, idx in enumerate(task.batches(steps, batch_size, seed), start=1):
        loss = train_step(model, task.X_train[idx], task.y_train[idx], lr=lr, gamma=gamma,
                          allocator=allocator, step=step)
        rec["loss"].append(loss)
        rec["lam"].append(np.concatenate([layer.lam for layer in layers.values()]))
        rec["mask"].append(np.concatenate([layer.mask for layer in layers.values()]))
        errors = [orthogonality_errors(layer) for layer in layers.values()]
        rec["orth_P"].append([e[0] for e in errors])
        rec["orth_Q"].append([e[1] for e in errors])
        rec["sv"].append(np.concatenate([true_singular_values(layer) for layer in layers.values()]))
        if allocator is not None:
            rec["budget"].append(allocator.budget)
            rec["scores"].append(allocator.triplet_scores())
    config = dict(gamma=gamma, init=init, budget=budget, r=r, alpha=alpha, lr=lr, steps=steps,
                  batch_size=batch_size, seed=seed)
    return SVDRun(config=config, layer_names=tuple(layers), r=r,
                  steps=np.arange(1, steps + 1), loss=np.array(rec["loss"]),
                  lam=np.array(rec["lam"]), mask=np.array(rec["mask"]),
                  orth_P=np.array(rec["orth_P"]), orth_Q=np.array(rec["orth_Q"]),
                  sv=np.array(rec["sv"]), test_accuracy=task.accuracy(model),
                  budget=np.array(rec["budget"]) if allocator else None,
                  scores=np.array(rec["scores"]) if allocator else None, model=model)


def gamma_sweep(task, gammas=GAMMAS, inits=PQ_INITS, **settings):
    """{(init, gamma): SVDRun} for every pair; recorded once per process and argument set."""
    return _gamma_sweep(task, tuple(float(g) for g in gammas), tuple(inits),
                        tuple(sorted(settings.items())))


@memoize(maxsize=8)
def _gamma_sweep(task, gammas, inits, settings):
    return {(init, g): train_svd(task, gamma=g, init=init, **dict(settings))
            for init in inits for g in gammas}


def lambda_sv_gap(run, step=-1):
    """{layer: ||sort(|lam|) - sigma||_2 / ||sigma||_2} at `step`: how far the lambdas are from
    being the singular values of P diag(lam) Q (0 exactly when P, Q are orthonormal)."""
    i = run.row(step)
    out = {}
    for name in run.layer_names:
        cols = run.layer_slice(name)
        lam = np.sort(np.abs(run.lam[i, cols]))[::-1]
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


@single_thread()
def mask_and_regrow(task, *, layer="layers.0", mask_at=100, steps=250, gamma=0.1,
                    r=DEFAULTS["r"], alpha=DEFAULTS["alpha"], lr=DEFAULTS["lr"],
                    batch_size=DEFAULTS["batch_size"], seed=DEFAULTS["seed"]):
    """Train an SVD model and a LoRA model on the same batches. After step `mask_at`, mask the
    SVD triplet with the largest |lambda| in `layer` (lambda := 0, P and Q kept), and prune the
    LoRA doublet with the largest ||B_.j|| ||A_j.|| (B_.j := 0 and A_j. := 0, what structured
    pruning of LoRA does). Then keep training both, with no allocator, and record what comes back.
    """
    svd = MLP(task.weights, task.biases, adapter="svd", r=r, alpha=alpha, rng=seed)
    lora = MLP(task.weights, task.biases, adapter="lora", r=r, alpha=alpha, rng=seed)
    s_layer, l_layer = svd.layers[layer], lora.layers[layer]
    i = j = None
    rec = {k: [] for k in ("svd_lam", "svd_lam_grad", "svd_pq_grad", "lora_norm", "lora_grad",
                           "svd_loss", "lora_loss")}
    for step, idx in enumerate(task.batches(steps, batch_size, seed), start=1):
        x, y = task.X_train[idx], task.y_train[idx]
        train_step(svd, x, y, lr=lr, gamma=gamma)
        train_step(lora, x, y, lr=lr)
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
        raise ValueError(f"mask_at must be between 1 and steps={steps}, got {mask_at}")
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
    mask, steps = run.mask, run.steps
    for col in range(mask.shape[1]):
        name = run.layer_names[col // run.r]
        off_since = None
        for row in range(mask.shape[0]):
            if not mask[row, col] and off_since is None:
                off_since = int(steps[row])
            elif mask[row, col] and off_since is not None:
                end = row
                while end + 1 < len(steps) and mask[end + 1, col]:
                    end += 1
                events.append(Revival(name, col % run.r, off_since, int(steps[row]),
                                      int(steps[end])))
                off_since = None
    return sorted(events, key=lambda e: (e.revived_at, e.layer, e.index))


# AdaLoRA on the small network: 16 triplets shrink to 6 over steps 50..250, masking every step.
REVIVAL_BUDGET = dict(target_budget=6, warmup_steps=50, final_steps=50, mask_interval=1)


def revival_study(task, seeds=range(10), *, budget=REVIVAL_BUDGET, gamma=0.1, **settings):
    """{seed: (SVDRun, [Revival])}: AdaLoRA runs that differ only by seed (init and batches)."""
    out = {}
    for seed in seeds:
        run = train_svd(task, gamma=gamma, budget=budget, seed=seed, **settings)
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


def mask_interval_study(task, intervals=(1, 10), seeds=range(10), *, budget=REVIVAL_BUDGET,
                        gamma=0.1, **settings):
    """{Delta_T: IntervalSummary}: `revival_study` with the allocator masking every Delta_T steps.

    Between two maskings a masked lambda is not zeroed again: the optimizer trains it like the
    others (the paper's reason for Delta_T, its Section 4), so its |lambda| can regrow."""
    out = {}
    for interval in intervals:
        study = revival_study(task, seeds, budget=dict(budget, mask_interval=interval),
                              gamma=gamma, **settings)
        runs = [run for run, _ in study.values()]
        events = [e for _, found in study.values() for e in found]
        total, warm, final = runs[0].config["steps"], budget["warmup_steps"], budget["final_steps"]
        masking = sum(1 for t in range(warm + 1, total - final + 1)
                      if t == total - final or t % interval == 0)
        largest = tuple(float(np.abs(run.lam[~run.mask]).max()) if (~run.mask).any() else 0.0
                        for run in runs)
        kept = np.concatenate([np.abs(run.lam[run.mask]) for run in runs])
        out[interval] = IntervalSummary(
            interval=interval, masking_steps=masking,
            runs_with_revival=sum(bool(found) for _, found in study.values()),
            revivals=len(events), largest_masked_lam=largest,
            median_kept_lam=float(np.median(kept)),
            mean_accuracy=float(np.mean([run.test_accuracy for run in runs])))
    return out


# ------------------------------------------------------------------ initialisation: ours vs PEFT's
def param_counts(d_out, d_in, r):
    """Trainable parameters of one adapter: LoRA r (d_out + d_in), SVD r (d_out + d_in + 1)."""
    return {"LoRA": adapter_param_count(d_out, d_in, r, "lora"),
            "SVD": adapter_param_count(d_out, d_in, r, "svd")}


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


@single_thread()
def init_comparison(task, *, gamma=0.1, r=DEFAULTS["r"], alpha=DEFAULTS["alpha"],
                    lr=DEFAULTS["lr"], steps=DEFAULTS["steps"], batch_size=DEFAULTS["batch_size"],
                    seed=DEFAULTS["seed"]):
    """LoRA, SVD with orthogonal P, Q (ours) and SVD with N(0, 0.02^2) P, Q (PEFT's), trained
    on the same batches with the same lr; the SVD ones with the regularizer weight `gamma`."""
    batches = task.batches(steps, batch_size, seed)
    loss, norm, acc, lam_grad, pq_grad = {}, {}, {}, {}, {}
    for label, adapter, init in INIT_VARIANTS:
        kwargs = {} if init is None else {"init": init}
        model = MLP(task.weights, task.biases, adapter=adapter, r=r, alpha=alpha, rng=seed, **kwargs)
        loss[label], norm[label] = [], []
        for step, idx in enumerate(batches, start=1):
            train_step(model, task.X_train[idx], task.y_train[idx], lr=lr, gamma=gamma)
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
    return InitComparison(steps=np.arange(1, steps + 1), train_loss=loss, update_norm=norm,
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
