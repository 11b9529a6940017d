"""Notebook 08, beyond AdaLoRA: data-aware initializations, reading what an adapter learned, and
the MiniLM experiment that compares them. Three parts, in this order:

1. Data-aware initialization of LoRA adapters: start A (and B) from the pretrained layer or the task.

The standard LoRA start is A random (Kaiming-uniform in loralib, PEFT and ours; "random Gaussian" in
the LoRA paper, §4.1), B = 0. Can statistics of the pretrained weight (PiSSA, Meng et al. 2024,
arXiv 2404.02948) or of the task's activations (EVA, Paischer et al. 2024, arXiv 2410.07170) give a
better start? Two such initializations are implemented here, each keeping the model's function at
step 0 (scale = alpha/r, W0 = U Sigma V^T):

    pissa_init(layer)                 PiSSA (Meng et al. 2024): the top-r singular triplets of W0,
                                      W0 = U Sigma V^T, go into the adapter, split evenly:
                                          B = U_r sqrt(Sigma_r / scale),  A = sqrt(Sigma_r / scale) V_r^T
                                      and the frozen weight becomes the *residual*
                                          W0 <- W0 - scale B A = W0 - U_r Sigma_r V_r^T.
                                      The adapter's change is not zero (it is the principal part of
                                      W0), but W0_res + scale B A = W0, so the layer computes the same
                                      function at step 0, up to float rounding (~1e-7 relative in
                                      float32). Training then moves the principal directions.
    pissa_init(layer, residual=False) B = 0 and A = the top-r right singular vectors of W0 (each
                                      row scaled to the standard init's expected row norm): the
                                      change B A is exactly zero, W0 is untouched.
    covariance_init(layer, C)         a simplified EVA (ours): A = the top-r eigenvectors
                                      of the layer's input second moment C = E[x x^T] (collected
                                      with `collect_input_covariances` on a few task batches), rows
                                      scaled like the standard init; B = 0, so the change is exactly
                                      zero and W0 is untouched. A projects the input on the
                                      directions where the task's activations have the most energy.

"Scaled like the standard init": A's rows from uniform(-1/sqrt(d_in), 1/sqrt(d_in)) have expected
squared norm 1/3, so the direction-based inits use rows of norm 1/sqrt(3): at the same learning
rate, only the *directions* differ from the standard start, not the size.

Every function takes a NumPy layer (`adalora_lite.reference.LoRALinear`) or a torch one
(`adalora_lite.nn.LoRALinear`) and does the same arithmetic in float64 (NumPy with numpy.linalg,
torch with torch.linalg), with one sign convention for singular/eigen vectors (the entry of largest
magnitude of each left vector is positive), so both back-ends give the same A, B and residual W0.

    INIT_METHODS                            ("standard", "pissa", "covariance")
    top_singular(W, r), top_eigen(C, r)     sign-fixed truncated SVD / eigendecomposition
    input_covariance(X, mask=None)          E[x x^T] over rows (tokens) of X, padding masked out
    collect_input_covariances(model, batches, adapters=None)   {name: C} through forward hooks
    apply_init(adapters, method, covariances=None)             one init on every adapter
    effective_weight(layer)                 W0 (current base) + scale B A, as a float64 NumPy array
"""
import time
from dataclasses import asdict, dataclass

import numpy as np

from .. import results as recorded_results
from ..errors import ConfigError
from ..scoring import is_torch
from ..scoring import namespace as _lib
from .common import single_thread
from .rank import energy_rank, entropy_effective_rank
from .transformer import rank_grid

INIT_METHODS = ("standard", "pissa", "covariance")
ROW_NORM = 3 ** -0.5  # expected row norm of A under the standard uniform(-1/sqrt(d_in), 1/sqrt(d_in)) init


# ------------------------------------------------------------------------------ linear algebra
def _fix_signs(lib, left, right):
    """Flip each pair (left[:, j], right[j]) so that left's largest-|.| entry is positive."""
    idx = lib.argmax(abs(left), axis=0) if lib is np else left.abs().argmax(dim=0)
    signs = lib.sign(left[idx, lib.arange(left.shape[1])])
    signs[signs == 0] = 1
    return left * signs, right * signs[:, None]


