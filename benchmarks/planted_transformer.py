"""Record notebook 10: AdaLoRA against uniform LoRA and its controls on a planted-update MiniLM.

    .venv/bin/python benchmarks/planted_transformer.py --resume --workers 1
    .venv/bin/python benchmarks/planted_transformer.py --seeds 5 --steps 150
    .venv/bin/python benchmarks/planted_transformer.py --spectra-only     # only the full fine-tunes

Writes adalora_lite/results/planted_transformer.json (package data, read by notebook 10):
{"meta", "runs"}, every run with its design, arm, budget, seed, held-out loss (MSE to the teacher)
and its frozen start, final ranks, allocation precision/recall, a training loss every 5 steps.
The file is rewritten after every run, so an interrupted recording keeps its runs; `--resume`
skips the runs already there. The runs go in `labs.planted_transformer.plan()` order: the
lowest budget's goal comparisons first, so that a partial recording already answers them.

After the first block (the lowest budget), unless already recorded, it fully fine-tunes MiniLM on
both tweet tasks and writes the spectra of the updates to
adalora_lite/results/tweet_update_spectra.json (a few minutes).

The design is in the docstring of adalora_lite/labs/planted_transformer.py. One torch thread per
worker process; about 30 s a run on one core (AMD EPYC, 150 steps).
"""
import argparse
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

OUT = "planted_transformer.json"
SPECTRA = "tweet_update_spectra.json"
TASKS = {"binary": ("negative", "positive"), "three_class": ("negative", "neutral", "positive")}
_CACHE = {}


def data_for(design, seed, steps):
    """The cached layer-3 inputs (once per process) and the teacher of (design, seed)."""
    from adalora_lite.labs import planted_transformer as pt

    if "hidden" not in _CACHE:
        texts = pt.load_texts(n_train=steps * 16)
        _CACHE["texts"] = texts
        _CACHE["hidden"] = tuple(pt.shared_hidden(ids) for ids in texts)
    if (design, seed) not in _CACHE:
        _CACHE[(design, seed)] = pt.make_data(design, seed, _CACHE["texts"], _CACHE["hidden"])
    return _CACHE[(design, seed)]


def one_run(job):
    import torch

    from adalora_lite.labs import planted_transformer as pt

    torch.set_num_threads(1)
    design, arm, budget, seed, steps = job
    run = pt.record_run(design, arm, budget, seed, data_for(design, seed, steps), steps=steps)
    run["losses"] = run["losses"][4::5]  # every 5th step: enough to draw, small to ship
    return run


def update_spectra(classes, *, n_train=2000, steps=125, batch_size=16, max_length=32, lr=5e-5, seed=0,
                   keep=64):
    """Fully fine-tune MiniLM (every weight, a new head) on a tweet task, the miniature's split
    (n_train tweets, split seed 0, 1 epoch at batch 16, 32 tokens), with the course's
    `train_step`; then per adapted matrix the singular values of its update W_after - W_before.
    Returns {"accuracy", "steps", "matrices": {name: {"energy": ||dW||_F^2, "r90": rank holding
    90 % of it, "singular_values": the top `keep`}}}."""
    import numpy as np
    import torch

    from adalora_lite.data import MINILM_TARGETS, load_minilm
    from adalora_lite.data.tweets import load_tweets
    from adalora_lite.labs.planted_transformer import short_name
    from adalora_lite.labs.rank import energy_rank
    from adalora_lite.labs.finetune import batch_order, collate, encode, evaluate, lr_warmup_decay, train_step

    split = load_tweets(classes=classes, n_train=n_train, seed=0)
    torch.manual_seed(seed)
    model, tokenizer = load_minilm(num_labels=len(classes))
    names = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)
             and any(n.endswith("." + t) for t in MINILM_TARGETS) and ".layer." in n]
    before = {n: model.get_submodule(n).weight.detach().clone() for n in names}
    ids = encode(tokenizer, split.train_texts, max_length)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_warmup_decay(steps))
    labels = torch.as_tensor(split.train_labels)
    model.train()
    for step, idx in enumerate(batch_order(len(ids), batch_size, steps, np.random.default_rng(seed)), 1):
        train_step(model, collate([ids[i] for i in idx]), labels[idx], optimizer, step=step, scheduler=scheduler)
    accuracy = evaluate(model, encode(tokenizer, split.test_texts, max_length), split.test_labels)
    out = {}
    for n in names:
        s = torch.linalg.svdvals(model.get_submodule(n).weight.detach() - before[n]).numpy()
        out[short_name(n)] = {"energy": float((s ** 2).sum()), "r90": energy_rank(s),
                              "singular_values": [float(f"{x:.4g}") for x in s[:keep]]}
    return {"accuracy": accuracy, "steps": steps, "lr": lr, "matrices": out}


