"""Notebook 07's comparison: linear probe, LoRA and AdaLoRA on MiniLM and the tweets, over seeds.

    .venv/bin/python benchmarks/accuracy.py [--seeds 0 1 2] [--threads 1]

`adalora_lite.labs.finetune.finetune` for the linear probe, LoRA (r = 4 on 36 matrices: total
rank 144) and AdaLoRA (init r = 6, budget 144), `--epochs` of batch 32 on `--n-train` training
tweets, tested on the same held-out tweets. First a learning-rate sweep (`--lrs`) for LoRA and
AdaLoRA on the first seed, each method's rate chosen by its mean *training* loss over the last
epoch (the test set is never used to choose); then every seed at the chosen rates. Writes the
package data adalora_lite/results/minilm_tweets.json, which notebook 07 displays (so re-run its
nbval afterwards). CPU only; about 35 minutes on a quiet 2-core machine.
"""
import sys

import numpy as np

import timing

NAME = "accuracy"


def add_arguments(parser):
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="accuracy: training seeds")
    parser.add_argument("--n-train", type=int, default=2000, help="accuracy: training tweets")
    parser.add_argument("--epochs", type=float, default=2.0, help="accuracy: epochs")
    parser.add_argument("--lrs", type=float, nargs="+", default=[1e-3, 3e-3, 1e-2],
                        help="accuracy: learning rates tried for LoRA and AdaLoRA on the first seed")


def run(args):
    from adalora_lite import results
    from adalora_lite.data.tweets import load_tweets
    from adalora_lite.labs.finetune import FinetuneConfig, finetune
    from adalora_lite.labs.transformer import COMPARISON_FILE, save_results

    split = load_tweets(n_train=args.n_train, seed=0)
    meta = timing.start(NAME, split=repr(split), split_info=split.info, n_train=args.n_train,
                        epochs=args.epochs, seeds=list(args.seeds), lr_grid=list(args.lrs))

    def train(method, seed, lr=1e-3):
        result = finetune(FinetuneConfig(method=method, seed=seed, lr=lr, epochs=args.epochs), split)
        print(f"  {method} seed {seed} lr {lr:g}: accuracy {result.accuracy:.4f} "
              f"({result.wall_s:.0f} s)", file=sys.stderr, flush=True)
        return result

    per_epoch = max(1, args.n_train // 32)
    sweep, chosen, first = [], {}, {}
    for method in ("lora", "adalora"):
        tried = {lr: train(method, args.seeds[0], lr) for lr in args.lrs}
        for lr, result in tried.items():
            sweep.append({"method": method, "lr": lr, "seed": args.seeds[0], "accuracy": result.accuracy,
                          "train_loss_last_epoch": float(np.mean(result.losses[-per_epoch:]))})
        chosen[method] = min(args.lrs, key=lambda lr: np.mean(tried[lr].losses[-per_epoch:]))
        first[method] = tried[chosen[method]]
    runs = []
    for seed in args.seeds:
        runs.append(train("probe", seed))
        for method in ("lora", "adalora"):
            runs.append(first[method] if seed == args.seeds[0] else train(method, seed, chosen[method]))
    meta.update(lr_sweep=sweep, chosen_lr=chosen, load_average_at_end=timing.load_average(),
                command=timing.command())
    save_results(results.path(COMPARISON_FILE), runs, meta)  # stamped by results.save_runs


if __name__ == "__main__":
    timing.main(sys.modules[__name__])
