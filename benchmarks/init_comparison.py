"""Standard vs data-aware LoRA initialization on MiniLM + tweets, several seeds, equal budget.

    .venv/bin/python benchmarks/init_comparison.py                      # defaults below
    .venv/bin/python benchmarks/init_comparison.py --seeds 0 1 2 --steps 40

For every seed and every init in adalora_lite.labs.analysis.INIT_METHODS ("standard", "pissa",
"covariance"): `adalora_lite.labs.analysis.run_init` (LoRA rank r on the 36 matrices + head,
AdamW at a constant lr, the same batches for every init of a seed), then held-out accuracy on the
tweet test set. Writes adalora_lite/results/init_comparison.json (package data) (raw loss curves, accuracies,
step-0 function change, per-matrix update analysis, the stamp (machine, date, command) and load), which notebook 08
displays. CPU, a few minutes per run on a shared 2-core machine.
"""
import argparse
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from adalora_lite import results  # noqa: E402
from adalora_lite.data import load_tweets  # noqa: E402
from adalora_lite.labs.analysis import (INIT_METHODS, RESULTS_FILE, InitRunConfig,  # noqa: E402
                                        run_init, save_init_results, summarize_runs)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--inits", nargs="+", default=list(INIT_METHODS), choices=INIT_METHODS)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-length", type=int, default=48)
    ap.add_argument("--r", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--n-train", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", default=str(results.path(RESULTS_FILE)))
    ap.add_argument("--append", action="store_true",
                    help="add these seeds' runs to the existing file (its settings must match)")
    args = ap.parse_args()

    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    split = load_tweets(n_train=args.n_train, seed=0)
    # machine, date and command: the stamp results.save_runs (recording.save) writes on every save
    meta = {"threads_note": "each run_init limits torch and BLAS to one thread (adalora_lite.labs.common)",
            "command": "python benchmarks/init_comparison.py " + " ".join(sys.argv[1:]),
            "load_start": os.getloadavg()[0], "split": repr(split), "n_test": len(split.test_texts),
            "args": vars(args)}
    runs, t0 = [], time.perf_counter()
    if args.append:
        from adalora_lite.labs.analysis import load_init_results
        old_meta, runs = load_init_results(args.out)
        keys = ("steps", "batch_size", "max_length", "r", "lr", "n_train")
        if any(old_meta["args"][k] != vars(args)[k] for k in keys):
            raise SystemExit(f"--append: settings differ from the file's {[old_meta['args'][k] for k in keys]}")
        if {r["seed"] for r in runs} & set(args.seeds):
            raise SystemExit("--append: some of these seeds are already in the file")
        # the file's stamp is its latest write: keep the earlier writes' stamps beside it
        earlier = {k: old_meta[k] for k in ("date", "command", "machine", "load_start")}
        meta = {**old_meta, "command": meta["command"], "load_start": meta["load_start"],
                "earlier_writes": old_meta.get("earlier_writes", []) + [earlier]}
        meta["args"]["seeds"] = sorted({r["seed"] for r in runs} | set(args.seeds))
    for seed in args.seeds:
        for init in args.inits:
            cfg = InitRunConfig(steps=args.steps, batch_size=args.batch_size, max_length=args.max_length,
                                r=args.r, lr=args.lr, seed=seed)
            run = run_init(init, split, cfg, progress=False)
            runs.append(run)
            print(f"seed {seed} {init:>10}: acc {run['accuracy']:.4f}  loss first10 "
                  f"{sum(run['losses'][:10]) / 10:.4f} last10 {sum(run['losses'][-10:]) / 10:.4f}  "
                  f"step0 change {run['step0_max_logit_change']:.2e}  {run['wall_s']:.0f} s", flush=True)
            meta.update(load_end=os.getloadavg()[0], total_wall_s=time.perf_counter() - t0)
            save_init_results(args.out, runs, meta)  # after every run: a partial file survives a cut
    for row in summarize_runs(runs):
        print(row)


if __name__ == "__main__":
    main()
