"""Record notebook 07's measurement of the two allocator orders on MiniLM (minutes on a CPU).

Two AdaLoRA runs of notebook 07's live configuration (960 tweets, 60 steps, rank 6 -> 4 on 36
matrices, lr 1e-2, seed 0) that differ only in where the allocator runs: the paper's Algorithm 1
(scores before optimizer.step()) and the authors' code / PEFT (after it). Writes
adalora_lite/results/loop_orders.json.

    .venv/bin/python benchmarks/loop_orders.py [--threads 1]
"""
import argparse
import datetime
import json
import platform

import torch

from adalora_lite import results
from adalora_lite.data import load_tweets
from adalora_lite.labs import transformer as ft


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = ft.FinetuneConfig(method="adalora", r=4, init_r=6, epochs=1, batch_size=16, lr=1e-2,
                               mask_interval=3, seed=0)
    result = ft.compare_loop_orders(config, load_tweets(n_train=960))
    meta = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "command": f"python benchmarks/loop_orders.py --threads {args.threads}",
            "machine": {"cpu": platform.processor() or platform.machine(), "torch": torch.__version__},
            "config": {k: v for k, v in vars(config).items()}, "n_train": 960}
    path = results.path("loop_orders.json")
    path.write_text(json.dumps({"meta": meta, "result": result}, indent=1) + "\n")
    print(f"wrote {path}")
    for order in ft.ORDERS:
        print(order, result[order]["accuracy"], result[order]["total_rank"])
    print("same kept", result["same_kept"], "same rank", result["same_rank"])


if __name__ == "__main__":
    main()
