"""Notebook 07: MiniLM on the tweets: the linear probe, LoRA and AdaLoRA compared, and why AdaLoRA
starts slowly. The notebook's one import (`from adalora_lite.labs import transformer as ft`).

What the notebook measures here (ours):

    load_results(), summarize(runs)   the recorded comparison (results/minilm_tweets.json, written
                                      by `benchmarks/run.py --only accuracy` through save_results)
    update_growth(config, split)      how far the adapters move in their first steps

and what it calls from the modules of one idea each (the names below are imported for it):

    labs.finetune         FinetuneConfig, build_model, train_step, finetune: the one training loop
    labs.minilm_matrices  placements of the 36 matrices; rank_grid, mean_ranks, allocation_summary
    labs.loop_orders      the paper's vs PEFT's allocator order, measured
    labs.replay           the recorded run replayed step by step
"""
from dataclasses import asdict

import numpy as np

from .. import results as recorded_results
from ..allocator import ORDERS
from ..errors import ConfigError
from .finetune import (METHODS, FinetuneConfig, batch_order, build_model, collate, encode, finetune,
                       train_step)
from .loop_orders import load_loop_orders, loop_orders_planted
from .minilm_matrices import allocation_summary, mean_ranks
from .replay import load_rank_replay

# The names notebook 07 calls as ft.<name> (classroom mode: load_rank_replay).
__all__ = ["COMPARISON_FILE", "ORDERS", "FinetuneConfig", "allocation_summary", "build_model", "collate",
           "encode", "finetune", "load_loop_orders", "load_rank_replay", "load_results",
           "loop_orders_planted", "mean_ranks", "save_results", "summarize", "train_step", "update_growth"]

COMPARISON_FILE = "minilm_tweets.json"  # in adalora_lite/results/ (package data)


def save_results(path, results, meta):
    """Write FinetuneResults (or their dicts) with `meta` through `results.save_runs` (one stamp:
    machine, date, and meta["command"]); returns the meta written."""
    return recorded_results.save_runs(path, [r if isinstance(r, dict) else asdict(r) for r in results], meta)


def load_results(path=None):
    """(meta, runs) of a comparison saved by `save_results`; default: the recorded one shipped in
    `adalora_lite.results`, which the benchmark command `python benchmarks/run.py --only accuracy`
    writes."""
    return recorded_results.load_runs(COMPARISON_FILE, path,
                                      how=".venv/bin/python benchmarks/run.py --only accuracy")


def summarize(runs):
    """Per method, in METHODS order: seeds, mean/std/min/max accuracy, parameters, rank, time."""
    out = []
    for method, rs in recorded_results.groups(runs, "method", METHODS):
        acc = np.array([r["accuracy"] for r in rs])
        out.append({"method": method, "seeds": [r["seed"] for r in rs], "n": len(rs),
                    "mean": float(acc.mean()), "std": recorded_results.std(acc),
                    "min": float(acc.min()), "max": float(acc.max()),
                    "trained_parameters": rs[0]["trained_parameters"],
                    "final_adapter_parameters": float(np.mean([r["final_adapter_parameters"] for r in rs])),
                    "total_rank": rs[0]["total_rank"], "steps": rs[0]["steps"],
                    "wall_s": float(np.median([r["wall_s"] for r in rs]))})
    return out


def update_growth(config, split, steps=10):
    """How far the adapters move in the first `steps` training steps: the mean over the adapted
    matrices of ||Delta W||_F after each step (a list). Same loop as `finetune`, without masking.

    Why AdaLoRA starts slowly at the same learning rate. Adam moves every parameter by about the
    learning rate per step, whatever the size of its gradient, so what sets the early growth of
    Delta W is how many numbers move and what they are multiplied by, not the gradient's size:

    LoRA     Delta W = s B A: all d_out x r entries of B move by about lr, each multiplied by a row
             of A (Kaiming-uniform, row norm about sqrt(1/3)): ||Delta W||_F ~ s lr sqrt(d_out r / 3)
             after step 1 (0.045 for a 384 x 384 matrix at r = 4, s = 2).
    AdaLoRA  Delta W = s P diag(lam) Q with lam = 0 at the start: Delta W is linear in the r values
             of lam, each moving by about lr, each multiplied by ||P_i|| ||Q_i|| (1 for our orthonormal
             P, Q; about 0.02^2 sqrt(d_out d_in) = 0.15 for PEFT's and the authors' N(0, 0.02^2) at
             384 x 384): ||Delta W||_F ~ s lr sqrt(r) ||P_i|| ||Q_i|| (0.0049 at r = 6, s = 2).
             P and Q move too once lam is not 0, but their change enters Delta W multiplied by lam.
    """
    import torch

    if config.method == "probe":
        raise ConfigError("update_growth needs adapters: method 'lora' or 'adalora'")
    model, tokenizer, adapters, _ = build_model(config, len(split.train_texts))
    ids = encode(tokenizer, split.train_texts, config.max_length)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.lr,
                                  weight_decay=config.weight_decay)
    labels = torch.as_tensor(split.train_labels)
    norms = []
    model.train()
    for step, idx in enumerate(batch_order(len(ids), config.batch_size, steps,
                                           np.random.default_rng(config.seed)), start=1):
        train_step(model, collate([ids[i] for i in idx]), labels[idx], optimizer, step=step)
        with torch.no_grad():
            norms.append(float(np.mean([a.delta_weight().norm().item() for a in adapters.values()])))
    return norms
