"""Record notebook 07's measurement of the two allocator orders on MiniLM (minutes on a CPU).

Two AdaLoRA runs of notebook 07's live configuration (960 tweets, 60 steps, rank 6 -> 4 on 36
matrices, lr 1e-2, seed 0) that differ only in where the allocator runs: the paper's Algorithm 1
(scores before optimizer.step()) and the authors' code / PEFT (after it). Writes
adalora_lite/results/loop_orders.json.

    .venv/bin/python benchmarks/loop_orders.py [--threads 1]
"""
import argparse
from dataclasses import asdict

import torch

from adalora_lite import recording, results
from adalora_lite.allocator import ORDERS
from adalora_lite.data import load_tweets
from adalora_lite.labs.finetune import FinetuneConfig
from adalora_lite.labs.loop_orders import LOOP_ORDERS_FILE, compare_loop_orders


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = FinetuneConfig(method="adalora", r=4, init_r=6, epochs=1, batch_size=16, lr=1e-2,
                            mask_interval=3, seed=0)
    result = compare_loop_orders(config, load_tweets(n_train=960))
    path = results.path(LOOP_ORDERS_FILE)
    recording.save(path, {"result": result}, command=f"python benchmarks/loop_orders.py --threads {args.threads}",
                   meta={"config": asdict(config), "n_train": 960})
    print(f"wrote {path}")
    for order in ORDERS:
        print(order, result[order]["accuracy"], result[order]["total_rank"])
    print("same kept", result["same_kept"], "same rank", result["same_rank"])


if __name__ == "__main__":
    main()