@single_thread()  # multi-threaded LAPACK on a busy 2-core machine: 100x slower SVDs
def top_singular(W, r):
    """(U_r (d_out, r), sigma_1..sigma_r (r,), V_r^T (r, d_in)) of W in float64, signs fixed; NumPy or torch."""
    lib = _lib(W)
    W = W.double() if lib is not np else np.asarray(W, dtype=np.float64)
    U, S, Vt = lib.linalg.svd(W, full_matrices=False)
    U, Vt = _fix_signs(lib, U[:, :r], Vt[:r])
    return U, S[:r], Vt


@single_thread()
def top_eigen(C, r):
    """(eigenvalues (r,) descending, eigenvectors as rows (r, d)) of a symmetric C, float64, signs fixed."""
    lib = _lib(C)
    C = C.double() if lib is not np else np.asarray(C, dtype=np.float64)
    C = (C + C.T) / 2
    vals, vecs = lib.linalg.eigh(C)
    order = lib.flip(lib.arange(len(vals)), [0]) if lib is not np else np.arange(len(vals))[::-1]
    vals, vecs = vals[order[:r]], vecs[:, order[:r]]
    vecs, _ = _fix_signs(lib, vecs, vecs.T)
    return vals, vecs.T


def input_covariance(X, mask=None):
    """Uncentred second moment E[x x^T] (d, d) over the rows of X (n, d) or (batch, tokens, d),
    float64; `mask` (same leading shape, 1 = real token) drops padding."""
    lib = _lib(X)
    X = X.double() if lib is not np else np.asarray(X, dtype=np.float64)
    X = X.reshape(-1, X.shape[-1])
    if mask is not None:
        keep = mask.reshape(-1).bool() if lib is not np else np.asarray(mask).reshape(-1).astype(bool)
        X = X[keep]
    if X.shape[0] == 0:
        raise ConfigError("no rows to estimate the covariance from")
    return X.T @ X / X.shape[0]


# ------------------------------------------------------------------------------ layer access
def _weight(layer):
    return layer.base.weight if is_torch(layer) else layer.weight


def _set(layer, **arrays):
    """Write float64 arrays into the layer's A, B, or frozen weight ("W"), in the layer's dtype."""
    if is_torch(layer):
        import torch
        with torch.no_grad():
            for name, value in arrays.items():
                target = layer.base.weight if name == "W" else getattr(layer, name)
                target.copy_(value.to(target.dtype))
    else:
        dtype = layer.weight.dtype
        for name, value in arrays.items():
            setattr(layer, "weight" if name == "W" else name, np.asarray(value).astype(dtype))


def effective_weight(layer):
    """The weight the layer applies now, W0 (current frozen base) + (alpha/r) B A, float64 NumPy."""
    if is_torch(layer):
        import torch
        with torch.no_grad():
            W = layer.base.weight.double()
            if not layer.merged:
                W = W + layer.delta_weight().double()
        return W.cpu().numpy()
    return np.asarray(layer.weight, np.float64) + np.asarray(layer.delta_weight(), np.float64)


# ------------------------------------------------------------------------------ initializations
def pissa_init(layer, *, residual=True, row_norm=ROW_NORM):
    """PiSSA start from the top-r singular triplets of the frozen weight (see the module docstring).

    residual=True:  B = U_r sqrt(Sigma_r/scale), A = sqrt(Sigma_r/scale) V_r^T, W0 <- W0 - U_r Sigma_r V_r^T (function
                    unchanged at step 0; the adapter holds W0's principal part).
    residual=False: B = 0, A = row_norm * V_r^T (change exactly zero, W0 untouched).
    Returns the layer.
    """
    if getattr(layer, "merged", False):
        raise ConfigError("unmerge() the adapter before re-initializing it")
    W = _weight(layer)
    U, S, Vt = top_singular(W, layer.r)
    lib = _lib(W)
    if residual:
        root = lib.sqrt(S / layer.scale)
        principal = (U * S) @ Vt
        W64 = W.double() if lib is not np else np.asarray(W, np.float64)
        _set(layer, B=U * root, A=root[:, None] * Vt, W=W64 - principal)
    else:
        _set(layer, B=lib.zeros_like(U), A=row_norm * Vt)
    return layer


