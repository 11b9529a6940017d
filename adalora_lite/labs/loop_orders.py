"""Where the allocator runs: the paper's order against the authors' code's and PEFT's, measured.

The paper's Algorithm 1 scores the triplets before the optimizer step (lines 4-6) and masks the
updated lambdas with those scores (line 8); the authors' code and PEFT score and mask after the
step. `RankAllocator(order=...)` runs either (its two moments, adalora_lite.allocator); here both
orders train the same seed on the same batches, and we count what differs (ours):

    loop_orders_planted(seeds)        notebook 06's planted-rank task (NumPy, SGD): seconds
    compare_loop_orders(config, split)  MiniLM on the tweets: minutes, recorded by
                                      `benchmarks/loop_orders.py` into results/loop_orders.json
    load_loop_orders()                that recording: (meta, result)
"""
from dataclasses import replace

import numpy as np

from .. import results as recorded_results
from ..allocator import ORDERS, RankAllocator
from ..errors import ConfigError
from ..recording import Recorder
from ..reference import train_step as reference_step
from .finetune import build_model, finetune
from .planted import PLANTED_SCHEDULE, allocation_error, make_planted_task, mse, planted_model

LOOP_ORDERS_FILE = "loop_orders.json"  # in adalora_lite/results/ (package data)


def loop_orders_planted(seeds=(0, 1, 2), *, init_r=8, total_steps=PLANTED_SCHEDULE["total_steps"],
                        warmup_steps=PLANTED_SCHEDULE["warmup_steps"],
                        final_steps=PLANTED_SCHEDULE["final_steps"], lr=0.2, gamma=0.1):
    """AdaLoRA on notebook 06's planted-rank task (NumPy, SGD) in both orders, same seed each.

    Per seed: {"seed", "paper", "peft"} where each order holds "ranks" (a list per layer),
    "mask" (a flat bool list, every triplet), "revived" (how many times a triplet masked
    after one step was kept after the next), "relative_loss" (test loss / frozen loss) and
    "allocation_error" (triplets in the wrong layer against the planted ranks); plus "same_kept",
    the fraction of the budget kept by both orders (1.0: the same triplets survive).
    """
    out = []
    for seed in seeds:
        task = make_planted_task(seed=seed)
        budget = sum(task.planted_ranks)
        row = {"seed": int(seed)}
        for order in ORDERS:
            model = planted_model(task, adapter="svd", r=init_r, seed=seed)
            alloc = RankAllocator(model.layers, target_budget=budget, total_steps=total_steps,
                                  warmup_steps=warmup_steps, final_steps=final_steps, order=order)
            recorder = Recorder(model.layers, alloc)
            recorder.record(0)
            for step, idx in enumerate(task.batches(total_steps, 64, seed=seed + 1000), start=1):
                recorder.record(step, reference_step(model, task.X_train[idx], task.Y_train[idx], lr=lr,
                                                     gamma=gamma, loss_fn=mse, allocator=alloc, step=step))
            masks = recorder.recording().masks
            ranks = [int(r) for r in alloc.ranks().values()]
            row[order] = {"ranks": ranks, "revived": int((~masks[:-1] & masks[1:]).sum()),  # masked, then kept
                          "mask": masks[-1].tolist(),
                          "relative_loss": task.loss(model) / task.start_loss(),
                          "allocation_error": allocation_error(ranks, task.planted_ranks)}
        both = np.logical_and(row["paper"]["mask"], row["peft"]["mask"]).sum()
        row["same_kept"] = float(both / budget)
        out.append(row)
    return out


def compare_loop_orders(config, split, *, progress=True):
    """Two MiniLM AdaLoRA runs that differ only in `order` (same seed, data, batches).

    Returns {"paper": FinetuneResult.summary() + ranks, "peft": ..., "same_kept": the fraction of
    the final budget kept by both (the same triplet of the same matrix), "same_rank": the number
    of matrices with the same final rank}. Minutes on a CPU: `benchmarks/loop_orders.py` records it
    into adalora_lite/results/loop_orders.json, which `load_loop_orders()` reads."""
    if config.method != "adalora":
        raise ConfigError("compare_loop_orders compares AdaLoRA runs: method must be 'adalora'")
    out, masks = {}, {}
    for order in ORDERS:
        parts = build_model(replace(config, order=order), len(split.train_texts))
        res = finetune(replace(config, order=order), split, progress=progress, model_parts=parts)
        masks[order] = np.concatenate([a.mask.numpy() for a in parts[2].values()])
        out[order] = {**res.summary(), "ranks": res.ranks}
    budget = config.r * len(out["peft"]["ranks"])
    out["same_kept"] = float(np.logical_and(masks["paper"], masks["peft"]).sum() / budget)
    out["same_rank"] = int(sum(out["paper"]["ranks"][n] == r for n, r in out["peft"]["ranks"].items()))
    return out


def load_loop_orders(path=None):
    """The recorded `compare_loop_orders` run: (meta, result)."""
    data = recorded_results.read(LOOP_ORDERS_FILE, path,
                                 how=".venv/bin/python benchmarks/loop_orders.py")
    return data["meta"], data["result"]

