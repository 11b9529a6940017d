"""Notebook 08, beyond AdaLoRA: short LoRA fine-tuning runs of MiniLM on the tweets, one per
data-aware initialization, and what each run's adapters learned; the experiment behind
`benchmarks/init_comparison.py`. The inits: data_aware_init.py; the reading of an update:
learned_update.py.

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
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from .. import results as recorded_results
from ..data import MINILM_TARGETS, load_minilm
from ..errors import ConfigError
from ..nn import add_adapters
from .common import progress as progress_bar
from .common import single_thread
from .data_aware_init import INIT_METHODS, apply_init, collect_input_covariances
from .finetune import batch_order, collate, encode, evaluate
from .learned_update import compact, snapshot, update_report

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
    for idx in progress_bar(order, progress, f"{init} (seed {config.seed})"):
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