def covariance_init(layer, covariance, *, row_norm=ROW_NORM):
    """A = row_norm * (top-r eigenvectors of the input second moment), B = 0: the change is exactly
    zero and W0 untouched. `covariance` (d_in, d_in), e.g. from `collect_input_covariances`."""
    if getattr(layer, "merged", False):
        raise ConfigError("unmerge() the adapter before re-initializing it")
    if tuple(covariance.shape) != (layer.d_in, layer.d_in):
        raise ConfigError(f"covariance must be ({layer.d_in}, {layer.d_in}), got {tuple(covariance.shape)}")
    _, vecs = top_eigen(covariance, layer.r)
    B = _lib(vecs).zeros((layer.d_out, layer.r), dtype=vecs.dtype)
    _set(layer, A=row_norm * vecs, B=B)
    return layer


def apply_init(adapters, method, *, covariances=None, residual=True):
    """Apply `method` ("standard": leave as built; "pissa"; "covariance", which needs
    {name: C}) to every adapter of {name: LoRALinear}. Returns the adapters."""
    if method not in INIT_METHODS:
        raise ConfigError(f"method must be one of {INIT_METHODS}, got {method!r}")
    if method == "covariance" and covariances is None:
        raise ConfigError("covariance init needs covariances={name: E[x x^T]}: see collect_input_covariances")
    for name, layer in adapters.items():
        if method == "pissa":
            pissa_init(layer, residual=residual)
        elif method == "covariance":
            covariance_init(layer, covariances[name])
    return adapters


# ------------------------------------------------------------------------------ statistics
def collect_input_covariances(model, batches, adapters=None):
    """{adapter name: E[x x^T] of its input} over `batches`, float64, padding tokens excluded.

    torch: `model` an nn.Module holding `adalora_lite.nn` adapters, batches dicts for model(**batch)
    (an "attention_mask" entry masks padding); forward hooks on each adapter record its input.
    NumPy: `model` a `reference.MLP` (adapters: model.layers), batches arrays x (n, d_in); each
    layer's forward is wrapped for the duration. Returns NumPy arrays for NumPy, tensors for torch.
    """
    if adapters is None:
        if hasattr(model, "layers") and not is_torch(model):
            adapters = model.layers
        else:
            from ..nn import find_adapters
            adapters = find_adapters(model)
    sums = {name: 0.0 for name in adapters}
    counts = dict.fromkeys(adapters, 0)
    if is_torch(model):
        import torch
        state = {"mask": None}

        def hook_for(name):
            def hook(module, args):
                x = args[0].detach().double().reshape(-1, args[0].shape[-1])
                if state["mask"] is not None:
                    x = x[state["mask"].reshape(-1).bool()]
                sums[name] = sums[name] + x.T @ x
                counts[name] += x.shape[0]
            return hook

        handles = [layer.register_forward_pre_hook(hook_for(name)) for name, layer in adapters.items()]
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                for batch in batches:
                    state["mask"] = batch.get("attention_mask")
                    model(**batch)
        finally:
            for h in handles:
                h.remove()
            model.train(was_training)
    else:
        originals = {}
        for name, layer in adapters.items():
            originals[name] = layer.forward

            def wrapped(x, _name=name, _f=layer.forward):
                x64 = np.asarray(x, np.float64)
                sums[_name] = sums[_name] + x64.T @ x64
                counts[_name] += x64.shape[0]
                return _f(x)
            layer.forward = wrapped
        try:
            for x in batches:
                model.forward(x)
        finally:
            for name, layer in adapters.items():
                del layer.forward  # back to the class method
    if not all(counts.values()):
        raise ConfigError("some adapters saw no input: are they on the model's forward path?")
    return {name: sums[name] / counts[name] for name in adapters}