def spectra(path, args):
    import torch

    from adalora_lite import recording
    from adalora_lite.labs import planted_transformer as pt

    torch.set_num_threads(1)
    t = time.perf_counter()
    tasks = {task: update_spectra(classes) for task, classes in TASKS.items()}
    planted = {d: pt.planted_spectra(d) for d in pt.DESIGNS}
    meta = {"wall_s": round(time.perf_counter() - t, 1),
            "note": "full fine-tune of every MiniLM weight, AdamW lr 5e-5 with warm-up/decay, 1 epoch of "
                    "the miniature's 2,000 tweets (batch 16, 32 tokens), seed 0; singular values of "
                    "W_after - W_before of the 36 adapted matrices (top 64 kept)"}
    recording.save(path, {"tasks": tasks, "planted": planted}, command=" ".join(["python"] + sys.argv),
                   meta=meta)
    print(f"spectra written ({meta['wall_s']} s)", flush=True)


def main():
    import torch

    from adalora_lite import results
    from adalora_lite.labs import planted_transformer as pt

    torch.set_num_threads(1)  # every run on one thread (the workers too): the stamp records it

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resume", action="store_true", help="keep the runs already recorded")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (1 torch thread each)")
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--spectra-only", action="store_true")
    parser.add_argument("--no-spectra", action="store_true")
    parser.add_argument("--out", default=None, help="write here instead of adalora_lite/results")
    args = parser.parse_args()
    out, spectra_path = results.path(OUT), results.path(SPECTRA)
    if args.out:
        from pathlib import Path

        out = Path(args.out)
    if args.spectra_only:
        return spectra(spectra_path, args)
    full_plan = pt.plan(range(args.seeds))
    runs, meta = [], {}
    if args.resume and out.exists():
        meta, runs = pt.load_recording(out)
        if meta.get("steps") != args.steps:
            sys.exit(f"recorded with {meta.get('steps')} steps, asked for {args.steps}: no resume")
    done = {pt.run_key(r) for r in runs}
    todo = [job for job in full_plan if job not in done]
    first_block = sum(1 for job in full_plan if job[2] == pt.BUDGETS[0])
    # machine and date: the stamp results.save_runs (recording.save) adds on every save
    meta.update({"command": " ".join(["python"] + sys.argv), "steps": args.steps, "batch_size": 16, "seq_len": pt.SEQ_LEN, "lr": 1e-2,
                 "n_train": args.steps * 16, "n_test": 512, "strength": pt.STRENGTH,
                 "matrices": list(pt.MATRICES), "designs": pt.DESIGNS, "budgets": list(pt.BUDGETS),
                 "arms": pt.ARMS, "control_arms": list(pt.CONTROL_ARMS), "seeds": list(range(args.seeds)),
                 "planned": len(full_plan), "resumes": meta.get("resumes", -1) + 1})

    def save():
        order = {job: k for k, job in enumerate(full_plan)}
        runs.sort(key=lambda r: order.get(pt.run_key(r), len(order)))
        meta["done"] = sum(pt.run_key(r) in order for r in runs)
        meta["finished"] = meta["done"] == len(full_plan)
        results.save_runs(out, runs, meta)

    def add(run):
        runs.append(run)
        save()
        print(f"[{len(runs)}/{len(full_plan)}] {run['design']} {run['arm']} b={run['budget']} "
              f"s={run['seed']}: rel loss {run['relative_loss']:.3f} on planted {run['on_planted']:.2f} "
              f"({run['wall_s']} s)", flush=True)

    def maybe_spectra():
        if not args.no_spectra and not spectra_path.exists():
            spectra(spectra_path, args)

    jobs = [job + (args.steps,) for job in todo]
    if args.workers <= 1:
        for k, job in enumerate(jobs):
            if full_plan.index(job[:4]) >= first_block:
                maybe_spectra()
            add(one_run(job))
    else:
        import multiprocessing

        with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
            for run in pool.imap_unordered(one_run, jobs):
                add(run)
    maybe_spectra()
    save()


if __name__ == "__main__":
    main()
