"""Record the AdaLoRA run on MiniLM that notebook 07 and classroom mode replay step by step.

One run (2,000 training tweets, 1 epoch of batches of 16: 125 steps, 32 tokens per tweet, rank 6
-> 4 on average over the 36 matrices, lr 1e-2, masking every 5 steps, seed 0; one to two minutes on
a CPU). Per step it keeps what the replay shows: the budget b(t), the mask of every triplet, the
lambdas (4 significant digits) and the training loss (`labs.replay.record_rank_replay`).
Writes adalora_lite/results/minilm_replay.json.

    .venv/bin/python benchmarks/minilm_replay.py [--threads 1]
"""
import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

N_TRAIN = 2000


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import torch

    from adalora_lite import results
    from adalora_lite.data import load_tweets
    from adalora_lite.labs.finetune import FinetuneConfig
    from adalora_lite.labs.minilm_matrices import allocation_summary
    from adalora_lite.labs.replay import REPLAY_FILE, record_rank_replay, save_rank_replay

    torch.set_num_threads(args.threads)
    config = FinetuneConfig(method="adalora", r=4, init_r=6, batch_size=16, max_length=32,
                            epochs=1.0, lr=1e-2, mask_interval=5, seed=0)
    start = time.perf_counter()
    replay = record_rank_replay(config, load_tweets(n_train=N_TRAIN))
    wall_s = round(time.perf_counter() - start, 1)
    path = results.path(REPLAY_FILE)
    save_rank_replay(path, replay, command=f"python benchmarks/minilm_replay.py --threads {args.threads}",
                     meta={"n_train": N_TRAIN, "wall_s": wall_s})
    summary = allocation_summary(replay.ranks(replay.n_steps))
    print(f"wrote {path} ({path.stat().st_size / 1e3:.0f} kB): {replay.n_steps} steps, "
          f"accuracy {100 * replay.accuracy:.1f}%, {wall_s} s")
    print("mean final rank per module:", {k: round(v, 2) for k, v in summary["per_module"].items()})
    print("mean final rank per layer:", {k: round(v, 2) for k, v in summary["per_layer"].items()})


if __name__ == "__main__":
    main()