# ============================================================================== 2. reading an update
"""Reading what an adapter learned: the trained change Delta W of each adapted matrix.

Delta W is measured as (weight the layer applies now) - (weight it applied before training):
`snapshot(adapters)` before, `update_report(adapters, before)` after. That is the *trained*
change for every initialization, including PiSSA, whose adapter starts non-zero (its W0 is a
residual, see part 1 above): the pretrained weight W0 is the "before" snapshot in all cases.

Per matrix (`analyze_update(delta, W0, r)`):

    spectrum            singular values of Delta W, the first 2r stored: at most r are non-zero
                        when B or A starts at zero (Delta W = scale B A), up to 2r for PiSSA, whose
                        trained change scale (B A - B0 A0) is a difference of two rank-r products
    effective_rank      rank.entropy_effective_rank: exp(entropy of sigma / sum sigma) (Roy & Vetterli
                        2007): r when the r values are
                        equal, 1 when one dominates; compare with the rank r the adapter was given
    energy_rank_90      rank.energy_rank: fewest singular values holding 90% of ||Delta W||_F^2
    w0_subspace_energy  share of ||Delta W||_F^2 inside W0's top-r singular subspaces,
                        ||U0^T Delta W V0||_F^2 / ||Delta W||_F^2 (U0, V0: W0's top-r singular vectors)
    random_baseline     what a random Delta W would give: (r / d_out) (r / d_in)
    amplification       the LoRA paper's ||Delta W||_F / ||U^T W0 V||_F, U, V the top-r singular
                        vectors of Delta W: large when Delta W amplifies directions W0 barely uses
    delta_norm, w0_norm ||Delta W||_F and ||W0||_F

`report_grid(report, key)` arranges one quantity as (6 modules x layers), like notebook 07's rank
heat map; `module_means(report, key)` averages it per module type.
"""

QUANTITIES = {
    "effective_rank": "effective rank (exp entropy)",
    "energy_rank_90": "rank holding 90% of the energy",
    "w0_subspace_energy": "share of energy in W0's top-r subspace",
    "amplification": "amplification ||dW|| / ||U^T W0 V||",
    "delta_norm": "||Delta W||_F",
}


def spectrum(delta):
    """Singular values of a matrix, descending, float64."""
    return np.linalg.svd(np.asarray(delta, np.float64), compute_uv=False)


def subspace_energy(delta, W0, r):
    """||U0^T Delta W V0||_F^2 / ||Delta W||_F^2 with U0, V0 the top-r singular vectors of W0."""
    delta = np.asarray(delta, np.float64)
    U, _, Vt = np.linalg.svd(np.asarray(W0, np.float64), full_matrices=False)
    total = (delta ** 2).sum()
    if total == 0:
        return 0.0
    return float(((U[:, :r].T @ delta @ Vt[:r].T) ** 2).sum() / total)


def amplification(delta, W0, r, *, _svd=None):
    """The LoRA paper's amplification factor ||Delta W||_F / ||U^T W0 V||_F, U and V the top-r
    left/right singular vectors of Delta W."""
    delta = np.asarray(delta, np.float64)
    U, _, Vt = np.linalg.svd(delta, full_matrices=False) if _svd is None else _svd
    projected = np.linalg.norm(U[:, :r].T @ np.asarray(W0, np.float64) @ Vt[:r].T)
    if projected == 0:
        raise ConfigError("W0 has no component in Delta W's top singular subspace")
    return float(np.linalg.norm(delta) / projected)


@single_thread()  # multi-threaded LAPACK on a busy 2-core machine: 100x slower SVDs
def analyze_update(delta, W0, r):
    """Every quantity of the module docstring for one matrix, as a dict (spectrum: the first 2r values)."""
    delta = np.asarray(delta, np.float64)
    W0 = np.asarray(W0, np.float64)
    if delta.shape != W0.shape:
        raise ConfigError(f"delta {delta.shape} and W0 {W0.shape} must have the same shape")
    svd = np.linalg.svd(delta, full_matrices=False)  # once, for the spectrum and the amplification
    sigma = svd[1]
    d_out, d_in = W0.shape
    return {"r": int(r), "shape": [d_out, d_in], "spectrum": sigma[:2 * r].tolist(),
            "effective_rank": entropy_effective_rank(sigma), "energy_rank_90": energy_rank(sigma, 0.9),
            "w0_subspace_energy": subspace_energy(delta, W0, r),
            "random_baseline": (r / d_out) * (r / d_in),
            "amplification": amplification(delta, W0, r, _svd=svd),
            "delta_norm": float(np.linalg.norm(delta)), "w0_norm": float(np.linalg.norm(W0))}


def snapshot(adapters):
    """{name: the weight each adapter applies now (W0 + scale B A), float64 NumPy}: call before training."""
    return {name: effective_weight(layer) for name, layer in adapters.items()}


def update_report(adapters, before):
    """{name: analyze_update(trained change, pretrained weight, layer.r)} for every adapter;
    `before` is the `snapshot` taken before training (the pretrained weights)."""
    missing = set(adapters) - set(before)
    if missing:
        raise ConfigError(f"no 'before' snapshot for {sorted(missing)[:3]}")
    return {name: analyze_update(effective_weight(layer) - before[name], before[name], layer.r)
            for name, layer in adapters.items()}


def report_grid(report, key):
    """(grid (6 modules, layers), module labels, layer numbers from 1) of one quantity."""
    if key not in QUANTITIES and key not in ("random_baseline", "w0_norm"):
        raise ConfigError(f"key must be one of {list(QUANTITIES)}, got {key!r}")
    return rank_grid({name: entry[key] for name, entry in report.items()})


def module_means(report, key):
    """{module label (W_q ... W_f2): mean of `key` over the layers}."""
    grid, labels, _ = report_grid(report, key)
    return {label: float(grid[i].mean()) for i, label in enumerate(labels)}


def compact(report, keys=("effective_rank", "energy_rank_90", "w0_subspace_energy",
                          "random_baseline", "amplification", "delta_norm")):
    """The report without spectra, floats rounded to 6 significant digits (for a JSON file)."""
    return {name: {k: float(f"{entry[k]:.6g}") for k in keys} | {"r": entry["r"]}
            for name, entry in report.items()}


# ============================================================================== 3. the MiniLM experiment
"""Short LoRA fine-tuning runs of MiniLM on the tweets, one per initialization: the experiment
behind notebook 08 and `benchmarks/init_comparison.py`.

    run_init(init, split, InitRunConfig(...))  -> dict (losses per step, held-out accuracy, the
                                                  step-0 function change, the update report)
    update_summary(runs)                        per init: the update quantities, mean over matrices and seeds
    summarize_runs(runs)                        per init: accuracy mean/std/min/max over seeds,
                                                mean loss over the first k steps and the last k
    load_init_results(path=None)                the recorded comparison (adalora_lite/results/)

Every initialization gets the same model, data order (per seed), rank, learning rate and number
of steps; only A, B (and for PiSSA the frozen residual) differ at step 0. The covariance init
reads its statistics from the first `cov_batches` training batches (no extra data); that forward
pass is not counted as a training step.
"""

RESULTS_FILE = "init_comparison.json"  # in adalora_lite/results/ (package data)


@dataclass(frozen=True)
class InitRunConfig:
    steps: int = 40
    batch_size: int = 16
    max_length: int = 48
    r: int = 8
    scale: float = 2.0           # alpha / r
    lr: float = 1e-3             # AdamW, constant (no warm-up: the first steps are what we compare)
    cov_batches: int = 4
    seed: int = 0                # head init, standard A init, dropout, batch order
    eval_limit: int = None       # evaluate on the first n test tweets only (None: all)


def run_init(init, split, config=InitRunConfig(), *, progress=True, keep_model=False):
    """On one thread (3x faster than two on a busy 2-core machine, measured): see `_run_init`."""
    with single_thread():
        return _run_init(init, split, config, progress=progress, keep_model=keep_model)


def _run_init(init, split, config, *, progress, keep_model):
    """Fine-tune LoRA (rank r on MiniLM's 36 matrices + the head) from initialization `init`.

    Returns {init, seed, losses, accuracy, step0_max_logit_change, report (compact per matrix),
    config, wall_s}; with keep_model, also "model", "adapters", "full_report" (with spectra).
    """
    import torch
    from tqdm.auto import tqdm

    from ..data import MINILM_TARGETS, load_minilm
    from ..nn import add_adapters
    from .transformer import batch_order, collate, encode, evaluate

    if init not in INIT_METHODS:
        raise ConfigError(f"init must be one of {INIT_METHODS}, got {init!r}")
    wall = time.perf_counter()
    torch.manual_seed(config.seed)
    model, tokenizer = load_minilm(num_labels=2)
    adapters = add_adapters(model, MINILM_TARGETS, adapter="lora", r=config.r,
                            alpha=config.scale * config.r, modules_to_train="classifier")
    ids = encode(tokenizer, split.train_texts, config.max_length)
    labels = torch.as_tensor(split.train_labels)
    order = batch_order(len(ids), config.batch_size, config.steps, np.random.default_rng(config.seed))

    probe = collate([ids[i] for i in order[0]])
    model.eval()
    with torch.no_grad():
        logits_before = model(**probe).logits
    before = snapshot(adapters)  # the pretrained weights: W0 + 0
    covariances = None
    if init == "covariance":
        n = config.cov_batches * config.batch_size
        stats = [collate(ids[k:k + config.batch_size]) for k in range(0, n, config.batch_size)]
        covariances = collect_input_covariances(model, stats, adapters)
    apply_init(adapters, init, covariances=covariances)
    with torch.no_grad():
        step0_change = float((model(**probe).logits - logits_before).abs().max())

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.0)
    model.train()
    losses = []
    for idx in tqdm(order, desc=f"{init} (seed {config.seed})", disable=not progress):
        loss = model(**collate([ids[i] for i in idx]), labels=labels[idx]).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
    n_eval = len(split.test_texts) if config.eval_limit is None else config.eval_limit
    accuracy = evaluate(model, encode(tokenizer, split.test_texts[:n_eval], config.max_length),
                        split.test_labels[:n_eval])
    full = update_report(adapters, before)
    out = {"init": init, "seed": config.seed, "losses": losses, "accuracy": accuracy,
           "step0_max_logit_change": step0_change, "report": compact(full),
           "config": asdict(config), "n_test": n_eval, "wall_s": time.perf_counter() - wall}
    if keep_model:
        out.update(model=model, adapters=adapters, full_report=full)
    return out


def summarize_runs(runs, *, first=10, last=10):
    """Per init (INIT_METHODS order): n, seeds, accuracy mean/std(ddof=1)/min/max, mean training loss
    over the first `first` and last `last` steps (mean over seeds, and its std over seeds)."""
    out, sd = [], recorded_results.std
    for init, rs in recorded_results.groups(runs, "init", INIT_METHODS):
        acc = np.array([r["accuracy"] for r in rs])
        head = np.array([np.mean(r["losses"][:first]) for r in rs])
        tail = np.array([np.mean(r["losses"][-last:]) for r in rs])
        out.append({"init": init, "n": len(rs), "seeds": [r["seed"] for r in rs],
                    "acc_mean": float(acc.mean()), "acc_std": sd(acc), "acc_min": float(acc.min()),
                    "acc_max": float(acc.max()), "loss_first_mean": float(head.mean()),
                    "loss_first_std": sd(head), "loss_last_mean": float(tail.mean()),
                    "loss_last_std": sd(tail),
                    "step0_max_logit_change": float(max(r["step0_max_logit_change"] for r in rs))})
    return out


def update_summary(runs, keys=("effective_rank", "energy_rank_90", "w0_subspace_energy",
                                 "random_baseline", "amplification", "delta_norm")):
    """Per init: each update quantity averaged over the 36 matrices, then mean and std over seeds
    (from the compact per-matrix reports the runs carry). [{init, n, r, key: (mean, std), ...}]"""
    out = []
    for init, rs in recorded_results.groups(runs, "init", INIT_METHODS):
        row = {"init": init, "n": len(rs), "r": next(iter(rs[0]["report"].values()))["r"]}
        for key in keys:
            per_seed = np.array([np.mean([e[key] for e in r["report"].values()]) for r in rs])
            row[key] = (float(per_seed.mean()), recorded_results.std(per_seed))
        out.append(row)
    return out


def save_init_results(path, runs, meta):
    """Write the runs (without models) and a `meta` dict as JSON."""
    recorded_results.save_runs(path, [{k: v for k, v in r.items()
                                       if k not in ("model", "adapters", "full_report")} for r in runs], meta)


def load_init_results(path=None):
    """(meta, runs) recorded by `benchmarks/init_comparison.py`; default: the recorded one shipped
    in `adalora_lite.results`."""
    return recorded_results.load_runs(RESULTS_FILE, path,
                                      how=".venv/bin/python benchmarks/init_comparison.py")
